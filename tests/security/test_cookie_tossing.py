"""Finding 6: a Secure session cookie is named with the ``__Host-`` prefix by default, so a
sibling subdomain (which can set ``Domain=.example.com`` cookies, but never a ``__Host-`` one)
cannot plant a session on the victim (cookie tossing / session fixation)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from webtest import TestApp

from middleware.sessions import MemoryStore, SessionMiddleware, get_session

KEY = "k" * 32
HTTPS = {"wsgi.url_scheme": "https", "HTTP_HOST": "app.example.com"}


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session = get_session(environ)
    if environ["PATH_INFO"] == "/login":
        session.regenerate()
        session["user"] = environ["QUERY_STRING"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(session.get("user")).encode()]


def set_cookie_names(res: Any) -> list[str]:
    return [h.split("=", 1)[0] for h in res.headers.getall("Set-Cookie")]


@pytest.mark.parametrize("store", [None, MemoryStore()], ids=["cookie", "memory"])
@pytest.mark.parametrize("secure", [True, None], ids=["secure", "auto-on-https"])
def test_secure_session_cookie_uses_the_host_prefix(store: Any, secure: Any) -> None:
    client = TestApp(SessionMiddleware(app, secret_keys=[KEY], store=store, secure=secure),
                     extra_environ=HTTPS)
    res = client.get("/login?alice")
    assert set_cookie_names(res) == ["__Host-session"]
    header = res.headers["Set-Cookie"]
    assert "Secure" in header and "Path=/" in header and "Domain" not in header


@pytest.mark.parametrize("store", [None, MemoryStore()], ids=["cookie", "memory"])
def test_a_tossed_plain_session_cookie_is_ignored_on_https(store: Any) -> None:
    middleware = SessionMiddleware(app, secret_keys=[KEY], store=store, secure=True)
    # The attacker logs in as himself and copies his own (valid, signed) cookie value...
    attacker = TestApp(middleware, extra_environ=HTTPS)
    res = attacker.get("/login?mallory")
    value = res.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    # ...then plants it from evil.example.com as "session" with Domain=.example.com.
    victim = TestApp(middleware, extra_environ=HTTPS)
    page = victim.get("/", headers={"Cookie": f"session={value}"})
    assert page.text == "None"


def test_plain_http_keeps_the_plain_name() -> None:
    client = TestApp(SessionMiddleware(app, secret_keys=[KEY]))
    assert set_cookie_names(client.get("/login?alice")) == ["session"]


def test_explicit_name_or_domain_is_respected() -> None:
    named = TestApp(SessionMiddleware(app, secret_keys=[KEY], secure=True, cookie_name="sid"),
                    extra_environ=HTTPS)
    assert set_cookie_names(named.get("/login?a")) == ["sid"]
    # __Host- forbids Domain, so a shared-domain session keeps the plain name.
    shared = TestApp(SessionMiddleware(app, secret_keys=[KEY], secure=True,
                                       domain="example.com"), extra_environ=HTTPS)
    assert set_cookie_names(shared.get("/login?a")) == ["session"]


def test_session_demo_over_https_reads_its_host_prefixed_cookie() -> None:
    from sample_apps.session_demo import make_app

    demo = TestApp(make_app([KEY]), extra_environ=HTTPS)
    demo.get("/")
    page = demo.get("/")
    assert page.html.find(id="count").text == "2"
    assert page.html.find(id="signed-by").text == "newest"
    assert "__Host-session" in demo.cookies
