"""send() failing mid-response (EPIPE, ECONNRESET) on every path a response takes to the wire.

The accepted socket's sends fail once some bytes are out (``FaultySocket``), with the errno a
vanished client gives. Each time: the app's ``close()`` is called exactly once, the worker and
the connection are freed (pool stats), nothing reaches the internal-error handler, and the
single worker answers the next request.
"""

from __future__ import annotations

import errno
import io
import logging
import socket
import threading
import time
from typing import Any

import pytest

from tests.support.rawhttp import RawClient, exchange

pytestmark = pytest.mark.server

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BLOCK = bytes(range(256)) * 32  # 8 KiB


class Closing:
    """A response iterable that counts its close() calls."""

    def __init__(self, parts: list[bytes], counter: list[int]) -> None:
        self.parts = parts
        self.counter = counter

    def __iter__(self) -> Any:
        return iter(self.parts)

    def close(self) -> None:
        self.counter.append(1)


class CountingFile(io.FileIO):
    def __init__(self, path: str, counter: list[int]) -> None:
        super().__init__(path, "rb")
        self.counter = counter

    def close(self) -> None:
        if not self.closed:
            self.counter.append(1)
        super().close()


def make_app(kind: str, closes: list[int], path: str, errors: Any = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/next":
            start_response("200 OK", [("Content-Length", "4")])
            return [b"next"]
        if kind == "iterable":  # chunked, one send per block
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return Closing([BLOCK] * 8, closes)
        if kind == "write":  # the legacy write() callable
            write = start_response("200 OK", [("Content-Length", str(8 * len(BLOCK)))])
            try:
                for _ in range(8):
                    write(BLOCK)
            except Exception as exc:  # the app sees the failed send, and lets it propagate
                if errors is not None:
                    errors.append(exc)
                raise
            return Closing([], closes)
        if kind == "vectored":  # a large block with its head in one sendmsg
            body = BLOCK * 25
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return Closing([body], closes)
        assert kind == "sendfile"
        start_response("200 OK", [("Content-Length", str(64 * len(BLOCK)))])
        return environ["wsgi.file_wrapper"](CountingFile(path, closes))

    return app


@pytest.mark.parametrize("error", [errno.EPIPE, errno.ECONNRESET], ids=["EPIPE", "ECONNRESET"])
@pytest.mark.parametrize("kind", ["iterable", "write", "vectored", "sendfile"])
def test_send_failing_mid_response_closes_once_and_frees_the_worker(
    fault_server: Any, tmp_path: Any, caplog: Any, kind: str, error: int
) -> None:
    path = tmp_path / "big"
    path.write_bytes(BLOCK * 64)
    closes: list[int] = []
    errors: list[BaseException] = []
    fs = fault_server(make_app(kind, closes, str(path), errors))
    fs.fail_next(budget=3000, error=error)
    with caplog.at_level(logging.DEBUG, logger="wsgikit.error"):
        with RawClient(*fs.address) as client:
            client.send(GET)
            received = client.read_until_close(timeout=5)
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(received) <= 3000  # the fault really cut the response
        fs.wait_idle()
        assert fs.sockets[0].failures >= 1
        if kind == "write":
            # write() raised into the app, which never returned an iterable to close
            assert closes == [] and len(errors) == 1
            assert isinstance(errors[0], ConnectionError)
        else:
            assert closes == [1]
        # the one worker is free: the next request is answered
        assert exchange(*fs.address, b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n").body == b"next"
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]


@pytest.mark.parametrize("kind", ["iterable", "vectored", "sendfile"])
def test_a_real_reset_mid_response_frees_the_worker(fault_server: Any, tmp_path: Any,
                                                     kind: str) -> None:
    """The same with a real peer: the client resets the connection (SO_LINGER 0)."""
    path = tmp_path / "big"
    path.write_bytes(BLOCK * 64)
    closes: list[int] = []
    gate = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        inner = make_app(kind, closes, str(path))
        if environ["PATH_INFO"] == "/next":
            return inner(environ, start_response)
        assert gate.wait(5)  # the client has reset: every send now fails
        return inner(environ, start_response)

    fs = fault_server(app, send_timeout=5)
    client = socket.create_connection(fs.address, timeout=5)
    client.sendall(GET)
    time.sleep(0.1)  # the request is in the app
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()
    time.sleep(0.05)  # the reset has arrived
    gate.set()
    fs.wait_idle()
    assert closes == [1]
    assert exchange(*fs.address, b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n").body == b"next"
