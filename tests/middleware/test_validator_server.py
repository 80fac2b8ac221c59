"""ValidatorMiddleware in front of an app on the real wsgikit server: the server side rules
(environ, wsgi.input, start_response, close) hold for what wsgikit itself hands an app."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from middleware.validator import ValidatorMiddleware

pytestmark = pytest.mark.server

TIMEOUT = 10.0


def echo(environ: Any, start_response: Any) -> Iterator[bytes]:
    """Read the body as PEP 3333 allows: read(CONTENT_LENGTH), or to EOF if terminated."""
    stream = environ["wsgi.input"]
    if environ.get("CONTENT_LENGTH"):
        body = stream.read(int(environ["CONTENT_LENGTH"]))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    out = b"%s %s %d\n" % (
        environ["REQUEST_METHOD"].encode(),
        environ["PATH_INFO"].encode("latin-1"),
        len(body),
    )
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    yield out


def _request(port: int, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _chunked_post(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _settle(checked: ValidatorMiddleware, expected: int) -> None:
    """close() runs after the response is sent: wait (bounded) until every request closed."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and checked.closed < expected:
        time.sleep(0.01)


class _Counting(ValidatorMiddleware):
    closed = 0

    def __call__(self, environ: Any, start_response: Any) -> Any:
        result = super().__call__(environ, start_response)
        inner_close = result.close

        def close() -> None:
            inner_close()
            type(self).closed += 1

        result.close = close
        return result


def test_wsgikit_server_passes_every_server_rule(live_server: Any) -> None:
    _Counting.closed = 0
    checked = _Counting(echo, mode="report")
    srv = live_server(checked)
    assert _request(srv.port, "GET", "/caf%C3%A9?x=1") == (200, b"GET /caf\xc3\xa9 0\n")
    assert _request(srv.port, "HEAD", "/")[0] == 200
    assert _request(srv.port, "POST", "/form", body=b"a=1&b=2") == (200, b"POST /form 7\n")
    assert _request(srv.port, "OPTIONS", "/")[0] == 200
    assert _chunked_post(srv.port).endswith(b"POST /chunked 11\n")
    _settle(checked, 5)
    assert checked.closed == 5
    assert checked.problems() == [], checked.summary()
