"""App errors, close() once, client disconnects, graceful shutdown, many idle connections."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from tests.support import apps
from tests.support.rawhttp import RawClient, exchange

pytestmark = pytest.mark.server

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_app_error_before_headers_is_a_plain_500_and_a_logged_traceback(live_server, caplog):
    srv = live_server(apps.error_before_headers)
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        response = exchange(srv.host, srv.port, GET)
    assert response.status == 500
    assert response.header("content-type", ).startswith("text/plain")
    assert b"secret detail" not in response.body and b"Traceback" not in response.body
    assert len(response.body) < 200
    assert any("secret detail" in (r.exc_text or "") for r in caplog.records)


def test_app_error_after_headers_closes_without_a_second_status_line(live_server, caplog):
    srv = live_server(apps.error_after_headers)
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        with RawClient(srv.host, srv.port) as client:
            client.send(GET)
            response = client.read_response()
            assert response.status == 200
            assert response.body == b"first part"
            assert not response.complete  # no terminating chunk: the client sees the failure
            assert client.buffer == b""
    assert any("failed mid-body" in (r.exc_text or "") for r in caplog.records)


@pytest.mark.parametrize("app", [apps.crlf_header, apps.hop_by_hop_header])
def test_invalid_app_header_is_500_and_never_on_the_wire(live_server, caplog, app):
    srv = live_server(app)
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        response = exchange(srv.host, srv.port, GET)
    assert response.status == 500
    assert response.header("set-cookie") is None and response.header("x-bad") is None
    assert caplog.records


def test_close_is_called_once_per_response_including_errors(live_server):
    recorder = apps.Recorder(read_body=True)
    srv = live_server(recorder)
    with RawClient(srv.host, srv.port) as client:
        client.send(GET + GET)
        client.read_response()
        client.read_response()
    deadline = time.monotonic() + 3
    while recorder.closes < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.closes == 2


def test_client_disconnect_mid_body_is_survived(live_server):
    recorder = apps.Recorder(read_body=True)
    srv = live_server(recorder)
    client = RawClient(srv.host, srv.port)
    client.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
    time.sleep(0.1)
    client.close()
    deadline = time.monotonic() + 3
    while not recorder.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.errors and isinstance(recorder.errors[0], ConnectionError)
    assert exchange(srv.host, srv.port, GET).status == 200  # the server lives on


def test_client_disconnect_mid_response_closes_the_iterable(live_server):
    closed = threading.Event()

    class Endless:
        def __iter__(self):
            while True:
                yield b"x" * 65536

        def close(self):
            closed.set()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Endless()

    srv = live_server(app)
    client = RawClient(srv.host, srv.port)
    client.send(GET)
    client.sock.recv(1000)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # reset
    assert closed.wait(5)


def test_shutdown_finishes_in_flight_requests(live_server):
    srv = live_server(apps.slow(0.5))
    client = RawClient(srv.host, srv.port)
    client.send(GET)
    time.sleep(0.15)  # the request is running
    stopper = threading.Thread(target=srv.server.shutdown)
    stopper.start()
    response = client.read_response(timeout=5)
    assert response.status == 200 and response.body == b"slow"
    assert response.closes  # no keep-alive while shutting down
    stopper.join(5)
    assert not stopper.is_alive()
    client.close()


def test_shutdown_closes_idle_keep_alive_connections(live_server):
    srv = live_server(apps.hello, keepalive_timeout=30)
    client = RawClient(srv.host, srv.port)
    client.send(GET)
    assert client.read_response().status == 200
    time.sleep(0.1)
    started = time.monotonic()
    srv.server.shutdown()
    assert time.monotonic() - started < 3
    assert client.is_closed_by_server(timeout=3)
    client.close()


def test_shutdown_gives_up_after_graceful_timeout(live_server):
    gate = apps.Gate(timeout=10)
    srv = live_server(gate, graceful_timeout=0.3)
    client = RawClient(srv.host, srv.port)
    client.send(GET)
    assert gate.entered.acquire(timeout=5)
    started = time.monotonic()
    srv.server.shutdown()
    assert time.monotonic() - started < 3
    gate.release()
    client.close()


def test_stats_report_queue_workers_and_connections(live_server):
    srv = live_server(apps.hello, threads=3)
    with RawClient(srv.host, srv.port) as client:
        client.send(GET)
        client.read_response()
        stats = srv.server.stats()
    assert stats["threads"] == 3
    assert stats["open_connections"] >= 1
    assert stats["queued"] == 0


SERVER_SCRIPT = """
import sys
from tests.support import apps
from wsgikit.server import make_server
server = make_server(apps.hello, host="127.0.0.1", port=0, threads=4, header_timeout=60,
                     keepalive_timeout=60, backlog=4096, max_connections=10_100)
