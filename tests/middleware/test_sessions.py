"""SessionMiddleware with the signed-cookie and in-memory stores, through WebTest."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from typing import Any, Optional

import itsdangerous
import pytest
from webtest import TestApp

from middleware.sessions import (
    MemoryStore,
    Session,
    SessionMiddleware,
    SessionTooLarge,
    get_session,
)
from middleware.signing import Signer

KEY = "k" * 32
OLD_KEY = "o" * 32
BLOB = secrets.token_urlsafe(4000)


def session_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """/inc counts, /login regenerates, /logout clears, /big stores a lot, / only reads."""
    session = get_session(environ)
    path = environ["PATH_INFO"]
    if path == "/inc":
        session["n"] = session.get("n", 0) + 1
    elif path == "/login":
        session.regenerate()
        session["user"] = "alice"
    elif path == "/logout":
        session.clear()
    elif path == "/big":
        session["blob"] = BLOB  # random, so zlib cannot shrink it
    elif path == "/nested":
        session.setdefault("items", []).append(1)
    body = json.dumps({"data": dict(session), "sid": session.sid, "problem": session.problem})
    body = body.encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def make(store: Optional[MemoryStore] = None, **options: Any) -> TestApp:
    options.setdefault("secret_keys", [KEY])
    return TestApp(SessionMiddleware(session_app, store=store, **options))


def session_cookie(res: Any) -> Optional[str]:
    for header in res.headers.getall("Set-Cookie"):
        if header.startswith("session="):
            return header
    return None


@pytest.fixture(params=["cookie", "memory"])
def store(request: pytest.FixtureRequest) -> Optional[MemoryStore]:
    return None if request.param == "cookie" else MemoryStore()


def test_counter_persists_and_defaults_are_secure(store: Optional[MemoryStore]) -> None:
    app = make(store)
    first = app.get("/inc")
    header = session_cookie(first)
    assert header is not None
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Max-Age=1209600" in header and "Secure" not in header
    assert app.get("/inc").json["data"] == {"n": 2}
    assert app.get("/inc").json["data"] == {"n": 3}


def test_https_sets_secure(store: Optional[MemoryStore]) -> None:
    app = make(store)
    res = app.get("https://localhost/inc", extra_environ={"HTTPS": "on"})
    header = res.headers["Set-Cookie"]
    assert header.startswith("__Host-session=") and "; Secure" in header  # a Secure cookie
    assert session_cookie(res) is None  # gets the __Host- prefix (tests/security covers why)


def test_cookie_only_resent_when_the_session_changed(store: Optional[MemoryStore]) -> None:
    app = make(store)
    assert session_cookie(app.get("/")) is None  # nothing stored, nothing sent
    assert session_cookie(app.get("/inc")) is not None
    assert session_cookie(app.get("/")) is None  # read-only request
    assert app.get("/").json["data"] == {"n": 1}


def test_nested_mutation_needs_modified_flag() -> None:
    app = make()
    assert session_cookie(app.get("/nested")) is not None  # the key was assigned
    assert session_cookie(app.get("/nested")) is None  # an in-place append is not tracked
    assert app.get("/").json["data"] == {"items": [1]}


def test_regenerate_changes_the_session_id_and_drops_the_old_one() -> None:
    store = MemoryStore()
    app = make(store)
    sid_before = app.get("/inc").json["sid"]
    assert sid_before is None  # assigned when saved
    planted = app.get("/inc").json["sid"]
    assert planted is not None and len(store) == 1
    after = app.get("/login")
    new_sid = after.json["sid"]
    assert new_sid is None or new_sid != planted
    follow = app.get("/")
    assert follow.json["data"] == {"n": 2, "user": "alice"}
    assert follow.json["sid"] != planted
    assert store.load(planted) is None  # a fixated id is worthless after login
    assert len(store) == 1


def test_clear_deletes_cookie_and_store_entry(store: Optional[MemoryStore]) -> None:
    app = make(store)
    app.get("/login")
    res = app.get("/logout")
    header = session_cookie(res)
    assert header is not None and "Max-Age=0" in header
    assert app.get("/").json["data"] == {}
    if store is not None:
        assert len(store) == 0
    # Clearing a session nobody had sends nothing.
    assert session_cookie(make(store).get("/logout")) is None


def test_tampered_cookie_is_a_fresh_session(store: Optional[MemoryStore]) -> None:
    app = make(store)
    res = app.get("/login")
    value = (session_cookie(res) or "").split(";")[0].split("=", 1)[1]
    cut = value.rindex(".") + 1  # change the signature's first character
    forged = value[:cut] + ("A" if value[cut] != "A" else "B") + value[cut + 1 :]
    fresh = make(store).get("/", headers={"Cookie": f"session={forged}"})
    assert fresh.json["data"] == {}
    assert fresh.json["problem"] == "session cookie has a bad signature"
    assert make(store).get("/").json["problem"] is None  # no cookie, no problem


def test_forged_payload_is_refused() -> None:
    forged = itsdangerous.URLSafeTimedSerializer("wrong" * 8, salt="wsgikit.session").dumps(
        {"user": "admin"}
    )
    res = make().get("/", headers={"Cookie": f"session={forged}"})
    assert res.json["data"] == {}


def test_junk_duplicate_cannot_shadow_the_real_session() -> None:
    good = Signer([KEY], salt="wsgikit.session").dumps({"user": "alice"})
    res = make().get("/", headers={"Cookie": f"session=junk; session={good}"})
    assert res.json["data"] == {"user": "alice"}


def test_key_rotation_old_sessions_load_and_are_resigned_with_the_new_key() -> None:
    old_cookie = Signer([OLD_KEY], salt="wsgikit.session").dumps({"n": 5})
    app = make(secret_keys=[KEY, OLD_KEY])
    res = app.get("/inc", headers={"Cookie": f"session={old_cookie}"})
    assert res.json["data"] == {"n": 6}
    value = (session_cookie(res) or "").split(";")[0].split("=", 1)[1]
    payload = Signer([KEY], salt="wsgikit.session").loads(value)
    assert payload.pop("_wsgikit")["iat"] > 0  # the issue time travels with the data
    assert payload == {"n": 6}
    with pytest.raises(itsdangerous.BadSignature):
        itsdangerous.URLSafeTimedSerializer(OLD_KEY, salt="wsgikit.session").loads(value)


def test_expired_sessions_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer([KEY], salt="wsgikit.session")
    real = time.time
    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed.time, "time", lambda: real() - 120)
        stale = signer.dumps({"user": "alice"})
    res = make(max_age=60).get("/", headers={"Cookie": f"session={stale}"})
    assert res.json["data"] == {}
    assert res.json["problem"] == "session cookie expired"


def test_unknown_session_id_is_a_fresh_session() -> None:
    store = MemoryStore()
    signed_id = Signer([KEY], salt="wsgikit.session").sign("never-stored")
    res = make(store).get("/", headers={"Cookie": f"session={signed_id}"})
    assert res.json["data"] == {}
    assert "unknown to the store" in res.json["problem"]


def test_memory_store_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    store.save("sid", {"a": 1}, max_age=60)
    assert store.load("sid") == {"a": 1}
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + 61)
    assert store.load("sid") is None


def test_memory_store_is_bounded() -> None:
    store = MemoryStore(max_entries=3)
    for i in range(10):
        store.save(f"s{i}", {"i": i}, max_age=100 + i)
    assert len(store) == 3
    assert store.load("s9") == {"i": 9}
    assert store.load("s0") is None


def test_cookie_store_size_guard_is_a_clear_error() -> None:
    with pytest.raises(SessionTooLarge, match="over the 4096-byte browser limit"):
        make().get("/big")
    # The same data is fine server-side.
    assert make(MemoryStore()).get("/big").json["data"]["blob"] == BLOB


def test_json_only() -> None:
    session = Session()
    with pytest.raises(TypeError, match="JSON"):
        session["when"] = object()
    with pytest.raises(TypeError, match="str"):
        session[1] = "x"  # type: ignore[index]
    assert not session.modified


def test_get_session_without_middleware() -> None:
    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        get_session({})


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({"secret_keys": ["short"]}, ValueError, id="short-key"),
        pytest.param({"max_age": 0}, ValueError, id="max-age"),
        pytest.param({"samesite": "None"}, None, id="samesite-none-ok-with-secure"),
        pytest.param({"cookie_name": "bad name"}, ValueError, id="cookie-name"),
        pytest.param({"cookie_name": "__Host-s", "path": "/app"}, ValueError, id="host-prefix"),
        pytest.param({"store": object()}, TypeError, id="bad-store"),
    ],
)
def test_options_validated_at_construction(options: dict[str, Any], error: Any) -> None:
    options.setdefault("secret_keys", [KEY])
    if error is None:
        SessionMiddleware(session_app, **options)
    else:
        with pytest.raises(error):
            SessionMiddleware(session_app, **options)


def test_close_is_passed_through() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Any:
            return iter([b"ok"])

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    TestApp(SessionMiddleware(app, secret_keys=[KEY])).get("/")
    assert closed == [True]
