"""A real HAProxy in front of wsgikit sending PROXY protocol v1 (``send-proxy``) and v2
(``send-proxy-v2``): the app sees the client's own address, not HAProxy's.

The client connects from 127.0.0.5 (any 127/8 address is loopback) and HAProxy from 127.0.0.1,
the only trusted proxy, so the two addresses tell who is who.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.conftest import free_port, require_program
from tests.server.test_proxy_protocol import who

pytestmark = pytest.mark.e2e

CLIENT_ADDRESS = "127.0.0.5"

CONFIG = """\
global
    maxconn 256

defaults
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend http_v1
    mode http
    bind 127.0.0.1:{v1_port}
    default_backend wsgikit_v1

backend wsgikit_v1
    mode http
    server app 127.0.0.1:{app_port} send-proxy

frontend tcp_v2
    mode tcp
    bind 127.0.0.1:{v2_port}
    default_backend wsgikit_v2

backend wsgikit_v2
    mode tcp
    server app 127.0.0.1:{app_port} send-proxy-v2
"""


@pytest.fixture
def haproxy(tmp_path: Path, live_server: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    program = require_program("haproxy")
    server = live_server(who, proxy_protocol=True, trusted_proxies=("127.0.0.1",))
    ports = {"v1_port": free_port(), "v2_port": free_port(), "app_port": server.port}
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG.format(**ports))
    log = open(tmp_path / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([program, "-db", "-f", str(config)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        for port in (ports["v1_port"], ports["v2_port"]):
            while True:
                assert proc.poll() is None, (tmp_path / "haproxy.log").read_text()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "haproxy did not listen"
                    time.sleep(0.05)
        yield {**ports, "server": server}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def get_from(port: int, requests: int = 1) -> tuple[int, list[dict[str, Any]]]:
    """GET /who ``requests`` times on one connection from CLIENT_ADDRESS; (source port, docs)."""
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((CLIENT_ADDRESS, 0))
    sock.connect(("127.0.0.1", port))
    source_port = sock.getsockname()[1]
    docs = []
    with sock:
        buffer = b""
        for _ in range(requests):
            sock.sendall(b"GET /who HTTP/1.1\r\nHost: example.com\r\n\r\n")
            while b"\r\n\r\n" not in buffer or b"}" not in buffer.split(b"\r\n\r\n", 1)[1]:
                chunk = sock.recv(65536)
                assert chunk, buffer
                buffer += chunk
            head, rest = buffer.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 200"), head
            body, _, buffer = rest.partition(b"}")
            docs.append(json.loads(body + b"}"))
    return source_port, docs


@pytest.mark.parametrize("version", [1, 2])
def test_the_app_sees_the_client_behind_haproxy(haproxy: dict[str, Any], version: int) -> None:
    port = haproxy["v1_port"] if version == 1 else haproxy["v2_port"]
    source_port, docs = get_from(port, requests=3)
    for doc in docs:
        assert doc["REMOTE_ADDR"] == CLIENT_ADDRESS, doc
        assert doc["REMOTE_PORT"] == str(source_port), doc
        assert doc["SERVER_PORT"] == str(port), doc  # the port the client reached on HAProxy
        assert doc["version"] == version, doc
    stats = haproxy["server"].server.stats()
    assert stats["proxy_headers"] >= 1 and stats["proxy_headers_refused"] == 0


def test_a_client_that_skips_haproxy_is_refused(haproxy: dict[str, Any]) -> None:
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((CLIENT_ADDRESS, 0))  # not a trusted proxy
    sock.connect(("127.0.0.1", haproxy["app_port"]))
    with sock:
        sock.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET /who HTTP/1.1\r\nHost: x\r\n\r\n")
        try:  # closed without a response: an EOF, or a reset (the request was left unread)
            assert sock.recv(65536) == b""
        except ConnectionResetError:
            pass
