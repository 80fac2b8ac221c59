"""CORSMiddleware: preflight, allow-list, credentials, exposed headers, Vary."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import webtest

from middleware.cors import CORSMiddleware
from wsgikit.validate import validator

ORIGIN = "https://app.example.com"
seen: list[str] = []


def api(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    seen.append(environ["REQUEST_METHOD"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2"),
                              ("Vary", "Accept-Language"), ("X-Total", "3")])
    return [b"ok"]


def client(**options: Any) -> webtest.TestApp:
    options.setdefault("allow_origins", [ORIGIN])
    return webtest.TestApp(validator(CORSMiddleware(api, **options)))


def preflight(app: webtest.TestApp, origin: str = ORIGIN, method: str = "PUT",
              headers: str = "", status: int = 204) -> Any:
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return app.options("/", headers=h, status=status)


def test_simple_request_from_allowed_origin() -> None:
    res = client(expose_headers=["X-Total"]).get("/", headers={"Origin": ORIGIN})
    assert res.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert res.headers["Access-Control-Expose-Headers"] == "X-Total"
    assert res.headers["Vary"] == "Accept-Language, Origin"
    assert "Access-Control-Allow-Credentials" not in res.headers


def test_disallowed_origin_gets_no_cors_headers_but_vary() -> None:
    res = client().get("/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in res.headers
    assert "Origin" in res.headers["Vary"]


def test_origin_match_is_exact() -> None:
    for origin in ("https://app.example.com.evil.net", "http://app.example.com",
                   "https://app.example.com:444", "null"):
        assert "Access-Control-Allow-Origin" not in client().get(
            "/", headers={"Origin": origin}).headers


def test_preflight_allowed() -> None:
    seen.clear()
    res = preflight(client(allow_methods=["GET", "PUT"], allow_headers=["Content-Type",
                                                                        "X-Token"],
                           max_age=60), headers="content-type, x-token")
    assert res.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert res.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert res.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Token"
    assert res.headers["Access-Control-Max-Age"] == "60"
    assert "Origin" in res.headers["Vary"]
    assert seen == []  # the app never sees preflights


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [("https://evil.example", "GET", "", b"origin"), (ORIGIN, "DELETE", "", b"method"),
     (ORIGIN, "GET", "X-Secret", b"header")],
)
def test_preflight_refused_with_reason(origin: str, method: str, headers: str, reason: bytes
                                       ) -> None:
    res = preflight(client(), origin=origin, method=method, headers=headers, status=403)
    assert reason in res.body and "Access-Control-Allow-Origin" not in res.headers


def test_plain_options_reaches_app() -> None:
    seen.clear()
    client().options("/", headers={"Origin": ORIGIN})
    assert seen == ["OPTIONS"]


def test_credentials() -> None:
    res = client(allow_credentials=True).get("/", headers={"Origin": ORIGIN})
    assert res.headers["Access-Control-Allow-Credentials"] == "true"
    assert res.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_wildcard_origin() -> None:
    res = client(allow_origins="*").get("/", headers={"Origin": "https://any.example"})
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    res = preflight(client(allow_origins="*", allow_headers=["*"]), method="POST",
                    headers="X-Anything")
    assert res.headers["Access-Control-Allow-Headers"] == "X-Anything"


@pytest.mark.parametrize(
    ("options", "error"),
    [({"allow_origins": "*", "allow_credentials": True}, ValueError),
     ({"allow_origins": ["https://a.example/"]}, ValueError),
     ({"allow_origins": ["a.example"]}, ValueError),
     ({"allow_origins": "https://a.example"}, TypeError),
     ({"allow_methods": "GET"}, TypeError), ({"allow_headers": ["bad header"]}, ValueError),
     ({"allow_headers": ["*"], "allow_credentials": True}, ValueError),
     ({"max_age": -1}, ValueError), ({"allow_credentials": "yes"}, TypeError)],
)
def test_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CORSMiddleware(api, **options)
