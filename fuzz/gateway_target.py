"""Fuzz target: the gateway, through a real ``Connection`` on a socketpair.

Input: one byte ``n``, then ``n % 32`` script bytes, then the bytes the client sends (after
which the client shuts down its sending side). The script drives the WSGI app, three bytes per
request: how it reads ``wsgi.input``, how it answers, and which fault it injects (raising
before or during the response or in ``close()``, the client vanishing before or during the
response, swallowing an input error). Findings:

* ``Connection.serve`` raising, or logging an internal error (an exception the server did not
  expect reached its last-resort handler);
* the connection not closed exactly once at the end (the owner's ``connection_closed``);
* an iterable's ``close()`` not called exactly once;
* the first bytes the client receives not being a status line;
* any wait longer than the per-input deadline (libFuzzer's ``-timeout``; every wait in the
  harness is bounded by the short timeouts below).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
from typing import Any, Iterator, Optional

import h11

from fuzz.parser_target import Finding
from wsgikit.config import ServerConfig
from wsgikit.server.clientlog import ClientErrorLog
from wsgikit.server.connection import Connection, ResponseRecord
from wsgikit.server.environ import base_environ
from wsgikit.util import FileWrapper

CONFIG = ServerConfig(
    header_timeout=1.0,
    body_timeout=0.5,
    keepalive_timeout=1.0,
    keepalive_linger=0.001,
    send_timeout=0.5,
    max_request_line=512,
    max_field_bytes=1024,
    max_header_bytes=4096,
    max_body_bytes=8192,
    max_drain_bytes=1024,
)
BASE_ENVIRON = base_environ(server_name="fuzz", server_port="80")
#: Total response bytes the app may ask for, and requests served, per input: together they stay
#: below what the socketpair buffers (the kernel counts each send's overhead too, so many small
#: responses fill it sooner than their bytes say), so the server never waits for the harness to
#: read; a send that did would stall for send_timeout, which is no finding but slows the fuzzer.
RESPONSE_BUDGET = 48 * 1024
MAX_REQUESTS = 12
BIG = bytes(range(256)) * 80  # 20 KiB: bigger than the gateway's COPY_LIMIT

_FILE = tempfile.NamedTemporaryFile(prefix="wsgikit-fuzz-", delete=False)
_FILE.write(BIG)
_FILE.close()
_CALL_R, _CALL_W = os.pipe()  # linger_begin's call-back descriptor; nobody ever calls


class _InternalErrors(logging.Handler):
    """Collects what only a server bug logs."""

    MARKERS = ("internal error", "unexpected parser event", "on_response hook failed")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(marker in message for marker in self.MARKERS):
            self.found.append(message + "\n" + (self.format(record) if record.exc_info else ""))


_ERRORS = _InternalErrors()
_LOG = logging.getLogger("wsgikit.error")


def quiet_logs() -> None:
    """Under the fuzzer: app errors are expected by the thousand; keep stderr for findings."""
    _LOG.propagate = False
    _LOG.setLevel(logging.ERROR)


class Owner:
    """The server as the connection sees it; counts what the checks need."""

    config = CONFIG
    record_responses = True
    shutting_down = False
    no_keep_alive = False

    def __init__(self, app: Any) -> None:
        self.app = app
        self.closed = 0
        self.records: list[ResponseRecord] = []
        # the server's client-error counter (wsgikit.server.clientlog), quiet: the fuzzer makes many
        self.client_errors = ClientErrorLog(logging.getLogger("wsgikit.fuzz"))

    def get_app(self) -> Any:
        return self.app

    def park(self, conn: Connection, deadline: float) -> bool:
        return False  # the connection closes instead of waiting for more

    def queued(self) -> int:
        return 0

    def linger_begin(self) -> int:
        return _CALL_R

    def linger_end(self) -> None:
        pass

    def take_call(self) -> bool:
        return False

    def on_response(self, record: ResponseRecord) -> None:
        self.records.append(record)

    def connection_closed(self, conn: Connection) -> None:
        self.closed += 1


class Boom(Exception):
    """The app's injected failure."""


