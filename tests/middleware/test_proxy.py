"""ProxyHeadersMiddleware through WebTest: trusted vs untrusted peers, environ rewriting."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any
from wsgiref.util import request_uri

import pytest
import webtest

from middleware.proxy import ProxyHeadersMiddleware
from wsgikit.validate import validator

KEYS = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT",
        "SCRIPT_NAME", "HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "wsgikit.proxy.orig")


def show(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    data = {k: environ.get(k) for k in KEYS}
    data["url"] = request_uri(environ)
    body = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def get(peer: str, request_headers: dict[str, str], **options: Any) -> dict[str, Any]:
    options.setdefault("trusted", ["10.0.0.0/8"])
    app = webtest.TestApp(validator(ProxyHeadersMiddleware(show, **options)))
    res = app.get("/path?q=1", headers=request_headers, extra_environ={"REMOTE_ADDR": peer})
    return res.json  # type: ignore[no-any-return]


def test_trusted_proxy_x_forwarded() -> None:
    data = get("10.1.1.1", {"X-Forwarded-For": "1.2.3.4, 198.51.100.2",
                            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example",
                            "X-Forwarded-Prefix": "/shop"},
               headers=["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                        "x-forwarded-prefix"])
    assert data["REMOTE_ADDR"] == "198.51.100.2"
    assert data["url"] == "https://shop.example/shop/path?q=1"
    assert data["wsgikit.proxy.orig"]["REMOTE_ADDR"] == "10.1.1.1"
    assert data["wsgikit.proxy.orig"]["HTTP_HOST"] == "localhost:80"


def test_untrusted_peer_cannot_spoof() -> None:
    data = get("203.0.113.5", {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https",
                               "Forwarded": "for=127.0.0.1;proto=https"})
    assert data["REMOTE_ADDR"] == "203.0.113.5"
    assert data["wsgi.url_scheme"] == "http"
    assert data["HTTP_X_FORWARDED_FOR"] is None and data["HTTP_FORWARDED"] is None
    assert data["wsgikit.proxy.orig"]["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"


def test_rfc7239_forwarded() -> None:
    data = get("10.0.0.2", {"Forwarded": 'for="[2001:db8::7]:4711";proto=https;host=a.example'},
               headers=["forwarded"])
    assert data["REMOTE_ADDR"] == "2001:db8::7"
    assert data["url"] == "https://a.example/path?q=1"


def test_forwarded_not_enabled_is_ignored_even_from_trusted_proxy() -> None:
    data = get("10.0.0.2", {"Forwarded": "for=6.6.6.6", "X-Forwarded-For": "198.51.100.2"})
    assert data["REMOTE_ADDR"] == "198.51.100.2"


def test_hops() -> None:
    headers = {"X-Forwarded-For": "198.51.100.2, 10.5.5.5"}
    assert get("10.0.0.2", headers, hops=2)["REMOTE_ADDR"] == "198.51.100.2"
    assert get("10.0.0.2", headers, hops=1)["REMOTE_ADDR"] == "10.5.5.5"


def test_bad_value_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wsgikit.proxy"):
        data = get("10.0.0.2", {"X-Forwarded-Proto": "gopher"})
    assert data["wsgi.url_scheme"] == "http"
    assert "gopher" in caplog.text and "10.0.0.2" in caplog.text


@pytest.mark.parametrize(
    ("options", "error"),
    [({"trusted": []}, ValueError), ({"trusted": ["nope"]}, ValueError),
     ({"trusted": ["10.0.0.0/8"], "hops": 0}, ValueError),
     ({"trusted": ["10.0.0.0/8"], "headers": ["x-real-ip"]}, ValueError)],
)
def test_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ProxyHeadersMiddleware(show, **options)
    with pytest.raises(TypeError):
        ProxyHeadersMiddleware(None, trusted="10.0.0.0/8")  # type: ignore[arg-type]
