"""A small WSGI server: a drop-in superset of :mod:`wsgiref.simple_server` (Python 3.11).

``make_server(host, port, app)`` returns wsgikit's production HTTP/1.1 server (an
``HTTP11WSGIServer``: keep-alive, chunked bodies, limits and timeouts) that logs each request to
stderr as wsgiref does. Given a ``server_class`` or ``handler_class``, it builds wsgiref's design
instead: a ``WSGIServer`` (an ``http.server.HTTPServer``) whose ``WSGIRequestHandler`` serves one
request per connection through wsgikit's ``ServerHandler`` (a ``wsgikit.handlers.SimpleHandler``:
status and headers checked before they are sent, errors logged and answered with a plain 500),
so subclasses written for wsgiref keep working. Adapted from CPython's module (Copyright Python
Software Foundation, PSF licence).

Differences of the ``http.server`` path from wsgiref (see docs/wsgiref.rst): request headers
whose names contain ``_`` are dropped (a client could otherwise spoof ``X-Forwarded-For`` as
``X_Forwarded_For``, since both map to ``HTTP_X_FORWARDED_FOR``); a malformed header line,
obs-fold or an invalid ``Content-Length`` is answered 400 and a request with
``Transfer-Encoding`` 501 (this path cannot decode it) instead of handing the app a head it
misread or a body it cannot delimit; ``wsgi.input`` ends at Content-Length; sockets time out
after 60 s; and the per-request environ does not contain the server's ``os.environ``.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO
from platform import python_implementation
from typing import Any, Optional

from wsgikit.config import ServerConfig
from wsgikit.handlers import SimpleHandler
from wsgikit.http11.grammar import DIGITS_RE
from wsgikit.server import ResponseRecord, Server
from wsgikit.server.accesslog import escape
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__version__ = "0.2"
__all__ = [
    "WSGIServer", "WSGIRequestHandler", "HTTP11WSGIServer", "demo_app", "make_server"
]

server_version = "WSGIServer/" + __version__
sys_version = python_implementation() + "/" + sys.version.split()[0]
software_version = server_version + " " + sys_version

_MAX_REQUEST_LINE = 65536


class _BoundedInput:
    """``wsgi.input`` that ends at Content-Length: a read past the body returns b"", not a hang.

    wsgiref hands the app the raw socket file, so ``read()`` with no size blocks until the
    client closes the connection.
    """

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self._remaining = length

    def _clamp(self, size: Optional[int]) -> int:
        if size is None or size < 0 or size > self._remaining:
            return self._remaining
        return size

    def read(self, size: Optional[int] = -1) -> bytes:
        data: bytes = self._stream.read(self._clamp(size)) if self._remaining else b""
        self._remaining -= len(data)
        return data

    def readline(self, size: Optional[int] = -1) -> bytes:
        data: bytes = self._stream.readline(self._clamp(size)) if self._remaining else b""
        self._remaining -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class ServerHandler(SimpleHandler):
    """The gateway for one request of ``WSGIRequestHandler``; logs the request when done."""

    server_software = software_version
    request_handler: WSGIRequestHandler

    def close(self) -> None:
        try:
            status = self.status.split(" ", 1)[0] if self.status else "-"
            self.request_handler.log_request(status, self.bytes_sent)
        finally:
            SimpleHandler.close(self)


class WSGIServer(HTTPServer):
    """``http.server.HTTPServer`` that serves a WSGI application (PEP 3333)."""

    application: Optional[WSGIApplication] = None
    base_environ: WSGIEnvironment

    def server_bind(self) -> None:
        """Bind, then record the server's name and port in ``base_environ``."""
        HTTPServer.server_bind(self)
        self.setup_environ()

    def setup_environ(self) -> None:
        """Set up the part of the environ shared by every request."""
        env = self.base_environ = {}
        env["SERVER_NAME"] = self.server_name
        env["GATEWAY_INTERFACE"] = "CGI/1.1"
        env["SERVER_PORT"] = str(self.server_port)
        env["REMOTE_HOST"] = ""
        env["CONTENT_LENGTH"] = ""
        env["SCRIPT_NAME"] = ""

    def get_app(self) -> Optional[WSGIApplication]:
        return self.application

    def set_app(self, application: Optional[WSGIApplication]) -> None:
        self.application = application


