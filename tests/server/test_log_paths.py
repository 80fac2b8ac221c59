"""Log lines name the full path the client asked for (SCRIPT_NAME + PATH_INFO), not PATH_INFO.

Before: a request to ``/nonconformant/`` was logged as ``GET /`` and a refused
``/session_demo/login`` as ``POST /login``, because a mounted app sees only its part in
PATH_INFO. Every such line now goes through ``wsgikit.util.request_path``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pytest
from webtest import TestApp

import sample_apps
from middleware.dispatch import DispatchMiddleware
from middleware.errors import ErrorMiddleware
from tests.support.rawhttp import exchange

pytestmark = pytest.mark.server


def hop_by_hop(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [b"x"]


def raises(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    raise RuntimeError("deliberate")


def short_body(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"short"]


def not_found(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no"]


MOUNTED = DispatchMiddleware(
    not_found, mounts={"/hop": hop_by_hop, "/raise": raises, "/short": short_body}
)


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (b"/hop/page?x=1", "wsgikit: GET /hop/page?x=1: invalid response from the app"),
        (b"/raise/", "wsgikit: GET /raise/: the app raised"),
        (b"/short/deep/er", "wsgikit: GET /short/deep/er: the app sent 5 bytes, less than"),
    ],
)
def test_server_error_log_names_the_mount(
    live_server: Any, caplog: pytest.LogCaptureFixture, target: bytes, logged: str
) -> None:
    srv = live_server(MOUNTED)
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        exchange(srv.host, srv.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(logged) for m in messages), messages


def test_csrf_refusal_names_the_mounted_path() -> None:
    app = TestApp(sample_apps.app, extra_environ={"HTTP_HOST": "demo.example"})
    res = app.post(
        "/session_demo/login",
        {"username": "mallory"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        status=403,
        expect_errors=True,
    )
    assert "wsgikit.csrf: 403 for POST /session_demo/login: " in res.errors


def test_error_middleware_names_the_mounted_path(caplog: pytest.LogCaptureFixture) -> None:
    app = TestApp(DispatchMiddleware(not_found, mounts={"/api": ErrorMiddleware(raises)}))
    with caplog.at_level(logging.ERROR):
        app.get("/api/items?page=2", status=500)
    assert "Exception on GET /api/items?page=2 HTTP/1.0" in caplog.text
