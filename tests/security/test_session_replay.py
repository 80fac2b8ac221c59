"""Finding 3: a copied session cookie must not outlive logout for ever.

With the cookie store a logout only clears the browser's copy; a copied cookie stayed valid for
``max_age`` and, re-signed on every visit, slid forward for ever. Now: an absolute lifetime
(the issue time travels in the payload and survives re-signing) and a per-user revocation
counter the app bumps on logout or password change. The login sample uses a server-side
store, where logout deletes the session itself."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pytest
from webtest import TestApp

from middleware.sessions import (
    MemoryRevocations,
    MemoryStore,
    RedisRevocations,
    SessionMiddleware,
    get_session,
)

KEY = "k" * 32


class Clock:
    """``time.time`` moved forward on demand (the signer and the sessions read the same one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)


def make(revocations: Any = None, store: Any = None, **options: Any) -> SessionMiddleware:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        session = get_session(environ)
        path = environ["PATH_INFO"]
        if path == "/login":
            session.regenerate()
            session["user"] = "alice"
            if revocations is not None:
                session.set_user("alice")
        elif path == "/logout":
            if revocations is not None and session.get("user"):
                revocations.revoke(session["user"])  # every copy of every alice session dies
            session.clear()
        elif path == "/visit":
            session["visits"] = session.get("visits", 0) + 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{session.get('user')}|{session.problem}".encode()]

    return SessionMiddleware(app, secret_keys=[KEY], store=store, revocations=revocations,
                             **options)


def cookie(res: Any) -> str:
    return str(res.headers["Set-Cookie"].split(";", 1)[0])


def check_revocation(revocations: Any) -> None:
    browser = TestApp(make(revocations))
    copied = cookie(browser.get("/login"))  # the thief copies the cookie
    assert TestApp(browser.app).get("/", headers={"Cookie": copied}).text.startswith("alice|")
    browser.get("/logout")
    replay = TestApp(browser.app).get("/", headers={"Cookie": copied})
    assert replay.text.startswith("None|") and "revoked" in replay.text
    # A later login gets a fresh generation and works.
    fresh = cookie(browser.get("/login"))
    assert TestApp(browser.app).get("/", headers={"Cookie": fresh}).text.startswith("alice|")


def test_copied_cookie_is_dead_after_logout_with_revocation() -> None:
    check_revocation(MemoryRevocations())


@pytest.mark.e2e
def test_revocation_counters_in_redis_are_shared(redis_url: str) -> None:
    import redis

    check_revocation(RedisRevocations(redis.Redis.from_url(redis_url, socket_timeout=2)))


def test_absolute_lifetime_survives_re_signing(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    app = make(max_age=3600, absolute_max_age=600)
    browser = TestApp(app)
    value = cookie(browser.get("/login"))
    for _ in range(5):  # active every 100 s: each visit re-signs the cookie
        clock.offset += 100
        value = cookie(browser.get("/visit", headers={"Cookie": value}))
        assert browser.get("/", headers={"Cookie": value}).text.startswith("alice|")
    clock.offset += 150  # 650 s after login: past the absolute lifetime, though just re-signed
    res = TestApp(app).get("/", headers={"Cookie": value})
    assert res.text.startswith("None|") and "absolute lifetime" in res.text


def test_absolute_lifetime_applies_to_server_side_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    store = MemoryStore()
    app = make(store=store, absolute_max_age=600)
    value = cookie(TestApp(app).get("/login"))
    clock.offset += 601
    res = TestApp(app).get("/", headers={"Cookie": value})
    assert res.text.startswith("None|") and "absolute lifetime" in res.text
    assert len(store) == 0  # and the expired entry is gone


def test_session_data_cannot_forge_the_metadata() -> None:
    browser = TestApp(make())
    with pytest.raises(KeyError, match="reserved"):
        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            get_session(environ)["_wsgikit"] = {"iat": 0}
            return []
        TestApp(SessionMiddleware(app, secret_keys=[KEY])).get("/")
    assert browser.get("/").text == "None|None"


def test_session_demo_uses_a_server_side_store_and_logout_kills_copies() -> None:
    from sample_apps.session_demo import make_app

    demo = TestApp(make_app([KEY]))
    form = demo.get("/").forms["login"]
    form["username"] = "alice"
    page = form.submit().follow()
    copied = f"session={demo.cookies['session']}"
    assert len(copied) < 120  # a signed id, not the session itself
    page.forms["logout"].submit()
    replay = TestApp(demo.app).get("/", headers={"Cookie": copied})
    assert "Not logged in." in replay.text
