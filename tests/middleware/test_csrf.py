"""CSRFMiddleware: Fetch Metadata, Origin, and the session-bound token fallback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from webtest import TestApp

from middleware.csrf import CSRFMiddleware, csrf_token, rotate_token
from middleware.sessions import SessionMiddleware

KEY = "k" * 32


def inner(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """GET /token gives a token; POST echoes the body it received and how CSRF passed."""
    if environ["PATH_INFO"] == "/token":
        body = csrf_token(environ).encode()
    elif environ["PATH_INFO"] == "/rotate":
        rotate_token(environ)
        body = b"rotated"
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        received = environ["wsgi.input"].read(length)
        body = environ.get("wsgikit.csrf.passed", "").encode() + b"|" + received
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def make(**options: Any) -> TestApp:
    return TestApp(
        SessionMiddleware(CSRFMiddleware(inner, **options), secret_keys=[KEY]),
        extra_environ={"HTTP_HOST": "app.example"},
    )


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_pass(method: str) -> None:
    res = make().request("/x", method=method, headers={"Sec-Fetch-Site": "cross-site"})
    assert res.status_int == 200


@pytest.mark.parametrize(
    ("headers", "passed"),
    [
        pytest.param({"Sec-Fetch-Site": "same-origin"}, "Sec-Fetch-Site: same-origin", id="same"),
        pytest.param({"Sec-Fetch-Site": "none"}, "Sec-Fetch-Site: none", id="user-initiated"),
        pytest.param({"Origin": "http://app.example"}, "Origin", id="origin-matches"),
        pytest.param({"Origin": "http://APP.example:80"}, "Origin", id="origin-default-port"),
        pytest.param(
            {"Sec-Fetch-Site": "same-site", "Origin": "https://admin.example"},
            "trusted Origin",
            id="trusted-sibling",
        ),
    ],
)
def test_browser_same_origin_requests_pass(headers: dict[str, str], passed: str) -> None:
    app = make(trusted_origins=["https://admin.example"])
    res = app.post("/submit", params="a=1", headers=headers)
    assert res.text == f"{passed}|a=1"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        pytest.param(
            {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
            "cross-origin request refused (Sec-Fetch-Site: cross-site",
            id="cross-site",
        ),
        pytest.param(
            {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.app.example"},
            "Sec-Fetch-Site: same-site",
            id="same-site-untrusted",
        ),
        pytest.param(
            {"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site: cross-site", id="cross-no-origin"
        ),
        pytest.param(
            {"Origin": "http://evil.example"}, "'http://evil.example' is not this site", id="origin"
        ),
        pytest.param({"Origin": "https://app.example"}, "is not this site", id="scheme-differs"),
        pytest.param({"Origin": "http://app.example:8080"}, "is not this site", id="port-differs"),
        pytest.param({"Origin": "null"}, "Origin: null", id="null-origin"),
        pytest.param({}, "no CSRF token", id="no-headers-no-token"),
    ],
)
def test_cross_site_requests_get_a_403_saying_why(headers: dict[str, str], why: str) -> None:
    res = make().post("/submit", params="a=1", headers=headers, status=403, expect_errors=True)
    assert res.content_type == "text/plain"
    assert res.text.startswith("403 Forbidden: CSRF check failed: ")
    assert why in res.text
    assert "wsgikit.csrf: 403 for POST /submit" in res.errors


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_unsafe_method_is_checked(method: str) -> None:
    res = make().request(
        "/x", method=method, headers={"Sec-Fetch-Site": "cross-site"}, expect_errors=True
    )
    assert res.status_int == 403


def test_token_fallback_for_clients_without_fetch_metadata() -> None:
    app = make()
    token = app.get("/token").text
    res = app.post("/submit", params={"csrf_token": token, "x": "y"})
    assert res.text.startswith("CSRF token|")
    assert "x=y" in res.text  # the app still reads the whole body
    res = app.post("/submit", params="raw", headers={"X-CSRF-Token": token})
    assert res.text == "CSRF token|raw"


def test_tokens_are_masked_differently_each_time_and_all_verify() -> None:
    app = make()
    first, second = app.get("/token").text, app.get("/token").text
    assert first != second
    for token in (first, second):
        app.post("/submit", params={"csrf_token": token})


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-base64!!", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param("QUFBQQ==", id="wrong"),
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    app = make()
    app.get("/token")
    res = app.post("/submit", params={"csrf_token": token}, status=403, expect_errors=True)
    assert "CSRF token" in res.text


def test_token_from_another_session_is_refused() -> None:
    token = make().get("/token").text
    victim = make()
    victim.get("/token")
    res = victim.post("/submit", params={"csrf_token": token}, status=403, expect_errors=True)
    assert "does not match this session" in res.text


def test_rotation_invalidates_old_tokens() -> None:
    app = make()
    old = app.get("/token").text
    app.get("/rotate")
    res = app.post("/submit", params={"csrf_token": old}, status=403, expect_errors=True)
    assert "does not match" in res.text
    app.post("/submit", params={"csrf_token": app.get("/token").text})


def test_form_token_not_read_past_the_limit() -> None:
    app = make(max_form_bytes=64)
    token = app.get("/token").text
    res = app.post(
        "/submit", params={"csrf_token": token, "pad": "x" * 100}, status=403, expect_errors=True
    )
    assert "no CSRF token" in res.text


def test_without_session_middleware_the_403_says_so() -> None:
    app = TestApp(CSRFMiddleware(inner))
    res = app.post("/submit", params="a=1", status=403, expect_errors=True)
    assert "no session" in res.text


def test_options_validated() -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        CSRFMiddleware(inner, trusted_origins=["admin.example"])
    with pytest.raises(TypeError, match="sequence"):
        CSRFMiddleware(inner, trusted_origins="https://a.example")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CSRFMiddleware(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content_type", "read"),
    [("Application/X-WWW-Form-URLEncoded; charset=UTF-8", True),
     ('application/x-www-form-urlencoded ; charset="utf-8"', True),
     ("multipart/form-data; boundary=x", False), ("text/plain", False)],
)
def test_form_token_read_only_from_urlencoded_bodies(content_type: str, read: bool) -> None:
    """The media type comes from werkzeug's parse_options_header (case-insensitive)."""
    app = make()
    token = app.get("/token").text
    res = app.post("/submit", params=f"csrf_token={token}", content_type=content_type,
                   status=200 if read else 403, expect_errors=not read)
    assert res.text.startswith("CSRF token|") is read
    if not read:
        assert res.headers["Cache-Control"] == "no-store"
