"""wsgikit.simple_server over real loopback sockets: wsgiref's API, wsgikit's safer handling."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from wsgikit.simple_server import (
    HTTP11WSGIServer,
    WSGIRequestHandler,
    WSGIServer,
    demo_app,
    make_server,
)

pytestmark = [pytest.mark.compat, pytest.mark.server]

TIMEOUT = 10.0


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's name
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., Any]]:
    """``serve(app, server_class=..., handler_class=...)`` runs make_server on 127.0.0.1:0.

    With ``handler_class=WSGIRequestHandler`` (and the default server class) that is the
    production HTTP11WSGIServer; otherwise wsgiref's http.server design.
    """
    running: list[tuple[Any, threading.Thread]] = []

    def start(
        app: Any, server_class: type[WSGIServer] = WSGIServer, handler_class: Any = QuietHandler
    ) -> Any:
        server = make_server("127.0.0.1", 0, app, server_class, handler_class)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.shutdown()
        thread.join(TIMEOUT)
        server.server_close()
        assert not thread.is_alive()


def raw(server: WSGIServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes (one request per connection)."""
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def environ_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answer the environ's string values as JSON."""
    body = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def body_of(response: bytes) -> Any:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def test_demo_app_answers_through_http_client(serve: Callable[..., WSGIServer]) -> None:
    server = serve(demo_app)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=TIMEOUT)
    conn.request("GET", "/hello?x=1")
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    assert response.status == 200
    assert response.getheader("Server", "").startswith("WSGIServer/0.2 ")
    assert body.startswith("Hello world!\n")
    assert "PATH_INFO = '/hello'" in body and "QUERY_STRING = 'x=1'" in body


