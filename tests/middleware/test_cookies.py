"""CookieMiddleware and the Set-Cookie builder, through WebTest (an http.cookiejar client)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Callable

import itsdangerous
import pytest
from webtest import TestApp

from middleware.cookies import (
    CookieMiddleware,
    RequestCookies,
    ResponseCookies,
    build_delete_cookie,
    build_set_cookie,
    request_cookies,
)
from middleware.signing import Signer

KEY = "k" * 32
OLD_KEY = "o" * 32


def app_doing(action: Callable[[dict[str, Any]], None]) -> Any:
    """An app that runs ``action(environ)``, then answers with the cookies it received."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        action(environ)
        cookies: RequestCookies = environ["wsgikit.cookies"]
        body = json.dumps(
            {
                "pairs": cookies.items(),
                "problems": [p.reason for p in cookies.problems],
            }
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


def nothing(environ: dict[str, Any]) -> None:
    return None


# ------------------------------------------------------------------ builder rules


def test_secure_defaults() -> None:
    header = build_set_cookie("sid", "abc", secure=False)
    assert header == "sid=abc; HttpOnly; Path=/; SameSite=Lax"
    assert "; Secure" in build_set_cookie("sid", "abc", secure=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"samesite": "None"}, "SameSite=None needs Secure", id="samesite-none"),
        pytest.param({"partitioned": True}, "Partitioned needs Secure", id="partitioned"),
        pytest.param({"name": "__Secure-id"}, "__Secure- prefix needs Secure", id="secure-pfx"),
        pytest.param({"name": "__Host-id"}, "__Host- prefix", id="host-pfx-insecure"),
        pytest.param(
            {"name": "__Host-id", "secure": True, "path": "/app"}, "__Host- prefix", id="host-path"
        ),
        pytest.param(
            {"name": "__host-id", "secure": True, "domain": "example.com"},
            "__Host- prefix",
            id="host-domain-any-case",
        ),
        pytest.param({"value": "a\r\nSet-Cookie: x=y"}, "control character", id="crlf-value"),
        pytest.param({"value": "a\x00b"}, "control character", id="nul-value"),
        pytest.param({"path": "/a\r\nX: y"}, "control character", id="crlf-path"),
        pytest.param({"path": "/a;Domain=evil"}, "';'", id="semicolon-path"),
        pytest.param({"domain": "x" * 1025}, "1024", id="long-domain"),
        pytest.param({"name": "bad name"}, "not an RFC 6265 token", id="space-name"),
        pytest.param({"name": "a=b"}, "not an RFC 6265 token", id="equals-name"),
        pytest.param({"name": ""}, "not an RFC 6265 token", id="empty-name"),
        pytest.param({"value": "v" * 4094}, "4096 bytes", id="too-big"),
        pytest.param({"value": "é" * 1100}, "4096 bytes", id="too-big-once-escaped"),
        pytest.param({"samesite": "loose"}, "SameSite must be", id="samesite-typo"),
    ],
)
def test_rfc6265bis_violations_raise_clear_value_errors(
    kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"name": "sid", "value": "v", "secure": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_set_cookie(args.pop("name"), args.pop("value"), **args)


def test_allowed_edge_cases() -> None:
    assert "SameSite=None" in build_set_cookie("x", "v", secure=True, samesite="none")
    assert "Partitioned" in build_set_cookie("x", "v", secure=True, partitioned=True)
    assert build_set_cookie("__Host-id", "v", secure=True).startswith("__Host-id=v;")
    assert "SameSite" not in build_set_cookie("x", "v", secure=False, samesite=None)
    assert "HttpOnly" not in build_set_cookie("x", "v", secure=False, httponly=False)
    assert "Max-Age=3600" in build_set_cookie("x", "v", secure=False, max_age=timedelta(hours=1))
    assert len(build_set_cookie("a", "v" * 4095, secure=False)) > 4096  # exactly at the limit
    with pytest.raises(TypeError, match="max_age"):
        build_set_cookie("x", "v", secure=False, max_age="10")  # type: ignore[arg-type]


def test_delete_cookie_expires_it() -> None:
    header = build_delete_cookie("sid", secure=False, path="/app")
    assert header.startswith("sid=;")
    assert "Max-Age=0" in header and "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in header
    assert "Path=/app" in header


# ------------------------------------------------------------------ middleware


def test_request_cookies_and_problems_in_the_environ() -> None:
    app = TestApp(CookieMiddleware(app_doing(nothing)))
    res = app.get("/", headers={"Cookie": "a=1; =shadow; b=2; a=3; c=x\x01y"})
    assert res.json["pairs"] == [["a", "1"], ["b", "2"], ["a", "3"]]
    assert len(res.json["problems"]) == 2


def test_set_cookie_defaults_over_http_and_https() -> None:
    def set_one(environ: dict[str, Any]) -> None:
        environ["wsgikit.response_cookies"].set("pref", "dark", max_age=60)

    plain = TestApp(CookieMiddleware(app_doing(set_one)))
    header = plain.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header and "Max-Age=60" in header
    secure = TestApp(CookieMiddleware(app_doing(set_one)), extra_environ={"HTTPS": "on"})
    res = secure.get("https://localhost/")
    assert "; Secure" in res.headers["Set-Cookie"]


def test_cookie_jar_round_trip_and_delete() -> None:
    def action(environ: dict[str, Any]) -> None:
        out: ResponseCookies = environ["wsgikit.response_cookies"]
        path = environ["PATH_INFO"]
        if path == "/set":
            out.set("flavour", "oatmeal raisin")  # quoted on the wire
            out.set("scoped", "yes", path="/area/")
        elif path == "/delete":
            out.delete("flavour")

    app = TestApp(CookieMiddleware(app_doing(action)))
    app.get("/set")
    assert app.get("/").json["pairs"] == [["flavour", "oatmeal raisin"]]
    assert ["scoped", "yes"] in app.get("/area/page").json["pairs"]
    app.get("/delete")
    assert app.get("/").json["pairs"] == []


def test_secure_cookie_is_not_sent_back_over_http_by_the_jar() -> None:
    def action(environ: dict[str, Any]) -> None:
        if environ["PATH_INFO"] == "/set":
            environ["wsgikit.response_cookies"].set("__Secure-token", "t")

    app = TestApp(CookieMiddleware(app_doing(action)))
    app.get("https://localhost/set", extra_environ={"HTTPS": "on"})
    assert app.get("https://localhost/", extra_environ={"HTTPS": "on"}).json["pairs"] == [
        ["__Secure-token", "t"]
    ]
    assert app.get("http://localhost/").json["pairs"] == []


def test_unsafe_cookie_raises_in_the_app_at_the_line_that_set_it() -> None:
    def action(environ: dict[str, Any]) -> None:
        environ["wsgikit.response_cookies"].set("x", "v", samesite="None")

    app = TestApp(CookieMiddleware(app_doing(action)))
    with pytest.raises(ValueError, match="SameSite=None needs Secure"):
        app.get("/")


def test_set_after_headers_sent_raises() -> None:
    captured: list[ResponseCookies] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        captured.append(environ["wsgikit.response_cookies"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"body"

    TestApp(CookieMiddleware(app)).get("/")
    with pytest.raises(RuntimeError, match="already sent"):
        captured[0].set("late", "1")


def test_last_set_of_the_same_cookie_wins() -> None:
    def action(environ: dict[str, Any]) -> None:
        out = environ["wsgikit.response_cookies"]
        out.set("a", "1")
        out.set("a", "2")
        out.set("a", "3", path="/other")

    res = TestApp(CookieMiddleware(app_doing(action))).get("/")
    assert res.headers.getall("Set-Cookie") == [
        "a=2; HttpOnly; Path=/; SameSite=Lax",
        "a=3; HttpOnly; Path=/other; SameSite=Lax",
    ]


def test_signed_cookies_with_rotation_tamper_and_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    def action(environ: dict[str, Any]) -> None:
        if environ["PATH_INFO"] == "/set":
            environ["wsgikit.response_cookies"].set_signed("user", "alice")
        environ["signed_user"] = environ["wsgikit.cookies"].get_signed("user")

    seen: list[Any] = []

    def outer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        result = middleware(environ, start_response)
        seen.append(environ.get("signed_user"))
        return result

    middleware = CookieMiddleware(app_doing(action), secret_keys=[KEY, OLD_KEY], max_age=60)
    app = TestApp(outer)
    header = app.get("/set").headers["Set-Cookie"]
    assert Signer([KEY], salt="wsgikit.cookies").unsign(header.split(";")[0][5:]) == "alice"
    app.get("/")
    assert seen[-1] == "alice"

    old = Signer([OLD_KEY], salt="wsgikit.cookies").sign("bob")
    app.get("/", headers={"Cookie": f"user={old}"})
    assert seen[-1] == "bob"  # an older key still verifies

    app.reset()
    cut = old.rindex(".") + 1  # change the signature's first character
    forged = old[:cut] + ("A" if old[cut] != "A" else "B") + old[cut + 1 :]
    res = app.get("/", headers={"Cookie": f"user={forged}"})
    assert seen[-1] is None
    assert res.json["problems"] == ["bad signature"]

    expired = CookieMiddleware(app_doing(action), secret_keys=[KEY], max_age=60)
    signer = Signer([KEY], salt="wsgikit.cookies")
    real = time.time
    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed.time, "time", lambda: real() - 120)
        stale = signer.sign("carol")
    res = TestApp(expired).get("/", headers={"Cookie": f"user={stale}"})
    assert res.json["problems"][0].startswith("expired")


def test_problems_logged_when_asked() -> None:
    app = TestApp(CookieMiddleware(app_doing(nothing), log_problems=True))
    res = app.get("/", headers={"Cookie": "=x; ok=1"}, expect_errors=True)
    assert "wsgikit.cookies: GET /: dropped '=x': empty name" in res.errors
    res = app.get(
        "/page", headers={"Cookie": "=x"}, extra_environ={"SCRIPT_NAME": "/mount"},
        expect_errors=True,
    )  # fmt: skip
    assert "wsgikit.cookies: GET /mount/page: dropped '=x': empty name" in res.errors


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

    TestApp(CookieMiddleware(app)).get("/")
    assert closed == [True]


def test_request_cookies_function_without_middleware_caches() -> None:
    environ: dict[str, Any] = {"HTTP_COOKIE": "a=1"}
    first = request_cookies(environ)
    assert first["a"] == "1"
    assert request_cookies(environ) is first


def test_options_validated_at_construction() -> None:
    with pytest.raises(TypeError):
        CookieMiddleware("not an app")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret_keys"):
        CookieMiddleware(app_doing(nothing), max_age=10)
    with pytest.raises(ValueError, match="32"):
        CookieMiddleware(app_doing(nothing), secret_keys=["short"])