class WSGIRequestHandler(BaseHTTPRequestHandler):
    """Parse one HTTP request and run the server's application for it."""

    server_version = "WSGIServer/" + __version__
    server: WSGIServer
    # Seconds a socket read or write may wait (wsgiref: None, so one idle client blocks the
    # single-threaded server for ever).
    timeout = 60.0

    def get_environ(self) -> WSGIEnvironment:
        """The WSGI environ for this request (server base plus request variables)."""
        env = self.server.base_environ.copy()
        env["SERVER_PROTOCOL"] = self.request_version
        env["SERVER_SOFTWARE"] = self.server_version
        env["REQUEST_METHOD"] = self.command
        if "?" in self.path:
            path, query = self.path.split("?", 1)
        else:
            path, query = self.path, ""

        env["PATH_INFO"] = urllib.parse.unquote(path, "iso-8859-1")
        env["QUERY_STRING"] = query

        host = self.address_string()
        if host != self.client_address[0]:
            env["REMOTE_HOST"] = host
        env["REMOTE_ADDR"] = self.client_address[0]

        if self.headers.get("content-type") is None:
            env["CONTENT_TYPE"] = self.headers.get_content_type()
        else:
            env["CONTENT_TYPE"] = self.headers["content-type"]

        length = self.headers.get("content-length")
        if length:
            env["CONTENT_LENGTH"] = length

        for k, v in self.headers.items():
            if "_" in k:
                continue  # would alias a '-' header in the environ: spoofing (see module doc)
            k = k.replace("-", "_").upper()
            v = v.strip()
            if k in env:
                continue  # skip content length, type, etc.
            if "HTTP_" + k in env:
                env["HTTP_" + k] += "," + v  # comma-separate multiple headers
            else:
                env["HTTP_" + k] = v
        return env

    def get_stderr(self) -> Any:
        return sys.stderr

    def _request_error(self) -> Optional[tuple[int, str]]:
        """Return (status, reason) if the head is malformed or the body cannot be delimited.

        ``http.client.parse_headers`` stops at the first malformed line (``X-A : 1``,
        ``X B: 1``) and treats the rest of the head as body, silently dropping headers; and it
        keeps obs-fold continuations (CR LF inside a value). RFC 9112 5 asks for a 400.
        """
        if self.headers.defects:
            return 400, "Malformed header line"
        for _name, value in self.headers.items():
            if "\r" in value or "\n" in value:
                return 400, "Obsolete line folding is not accepted"
        lengths = self.headers.get_all("content-length") or []
        if len(lengths) > 1 or (lengths and not DIGITS_RE.fullmatch(lengths[0].strip())):
            return 400, "Invalid Content-Length"
        if self.headers.get("transfer-encoding") is not None:
            return 501, "Transfer-Encoding is not supported by this server"
        return None

    def handle(self) -> None:
        """Handle a single HTTP request."""
        self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
        if len(self.raw_requestline) > _MAX_REQUEST_LINE:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return

        if not self.parse_request():  # an error response has been sent
            return

        problem = self._request_error()
        if problem is not None:
            self.close_connection = True
            self.send_error(*problem)
            return

        environ = self.get_environ()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        handler = ServerHandler(
            _BoundedInput(self.rfile, length),
            self.wfile,
            self.get_stderr(),
            environ,
            multithread=False,
        )
        handler.request_handler = self  # backpointer for logging
        handler.run(self.server.get_app())  # type: ignore[arg-type]


def demo_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """A WSGI app that answers 'Hello world!' and lists the environ (for trying a server)."""
    stdout = StringIO()
    print("Hello world!", file=stdout)
    print(file=stdout)
    for k, v in sorted(environ.items()):
        print(k, "=", repr(v), file=stdout)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [stdout.getvalue().encode("utf-8")]


class HTTP11WSGIServer(Server):
    """wsgikit's production HTTP/1.1 server with the ``simple_server.WSGIServer`` attributes.

    What :func:`make_server` returns when it is given no server or handler class: keep-alive,
    pipelining, chunked bodies, a bounded thread pool, limits and timeouts. It also has
    ``server_name``, ``server_port``, ``get_app()``/``set_app()``, ``serve_forever()``,
    ``handle_request()``, ``shutdown()``, ``server_close()`` and works as a context manager.
    """

    server_name: str
    server_port: int

    def server_bind(self) -> None:
        Server.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = socket.getfqdn(str(host))
        self.server_port = port

    def on_response(self, record: ResponseRecord) -> None:
        """Log each request to stderr in wsgiref's (``http.server``'s) format."""
        now = time.localtime()
        month = BaseHTTPRequestHandler.monthname[now.tm_mon]
        stamp = (
            f"{now.tm_mday:02d}/{month}/{now.tm_year:04d} "
            f"{now.tm_hour:02d}:{now.tm_min:02d}:{now.tm_sec:02d}"
        )
        line = escape(f"{record.method} {record.target} HTTP/{record.http_version}")
        sys.stderr.write(
            f'{record.remote_addr or "-"} - - [{stamp}] "{line}" {record.status} '
            f"{record.body_bytes}\n"
        )


def make_server(
    host: str,
    port: int,
    app: WSGIApplication,
    server_class: type[WSGIServer] = WSGIServer,
    handler_class: type[WSGIRequestHandler] = WSGIRequestHandler,
) -> WSGIServer | HTTP11WSGIServer:
    """Create a new WSGI server listening on `host` and `port` for `app`.

    With the default classes this is wsgikit's production server (an
    :class:`HTTP11WSGIServer`, logging each request to stderr as wsgiref does); given another
    ``server_class`` or ``handler_class`` it is wsgiref's design, one request per connection
    through ``http.server``, so that subclasses of ``WSGIServer`` and ``WSGIRequestHandler``
    keep working unchanged.
    """
    if server_class is WSGIServer and handler_class is WSGIRequestHandler:
        return HTTP11WSGIServer(app, ServerConfig(host=host, port=port))
    server = server_class((host, port), handler_class)
    server.set_app(app)
    return server