def test_underscore_headers_cannot_spoof_dash_headers(serve: Callable[..., WSGIServer]) -> None:
    server = serve(environ_app)
    response = raw(
        server,
        b"GET / HTTP/1.0\r\nX-Forwarded-For: 10.0.0.1\r\nX_Forwarded_For: 6.6.6.6\r\n"
        b"X_Only_Underscore: 1\r\n\r\n",
    )
    environ = body_of(response)
    assert environ["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert "HTTP_X_ONLY_UNDERSCORE" not in environ


def test_repeated_headers_are_joined_and_request_vars_set(
    serve: Callable[..., WSGIServer],
) -> None:
    server = serve(environ_app)
    environ = body_of(
        raw(server, b"GET /a%20b?q=1 HTTP/1.0\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n")
    )
    assert environ["HTTP_X_A"] == "1,2"
    assert environ["PATH_INFO"] == "/a b" and environ["QUERY_STRING"] == "q=1"
    assert environ["CONTENT_LENGTH"] == "0" and environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(server.server_port)


def test_request_environ_has_no_server_process_environment(
    serve: Callable[..., WSGIServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSGIKIT_TEST_SECRET", "s3cret")
    environ = body_of(raw(serve(environ_app), b"GET / HTTP/1.0\r\n\r\n"))
    assert "WSGIKIT_TEST_SECRET" not in environ and "PATH" not in environ


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: abc\r\n", b"400"),
        (b"Content-Length: -1\r\n", b"400"),
        (b"Content-Length: 1\r\nContent-Length: 2\r\n", b"400"),
        (b"Transfer-Encoding: chunked\r\n", b"501"),
        (b"X-A: 1\r\n folded\r\n", b"400"),
        (b"X-A : 1\r\n", b"400"),  # http.client would silently drop every header
        (b"X B: 1\r\nContent-Length: 0\r\n", b"400"),
    ],
)
def test_undelimitable_bodies_are_refused_before_the_app_runs(
    serve: Callable[..., WSGIServer], headers: bytes, status: bytes
) -> None:
    called = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(True)
        start_response("200 OK", [])
        return [b"ran"]

    response = raw(serve(app), b"POST / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert response.split(b" ", 2)[1] == status, response
    assert not called


def test_header_injection_by_the_app_becomes_a_500(serve: Callable[..., WSGIServer]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Location", "/x\r\nSet-Cookie: admin=1")])
        return [b"x"]

    response = raw(serve(app, handler_class=QuietHandler), b"GET / HTTP/1.0\r\n\r\n")
    assert response.startswith(b"HTTP/1.0 500 Internal Server Error\r\n")
    assert b"Set-Cookie" not in response


def test_wsgiref_hooks_still_work(serve: Callable[..., WSGIServer]) -> None:
    class Server(WSGIServer):
        def setup_environ(self) -> None:
            super().setup_environ()
            self.base_environ["X_SERVER_HOOK"] = "yes"

    class Handler(QuietHandler):
        def get_environ(self) -> dict[str, Any]:
            env = super().get_environ()
            env["X_HANDLER_HOOK"] = "yes"
            return env

    server = serve(environ_app, server_class=Server, handler_class=Handler)
    assert server.get_app() is environ_app
    environ = body_of(raw(server, b"GET / HTTP/1.0\r\n\r\n"))
    assert environ["X_SERVER_HOOK"] == environ["X_HANDLER_HOOK"] == "yes"


def test_wsgi_input_ends_at_content_length(serve: Callable[..., WSGIServer]) -> None:
    """read() with no size returns the body instead of waiting for the client to close."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readline()
        rest = stream.read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%r|%r|%r" % (first, rest, stream.read(10))]

    # raw() keeps the client's side open: wsgiref's read() would block until the timeout.
    response = raw(serve(app), b"POST / HTTP/1.0\r\nContent-Length: 8\r\n\r\nab\ncdefg")
    assert response.endswith(b"b'ab\\n'|b'cdefg'|b''"), response


# -- make_server with its default classes runs wsgikit's production server ------------------------


def test_default_make_server_is_the_http11_server(serve: Callable[..., Any]) -> None:
    server = serve(environ_app, handler_class=WSGIRequestHandler)
    assert isinstance(server, HTTP11WSGIServer)
    assert server.get_app() is environ_app
    assert server.server_port == server.server_address[1] != 0
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=TIMEOUT)
    conn.request("GET", "/a?x=1")
    first = conn.getresponse()
    environ = json.loads(first.read())
    sock = conn.sock
    conn.request("GET", "/b")  # the same connection: HTTP/1.1 keep-alive, unlike wsgiref's
    second = conn.getresponse()
    second.read()
    conn.close()
    assert first.status == second.status == 200
    assert sock is not None and conn.sock is None  # http.client reused it, then we closed it
    assert first.getheader("Connection") is None and first.version == 11
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["PATH_INFO"] == "/a" and environ["QUERY_STRING"] == "x=1"


def test_default_make_server_decodes_chunked_bodies(serve: Callable[..., Any]) -> None:
    """wsgiref's server cannot read a chunked body; the production server can."""

    def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]

    server = serve(echo, handler_class=WSGIRequestHandler)
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
            b"\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    # No Content-Length from the app: chunked, so the client can tell a cut body from a whole one.
    assert b"\r\nTransfer-Encoding: chunked\r\n" in response
    assert response.endswith(b"\r\n\r\nb\r\nhello world\r\n0\r\n\r\n")


def test_default_make_server_logs_requests_like_wsgiref(
    serve: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    server = serve(environ_app, handler_class=WSGIRequestHandler)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=TIMEOUT)
    conn.request("GET", "/logged\x7f?q=1".replace("\x7f", "%7F"))
    conn.getresponse().read()
    conn.close()
    server.shutdown()
    err = capfd.readouterr().err
    line = [ln for ln in err.splitlines() if "/logged" in ln]
    assert len(line) == 1, err
    assert line[0].startswith("127.0.0.1 - - [")
    assert line[0].endswith('] "GET /logged%7F?q=1 HTTP/1.1" 200 ' + line[0].rsplit(" ", 1)[1])
    assert int(line[0].rsplit(" ", 1)[1]) > 0


def test_handle_request_serves_one_request_then_returns() -> None:
    with make_server("127.0.0.1", 0, demo_app) as httpd:
        assert isinstance(httpd, HTTP11WSGIServer)
        result: list[bytes] = []

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=TIMEOUT)
            conn.request("GET", "/")
            result.append(conn.getresponse().read())
            conn.close()

        thread = threading.Thread(target=client)
        thread.start()
        httpd.handle_request()
        thread.join(TIMEOUT)
    assert result and result[0].startswith(b"Hello world!")
    assert b"\nPATH = " not in result[0]  # demo_app lists the environ: no os.environ in it
