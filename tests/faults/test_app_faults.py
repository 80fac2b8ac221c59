"""The app failing (in its iterator, in close()) and wsgi.input read after the client vanished.

Over real sockets against a one-worker server: each fault is answered as well as it can be
(500 before the head, a cut connection after it, nothing to a vanished client), ``close()`` is
called exactly once, the worker and the connection are freed, and the next request is served.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable

import pytest

from tests.support.rawhttp import RawClient, exchange

pytestmark = pytest.mark.server

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close() sends a reset


class Boom(Exception):
    pass


class Body:
    """An iterable that yields ``parts``, raises at ``fail_at``, and counts close()."""

    def __init__(self, parts: list[bytes], fail_at: int = -1, close_raises: bool = False):
        self.parts = parts
        self.fail_at = fail_at
        self.close_raises = close_raises
        self.closes = 0

    def __iter__(self) -> Any:
        for i, part in enumerate(self.parts):
            if i == self.fail_at:
                raise Boom(f"iterator failed at part {i}")
            yield part
        if self.fail_at == len(self.parts):
            raise Boom("iterator failed after the last part")

    def close(self) -> None:
        self.closes += 1
        if self.close_raises:
            raise Boom("close() failed")


def serving(body_factory: Callable[[], Body], headers: list[tuple[str, str]]) -> Any:
    bodies: list[Body] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/next":
            start_response("200 OK", [("Content-Length", "4")])
            return [b"next"]
        start_response("200 OK", list(headers))
        body = body_factory()
        bodies.append(body)
        return body

    app.bodies = bodies  # type: ignore[attr-defined]
    return app


def assert_next_request_served(fs: Any) -> None:
    fs.wait_idle()
    assert exchange(*fs.address, NEXT).body == b"next"


def test_iterator_raising_before_any_byte_is_a_500(fault_server: Any, caplog: Any) -> None:
    app = serving(lambda: Body([b"never"], fail_at=0), [])
    fs = fault_server(app)
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        response = exchange(*fs.address, GET)
    assert response.status == 500 and b"Boom" not in response.body
    fs.wait_idle()  # close() runs after the response is out: wait for the worker
    assert [b.closes for b in app.bodies] == [1]
    assert any(r.exc_info and "iterator failed" in str(r.exc_info[1]) for r in caplog.records)
    assert_next_request_served(fs)


def test_iterator_raising_mid_body_cuts_the_connection(fault_server: Any) -> None:
    app = serving(lambda: Body([b"first", b"second", b"never"], fail_at=2), [])
    fs = fault_server(app)
    with RawClient(*fs.address) as client:
        client.send(GET + NEXT)  # a pipelined request after it is not served on this connection
        response = client.read_response()
        assert response.status == 200 and response.body == b"firstsecond"
        assert not response.complete  # no last chunk: the client knows it is cut
        assert client.is_closed_by_server()
    fs.wait_idle()  # close() runs after the response is out: wait for the worker
    assert [b.closes for b in app.bodies] == [1]
    assert_next_request_served(fs)


def test_close_raising_after_a_whole_response_closes_the_connection(
    fault_server: Any, caplog: Any
) -> None:
    app = serving(lambda: Body([b"whole"], close_raises=True), [("Content-Length", "5")])
    fs = fault_server(app)
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        with RawClient(*fs.address) as client:
            client.send(GET)
            response = client.read_response()
            assert response.status == 200 and response.body == b"whole"
            assert client.is_closed_by_server()  # not kept alive after a failed close()
    fs.wait_idle()  # close() runs after the response is out: wait for the worker
    assert [b.closes for b in app.bodies] == [1]
    assert any("close() failed" in r.getMessage() for r in caplog.records)
    assert_next_request_served(fs)


def test_iterator_and_close_both_raising(fault_server: Any, caplog: Any) -> None:
    app = serving(lambda: Body([b"never"], fail_at=0, close_raises=True), [])
    fs = fault_server(app)
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        response = exchange(*fs.address, GET)
    assert response.status == 500
    fs.wait_idle()  # close() runs after the response is out: wait for the worker
    assert [b.closes for b in app.bodies] == [1]
    assert_next_request_served(fs)


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols"])
def test_app_answering_with_a_1xx_status_gets_a_500(fault_server: Any, status: str) -> None:
    """Found by the gateway fuzzer: the 1xx went out as the answer, keep-alive stayed on, and a
    client took the next response for this request's (h11 saw two interim responses)."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/next":
            start_response("200 OK", [("Content-Length", "4")])
            return [b"next"]
        start_response(status, [])
        return [b""]

    fs = fault_server(app)
    with RawClient(*fs.address) as client:
        client.send(GET + NEXT)
        first = client.read_response()
        assert first.status == 500
        assert first.closes
        assert client.is_closed_by_server()


READS: dict[str, Callable[[Any], Any]] = {
    "read": lambda stream: stream.read(),
    "read(n)": lambda stream: [stream.read(1000) for _ in range(200)],
    "readline": lambda stream: [stream.readline() for _ in range(200)],
    "iterate": lambda stream: list(stream),
}


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("read", sorted(READS))
def test_input_read_after_the_client_vanished(
    fault_server: Any, caplog: Any, read: str, framing: str, how: str
) -> None:
    """The app reads a body the client stops sending: ConnectionError, no error log, freed."""
    errors: list[BaseException] = []
    inside = threading.Event()
    vanished = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/next":
            start_response("200 OK", [("Content-Length", "4")])
            return [b"next"]
        stream = environ["wsgi.input"]
        stream.read(5)  # what the client did send
        inside.set()
        assert vanished.wait(5)
        try:
            READS[read](stream)
        except Exception as exc:
            errors.append(exc)
            raise
        start_response("200 OK", [])
        return [b"unreachable"]

    fs = fault_server(app)
    if framing == "length":
        head = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nhello"
    else:
        head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nhello"
    client = socket.create_connection(fs.address, timeout=5)
    client.sendall(head)
    assert inside.wait(5)
    if how == "reset":
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
    with caplog.at_level(logging.WARNING, logger="wsgikit.error"):
        client.close()
        time.sleep(0.05)
        vanished.set()
        fs.wait_idle()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError), errors
    # a client going away is not a server fault: nothing at WARNING or above
    assert [r.getMessage() for r in caplog.records] == []
    assert exchange(*fs.address, NEXT).body == b"next"


def test_app_swallowing_the_disconnect_and_answering(fault_server: Any) -> None:
    closes: list[int] = []
    vanished = threading.Event()

    class Answer:
        def __iter__(self) -> Any:
            return iter([b"x" * 65536] * 16)

        def close(self) -> None:
            closes.append(1)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/next":
            start_response("200 OK", [("Content-Length", "4")])
            return [b"next"]
        assert vanished.wait(5)
        try:
            environ["wsgi.input"].read()
        except ConnectionError:
            pass  # an app that carries on regardless
        start_response("200 OK", [])
        return Answer()

    fs = fault_server(app, send_timeout=5)
    client = socket.create_connection(fs.address, timeout=5)
    client.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    time.sleep(0.1)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
    client.close()
    vanished.set()
    fs.wait_idle()
    assert closes == [1]
    assert exchange(*fs.address, NEXT).body == b"next"
