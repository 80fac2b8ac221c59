"""Many misbehaving clients over real sockets: counted exactly, summarised, never one line each."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import time

import pytest

from tests.conftest import require_module
from tests.support import apps
from tests.support.rawhttp import exchange
from wsgikit.server import make_server

pytestmark = pytest.mark.server


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a reset, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_flood_of_bad_clients_gives_a_bounded_number_of_log_lines(live_server, caplog):
    malformed, resets, slow = 120, 40, 3
    with caplog.at_level(logging.INFO, logger="wsgikit.error"):
        srv = live_server(apps.echo, threads=4, header_timeout=0.5)
        for _ in range(malformed):
            response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost x\r\n\r\n", timeout=5)
            assert response.status == 400
        for _ in range(resets):
            # a reset in the middle of a declared body: the app's read fails
            sock = socket.create_connection((srv.host, srv.port), timeout=5)
            head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
            sock.sendall(head + b"x" * 500)
            time.sleep(0.005)
            _reset(sock)
        slowpokes = []
        for _ in range(slow):  # half a head, then silence: 408 after header_timeout
            sock = socket.create_connection((srv.host, srv.port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHo")
            slowpokes.append(sock)
        totals = srv.server.client_errors.totals
        assert _wait_for(lambda: totals["malformed"] == malformed and totals["timeout"] == slow
                         and totals["reset"] >= resets), totals
        for sock in slowpokes:
            sock.close()
        during = [r for r in caplog.records if r.levelno >= logging.INFO]
        srv.stop()  # flushes the summary
    assert during == [], [r.getMessage() for r in during]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1, lines
    assert lines[0].startswith("wsgikit: client errors in the last ")
    assert f"{malformed} malformed requests from 1 client" in lines[0]
    assert f"{slow} timeouts from 1 client" in lines[0]
    assert "connections reset or abandoned from 1 client" in lines[0]


def test_server_faults_still_log_at_error(live_server, caplog):
    with caplog.at_level(logging.INFO, logger="wsgikit.error"):
        srv = live_server(apps.error_before_headers)
        response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response.status == 500
        srv.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert not any("client errors" in r.getMessage() for r in caplog.records)


def test_each_client_error_is_a_debug_line(live_server, caplog):
    with caplog.at_level(logging.DEBUG, logger="wsgikit.error"):
        srv = live_server(apps.hello)
        exchange(srv.host, srv.port, b"GARBAGE\r\n\r\n")
        assert _wait_for(lambda: srv.server.client_errors.totals["malformed"] == 1)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(line.startswith("wsgikit: client 127.0.0.1: malformed request: port ")
               for line in debug), debug


def test_a_tls_client_gone_before_its_socket_is_wrapped_is_counted_not_a_traceback(caplog):
    """Found by the soak: bytes then a reset before the accept loop wraps the socket made
    ``wrap_socket`` raise, and the server logged a traceback per such client."""
    trustme = require_module("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    server = make_server(apps.hello, "127.0.0.1", 0, ssl_context=server_ctx)
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        client.sendall(b"\x16\x03\x01 half a hello")
        time.sleep(0.05)
        _reset(client)
        time.sleep(0.05)
        sock, address = listener.accept()
        with caplog.at_level(logging.INFO, logger="wsgikit.error"):
            assert server._adopt(sock, address, listener) is None
        assert sock.fileno() == -1  # closed
        assert server.client_errors.totals["tls"] == 1
        assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    finally:
        listener.close()
        server.server_close()
