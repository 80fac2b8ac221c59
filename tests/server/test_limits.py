"""Limits and timeouts over real sockets: each gets its status, a close, and never a hang."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support import apps
from tests.support.rawhttp import RawClient, exchange

pytestmark = pytest.mark.server


def test_request_line_too_long_is_414(live_server):
    srv = live_server(apps.hello, max_request_line=200)
    response = exchange(srv.host, srv.port, b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 414 and response.closes


def test_too_many_headers_is_431(live_server):
    srv = live_server(apps.hello, max_header_count=5)
    headers = b"".join(b"X-%d: v\r\n" % i for i in range(10))
    response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert response.status == 431


def test_declared_body_over_limit_is_413_at_once(live_server):
    recorder = apps.Recorder()
    srv = live_server(recorder, max_body_bytes=1000)
    with RawClient(srv.host, srv.port, timeout=3) as client:
        # only the head is sent: the answer must not wait for the body
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        response = client.read_response()
    assert response.status == 413
    assert recorder.paths == []


def test_chunked_body_over_limit_is_413_while_the_app_reads(live_server):
    srv = live_server(apps.echo, max_body_bytes=100)
    with RawClient(srv.host, srv.port, timeout=3) as client:
        client.send(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"c8\r\n" + b"y" * 200 + b"\r\n0\r\n\r\n"
        )
        response = client.read_response()
    assert response.status == 413


@pytest.mark.parametrize("trailer_bytes, status", [(40, 200), (400, 431)])
def test_trailer_section_is_bounded_by_max_trailer_bytes(live_server, trailer_bytes, status):
    srv = live_server(apps.echo, max_trailer_bytes=200)
    trailer = b"X-T: " + b"t" * (trailer_bytes - 7) + b"\r\n"
    with RawClient(srv.host, srv.port, timeout=3) as client:
        client.send(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n"
        )
        response = client.read_response()
    assert response.status == status
    if status == 200:
        assert response.body == b"hello"


def test_bad_request_gets_400_and_close_without_reaching_the_app(live_server):
    recorder = apps.Recorder()
    srv = live_server(recorder)
    with RawClient(srv.host, srv.port) as client:
        client.send(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        response = client.read_response()
        assert response.status == 400 and response.closes
        assert client.is_closed_by_server()
    assert recorder.paths == []


def test_slowloris_head_gets_408_then_close(live_server):
    srv = live_server(apps.hello, header_timeout=0.5)
    with RawClient(srv.host, srv.port, timeout=5) as client:
        started = time.monotonic()
        client.send(b"GET / HTTP/1.1\r\n")
        for _ in range(3):  # dribbling bytes must not extend the deadline
            time.sleep(0.15)
            client.send(b"X-A: b\r\n")
        response = client.read_response()
        elapsed = time.monotonic() - started
        assert response.status == 408
        assert client.is_closed_by_server()
    assert elapsed < 4.0


def test_slowloris_on_a_kept_alive_connection_gets_408_too(live_server):
    """The head deadline also holds for the second request of a connection (the worker reads
    it on its keep-alive paths, not the accept path), however the bytes dribble in."""
    srv = live_server(apps.hello, header_timeout=0.5, keepalive_linger=0.3)
    with RawClient(srv.host, srv.port, timeout=5) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().status == 200
        started = time.monotonic()
        client.send(b"GET / HTTP/1.1\r\n")
        for _ in range(12):  # a field line every 0.1 s: data is always there to read
            time.sleep(0.1)
            try:
                client.send(b"X-A: b\r\n")
            except OSError:
                break  # the server answered and closed
        response = client.read_response()
        elapsed = time.monotonic() - started
        assert response.status == 408
        assert client.is_closed_by_server()
    assert 0.4 < elapsed < 4.0


def test_connection_that_sends_nothing_is_closed_after_header_timeout(live_server):
    srv = live_server(apps.hello, header_timeout=0.4)
    with RawClient(srv.host, srv.port, timeout=5) as client:
        assert client.is_closed_by_server(timeout=4.0)


def test_slowloris_clients_hold_no_worker(live_server):
    srv = live_server(apps.hello, threads=2, header_timeout=3.0)
    idle = [RawClient(srv.host, srv.port) for _ in range(6)]
    try:
        for c in idle:
            c.send(b"GET / HTTP/1.1\r\n")  # half a head each
        time.sleep(0.2)
        response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2)
        assert response.status == 200
    finally:
        for c in idle:
            c.close()


def test_idle_keep_alive_connection_is_closed_after_keepalive_timeout(live_server):
    srv = live_server(apps.hello, keepalive_timeout=0.3)
    with RawClient(srv.host, srv.port, timeout=5) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().status == 200
        started = time.monotonic()
        assert client.is_closed_by_server(timeout=4.0)
        assert time.monotonic() - started < 3.0


def test_parked_connection_wakes_for_its_next_request(live_server):
    srv = live_server(apps.hello, keepalive_timeout=5.0, keepalive_linger=0.0)
    with RawClient(srv.host, srv.port) as client:
        for _ in range(3):
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.read_response().status == 200
            time.sleep(0.1)  # long enough to be parked
    assert srv.server.stats()["open_connections"] <= 1


def test_idle_keep_alive_connection_gives_its_worker_up_when_others_wait(live_server):
    """However long ``keepalive_linger`` is, a worker does not wait on a quiet keep-alive
    connection while another connection waits for it: it parks the quiet one at once."""
    gate = apps.Gate()
    srv = live_server(gate, threads=1, keepalive_linger=3.0, keepalive_timeout=10.0)
    first = RawClient(srv.host, srv.port, timeout=5)
    second = RawClient(srv.host, srv.port, timeout=5)
    try:
        first.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert gate.entered.acquire(timeout=5)  # the only worker is busy with the first
        second.send(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        while srv.server.stats()["queued"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.server.stats()["queued"] == 1  # the second waits for the worker
        started = time.monotonic()
        gate.release()
        assert first.read_response().status == 200  # and the first then says nothing
        assert second.read_response().status == 200
        assert time.monotonic() - started < 1.5  # not after the first's 3 s linger
        second.close()  # else the worker lingers on it, with nobody else waiting
        first.send(b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")  # the parked one still works
        assert first.read_response().status == 200
    finally:
        gate.release()
        first.close()
        second.close()


def test_a_lingering_worker_is_called_back_when_a_new_request_arrives(live_server):
    """The worker lingers on a quiet keep-alive connection only while nobody needs it: a
    request that arrives during the linger is answered at once, not when the linger ends."""
    srv = live_server(apps.hello, threads=1, keepalive_linger=3.0, keepalive_timeout=10.0)
    with RawClient(srv.host, srv.port, timeout=5) as quiet:
        quiet.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert quiet.read_response().status == 200  # now its worker lingers, up to 3 s
        time.sleep(0.2)
        started = time.monotonic()
        response = exchange(srv.host, srv.port, b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
        assert response.status == 200
        assert time.monotonic() - started < 1.5
        quiet.send(b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")  # parked, and still served
        assert quiet.read_response().status == 200


def test_body_inactivity_timeout_is_408(live_server):
    srv = live_server(apps.echo, body_timeout=0.3)
    with RawClient(srv.host, srv.port, timeout=5) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        response = client.read_response()
        assert response.status == 408
        assert client.is_closed_by_server()


def test_send_timeout_drops_a_client_that_never_reads(live_server):
    big = b"x" * (8 * 1024 * 1024)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/big":
            start_response("200 OK", [("Content-Length", str(len(big) * 4))])
            return [big, big, big, big]
        return apps.hello(environ, start_response)

    srv = live_server(app, send_timeout=0.3, threads=1)
    sock = socket.create_connection((srv.host, srv.port), timeout=5)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read
        time.sleep(0.2)
        # the only worker is stuck sending to us until send_timeout frees it
        response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        assert response.status == 200
    finally:
        sock.close()


def test_every_worker_busy_and_queue_full_is_503_with_retry_after(live_server):
    gate = apps.Gate()
    srv = live_server(gate, threads=1, max_queued=1)
    first = RawClient(srv.host, srv.port)
    second = RawClient(srv.host, srv.port)
    try:
        first.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert gate.entered.acquire(timeout=5)  # the only worker is busy
        second.send(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")  # queued
        time.sleep(0.1)
        started = time.monotonic()
        third = exchange(srv.host, srv.port, b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        assert third.status == 503
        assert third.header("retry-after") == "1"
        assert time.monotonic() - started < 2.0
        gate.release()
        assert first.read_response().status == 200
        assert second.read_response().status == 200
    finally:
        gate.release()
        first.close()
        second.close()