print(server.server_address[1], server.nofile_limit, flush=True)
server.serve_forever()
"""


@pytest.mark.slow
def test_ten_thousand_idle_connections_hold_no_worker():
    """10 000 idle sockets parked at once; a fresh request is still answered promptly.

    The server runs in a child process (it raises its own RLIMIT_NOFILE at start), so each
    process needs only one end of every connection.
    """
    import resource
    import subprocess
    import sys
    from pathlib import Path

    count = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 500
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.fail(f"hard RLIMIT_NOFILE {hard} is below the {wanted} this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT], cwd=root, stdout=subprocess.PIPE, text=True
    )
    idle: list[socket.socket] = []
    try:
        port_line = child.stdout.readline() if child.stdout else ""
        port, limit = (int(x) for x in port_line.split())
        assert limit >= wanted, f"the server could not raise its open-file limit ({limit})"
        deadline = time.monotonic() + 60
        while len(idle) < count and time.monotonic() < deadline:
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert len(idle) == count
        for s in idle[::500]:  # a sample of them send a request and stay open (parked)
            s.sendall(GET)
        for s in idle[::500]:
            s.settimeout(5)
            assert s.recv(100).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        response = exchange("127.0.0.1", port, GET, timeout=5)
        assert response.status == 200
        assert time.monotonic() - started < 5
        idle[-1].sendall(GET)  # the last one connected is still served
        idle[-1].settimeout(5)
        assert idle[-1].recv(100).startswith(b"HTTP/1.1 200 ")
    finally:
        for s in idle:
            s.close()
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        if child.stdout:
            child.stdout.close()


def test_handle_request_serves_one_request_in_the_calling_thread():
    from wsgikit.server import make_server

    with make_server(apps.hello, host="127.0.0.1", port=0) as server:
        server.timeout = 5
        port = server.server_address[1]
        result = {}

        def client():
            result["response"] = exchange("127.0.0.1", port, GET)

        thread = threading.Thread(target=client)
        thread.start()
        server.handle_request()
        thread.join(5)
    response = result["response"]
    assert response.status == 200 and response.closes  # one request, then close


def test_server_close_during_another_threads_shutdown_waits_for_its_drain(live_server):
    """``with server: ...`` exiting while shutdown() drains must not cut in-flight requests."""
    srv = live_server(apps.slow(0.5), graceful_timeout=5)
    client = RawClient(srv.host, srv.port)
    client.send(GET)
    time.sleep(0.15)  # the request is running
    server = srv.server
    stopper = threading.Thread(target=server.shutdown)
    stopper.start()
    time.sleep(0.05)  # shutdown() is draining now
    server.server_close()  # before the fix: drain(0) closed the running request's socket
    response = client.read_response(timeout=5)
    assert response.status == 200 and response.body == b"slow"
    stopper.join(5)
    assert not stopper.is_alive()
    client.close()


def test_shutdown_racing_serve_forever_never_raises():
    """shutdown() right after serve_forever() starts (the pool's threads may still be starting)."""
    from wsgikit.server import make_server

    errors: list[BaseException] = []
    for _ in range(20):
        server = make_server(apps.hello, host="127.0.0.1", port=0, threads=16)

        def serve(server=server) -> None:
            try:
                server.serve_forever(0.01)
            except BaseException as exc:  # noqa: BLE001 - the test collects any failure
                errors.append(exc)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            server.shutdown()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        thread.join(5)
        server.server_close()
        assert not thread.is_alive()
    assert errors == []
