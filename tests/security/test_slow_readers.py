"""Finding 5: clients that read our response slowly must not hold workers for ever, and honest
slow downloads must not be cut.

``send_timeout`` alone restarts on every bit of progress, so a client that reads a little at a
time keeps a worker as long as the response lasts. ``min_send_rate`` bounds the average speed
while the server waits on a client. Every client here reads at a paced rate from a socket with
a small receive buffer, and every wait is bounded."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.support import apps
from tests.support.live import LiveServer
from tests.support.rawhttp import exchange

CHUNK = b"x" * 65536
#: The server's send buffer in these tests. Left to autotuning it reaches megabytes on loopback,
#: and a slow reader then makes the server wait longer than any short send_timeout at a
#: time; a small fixed one makes each wait short, as on a real network path.
SNDBUF = 32 * 1024


def small_send_buffer(srv: LiveServer) -> LiveServer:
    """Connections accepted from now on inherit the listener's (fixed, small) send buffer."""
    for listener in srv.server.listeners:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
    return srv


def streaming_app(environ: dict[str, Any], start_response: Any) -> Any:
    """/stream: 64 MiB in 64 KiB chunks (a long download); /: a small answer."""
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Length", str(len(CHUNK) * 1024))])
        return (CHUNK for _ in range(1024))
    return apps.hello(environ, start_response)


class PacedReader(threading.Thread):
    """GET ``path`` and read the response at about ``rate`` bytes/s, from a socket with a small
    receive buffer, until EOF, ``body_bytes`` of body, ``stop``, or ``limit`` seconds."""

    def __init__(self, srv: LiveServer, path: str, rate: float, limit: float,
                 body_bytes: int = -1) -> None:
        super().__init__(daemon=True)
        self.srv, self.path, self.rate, self.limit = srv, path, rate, limit
        self.body_bytes = body_bytes
        self.received = 0
        self.body = 0
        self.closed_by_server = False
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(1.0)
        head = b""
        try:
            sock.connect((self.srv.host, self.srv.port))
            sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            self.ready.set()
            start = time.monotonic()
            while time.monotonic() - start < self.limit and not self.stop.is_set():
                try:
                    data = sock.recv(2048)
                except socket.timeout:
                    continue
                except OSError:
                    self.closed_by_server = True
                    return
                if not data:
                    self.closed_by_server = True
                    return
                self.received += len(data)
                if self.body == 0 and b"\r\n\r\n" not in head:
                    head += data
                    if b"\r\n\r\n" in head:
                        self.body = len(head.split(b"\r\n\r\n", 1)[1])
                else:
                    self.body += len(data)
                if 0 <= self.body_bytes <= self.body:
                    return
                ahead = start + self.received / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        finally:
            self.ready.set()
            sock.close()


@pytest.fixture
def big_file(tmp_path: Path) -> str:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        for _ in range(512):
            f.write(CHUNK)  # 32 MiB
    return str(path)


def routed(big_file: str) -> Callable[..., Any]:
    serve_file = apps.file_app(big_file)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/file":
            return serve_file(environ, start_response)
        return streaming_app(environ, start_response)

    return app


@pytest.mark.parametrize("path", ["/stream", "/file"])
def test_a_slow_reader_cannot_hold_a_worker(
    live_server: Callable[..., LiveServer], big_file: str, path: str
) -> None:
    """One worker, one client reading 20 KB/s: each wait for the socket ends well within
    send_timeout (so the stall timer alone never fires), but the average is far below
    min_send_rate, so the worker must come free for the next client."""
    srv = small_send_buffer(
        live_server(routed(big_file), threads=1, send_timeout=5.0, min_send_rate=256 * 1024))
    reader = PacedReader(srv, path, rate=20_000, limit=30.0)
    reader.start()
    assert reader.ready.wait(5)
    time.sleep(0.5)  # the only worker is now feeding the slow reader
    started = time.monotonic()
    response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=20)
    assert response.status == 200
    assert time.monotonic() - started < 20
    assert reader.is_alive()  # still reading what the kernel buffered: it was cut, not done
    reader.stop.set()
    reader.join(5)


def test_honest_slow_downloads_are_not_cut(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """800 KiB at 100 KB/s takes about 8 s, four times send_timeout, for a single large block
    (the vectored path), a file (sendfile) and a stream: the average rate is above
    min_send_rate, so each download must complete."""
    size = 800 * 1024
    block = os.urandom(size)
    (tmp_path / "f.bin").write_bytes(block)
    serve_file = apps.file_app(str(tmp_path / "f.bin"))

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if path == "/file":
            return serve_file(environ, start_response)
        start_response("200 OK", [("Content-Length", str(size))])
        if path == "/block":
            return [block]
        return (block[i : i + 8192] for i in range(0, size, 8192))

    srv = small_send_buffer(
        live_server(app, threads=4, send_timeout=2.0, min_send_rate=32 * 1024))
    readers = [PacedReader(srv, path, rate=100_000, limit=30.0, body_bytes=size)
               for path in ("/block", "/file", "/stream")]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(35)
    for reader in readers:
        assert reader.body == size, (reader.path, reader.body, reader.closed_by_server)


def test_min_send_rate_setting_from_flag_and_env() -> None:
    from wsgikit.config import ConfigError, ServerConfig
    from wsgikit.ops.cli import _serve_config, build_parser

    assert ServerConfig().min_send_rate == 1024  # on by default
    assert ServerConfig.from_env({"WSGIKIT_MIN_SEND_RATE": "64K"}).min_send_rate == 65536
    args = build_parser().parse_args(["serve", "--min-send-rate", "0", "app:app"])
    assert _serve_config(args).min_send_rate == 0  # off: only send_timeout stalls count
    with pytest.raises(ConfigError, match="min_send_rate"):
        ServerConfig(min_send_rate=-1)