class Body:
    """A response iterable whose ``close()`` is counted (and may raise)."""

    def __init__(self, script: Script, parts: list[Any], fail_after: Optional[int],
                 close_raises: bool) -> None:
        self.script = script
        self.parts = parts
        self.fail_after = fail_after
        self.close_raises = close_raises
        self.closes = 0
        script.iterables.append(self)

    def __iter__(self) -> Iterator[Any]:
        for i, part in enumerate(self.parts):
            if i == self.fail_after:
                raise Boom("failed mid-body")
            if self.script.vanish_mid and i == 1:
                self.script.vanish()
            yield part

    def close(self) -> None:
        self.closes += 1
        if self.close_raises:
            raise Boom("close() failed")


class CountingFile(io.FileIO):
    """A real file for ``wsgi.file_wrapper`` (the sendfile path) whose ``close()`` is counted."""

    def __init__(self, script: Script) -> None:
        super().__init__(_FILE.name, "rb")
        self.closes = 0
        script.iterables.append(self)

    def close(self) -> None:
        self.closes += 1
        super().close()


class Script:
    """The app's behaviour, three script bytes per request (cycled)."""

    def __init__(self, script: bytes, client: socket.socket) -> None:
        self.script = script or b"\x00"
        self.step = 0
        self.client: Optional[socket.socket] = client
        self.budget = RESPONSE_BUDGET
        self.iterables: list[Any] = []
        self.vanish_mid = False

    def byte(self) -> int:
        value = self.script[self.step % len(self.script)]
        self.step += 1
        return value

    def vanish(self) -> None:
        """The client goes away: reset, not a polite close."""
        if self.client is not None:
            self.client.close()
            self.client = None

    def spend(self, n: int) -> int:
        n = max(0, min(n, self.budget))
        self.budget -= n
        return n

    def read(self, stream: Any, mode: int) -> None:
        if mode == 1:
            stream.read()
        elif mode == 2:
            stream.read(mode + self.byte() % 50)
        elif mode == 3:
            while stream.readline(37):
                pass
        elif mode == 4:
            for _ in stream:
                pass
        elif mode == 5:
            stream.read(0)
            stream.read(1)
        elif mode == 6:
            stream.readlines(100)
        elif mode == 7:
            while stream.read(7):
                pass

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        read_mode, answer, fault = self.byte(), self.byte(), self.byte()
        self.vanish_mid = fault % 8 == 5
        if fault % 8 == 4:
            self.vanish()
        if fault % 8 == 6:
            try:
                self.read(environ["wsgi.input"], read_mode % 8 or 1)
            except Exception:
                pass  # swallowed: the server must still answer the input's error
        else:
            self.read(environ["wsgi.input"], read_mode % 8)
        if fault % 8 == 1:
            raise Boom("failed before start_response")
        fail_after = 1 if fault % 8 == 2 else None
        close_raises = fault % 8 == 3
        size = self.spend(answer >> 4 << 6)  # 0..960 bytes
        body = [BIG[:size // 2], BIG[size // 2:size]]
        kind = answer % 16
        if kind == 0:
            start_response("200 OK", [("Content-Length", str(size))])
        elif kind == 1:
            start_response("200 OK", [("Content-Type", "text/plain")])
        elif kind == 2:
            write = start_response("201 Created", [])
            write(body[0])
            body = body[1:]
        elif kind == 3:
            start_response("200 OK", [])
            return FileWrapper(io.BytesIO(BIG[:size]), 100)
        elif kind == 4:
            if self.spend(len(BIG)) < len(BIG):
                start_response("200 OK", [])
            else:
                start_response("200 OK", [("Content-Length", str(len(BIG)))])
                return environ["wsgi.file_wrapper"](CountingFile(self))
        elif kind == 5:
            start_response("200 OK", [("Content-Length", str(size + 5))])  # too short
        elif kind == 6:
            start_response("200 OK", [("Content-Length", str(max(0, size - 5)))])  # too long
        elif kind == 7:
            start_response(("204 No Content", "304 Not Modified", "100 Continue")[size % 3], [])
        elif kind == 8:
            start_response("200 OK", [("Transfer-Encoding", "chunked")])  # hop-by-hop
        elif kind == 9:
            start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
        elif kind == 10:
            start_response("200 OK", [])
            body = ["text, not bytes"]
        elif kind == 11:
            start_response("500 Oops", [])
            try:
                raise Boom("handled")
            except Boom:
                import sys

                start_response("502 Bad Gateway", [], sys.exc_info())
        elif kind == 12:
            pass  # no start_response at all
        elif kind == 13:
            big = self.spend(len(BIG))
            start_response("200 OK", [("Content-Length", str(big))])
            body = [BIG[:big]]  # large: the vectored path
        elif kind == 14:
            start_response("200 OK", [])
            return [BIG[:size]]  # a list: no close() to call
        else:
            start_response("404 Not Found", [("Content-Length", str(size)),
                                              ("Connection", "close")])
        return Body(self, body, fail_after, close_raises)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sent (it has closed its side: serve() has returned)."""
    sock.setblocking(False)
    parts = []
    while True:
        try:
            data = sock.recv(1 << 16)
        except (BlockingIOError, ConnectionResetError):
            break
        if not data:
            break
        parts.append(data)
    return b"".join(parts)


def check_responses(data: bytes, methods: list[str]) -> None:
    """The bytes sent must be a valid sequence of HTTP/1.1 responses, as h11 reads them.

    ``methods`` are those of the requests the app answered, in order (a HEAD response has no
    body); a final error response answers a request the server refused. Only the last response
    may be cut short (the server closes when a response fails midway); anything else h11
    refuses is a finding: a second status line inside a body, bytes after a response that
    said it was the last, a broken chunked framing, a 1xx as the final answer.
    """
    conn = h11.Connection(h11.CLIENT)
    conn.receive_data(data)
    conn.receive_data(b"")
    index = 0
    while conn.trailing_data[0]:  # more bytes: another response
        method = methods[index] if index < len(methods) else "GET"
        index += 1
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "fuzz")]))
        conn.send(h11.EndOfMessage())
        while True:
            state = conn.their_state  # h11 moves to ERROR when it raises
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if state is h11.SEND_BODY and not conn.trailing_data[0]:
                    return  # the last response, cut short
                raise Finding(f"invalid response stream ({exc}) in {data[:3000]!r}") from exc
            if type(event) is h11.EndOfMessage:
                break
            if event is h11.NEED_DATA or type(event) is h11.ConnectionClosed:
                raise Finding(f"h11 stalled in {conn.their_state} on {data[:3000]!r}")
        if conn.their_state is h11.MUST_CLOSE:
            if conn.trailing_data[0]:
                raise Finding(f"bytes after a response that said it was the last: {data!r}")
            return
        conn.start_next_cycle()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    n = data[0] % 32
    script_bytes, wire = data[1 : 1 + n], data[1 + n :]
    server, client = socket.socketpair()
    try:
        client.settimeout(1.0)
        client.sendall(wire)
        client.shutdown(socket.SHUT_WR)
        script = Script(script_bytes, client)
        owner = Owner(script.app)
        conn = Connection(owner, server, ("127.0.0.1", 40000), BASE_ENVIRON)
        conn.max_requests = MAX_REQUESTS
        _ERRORS.found.clear()
        _LOG.addHandler(_ERRORS)
        try:
            conn.serve()
        finally:
            _LOG.removeHandler(_ERRORS)
        if _ERRORS.found:
            raise Finding("server bug logged:\n" + "\n".join(_ERRORS.found))
        if not conn.closed or owner.closed != 1:
            raise Finding(f"connection closed {owner.closed} times (closed={conn.closed})")
        for iterable in script.iterables:
            if iterable.closes != 1:
                raise Finding(f"{type(iterable).__name__}.close() called {iterable.closes} times")
        if script.client is not None:
            check_responses(read_all(client), [r.method for r in owner.records])
    finally:
        server.close()
        client.close()
