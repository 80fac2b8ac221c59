"""Same class as finding 5, on the way in: ``body_timeout`` restarts on every byte, so a client
that trickles a request body keeps the worker that runs the app for as long as it likes.
``min_body_rate`` bounds the average upload speed while the server waits for body bytes."""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any, Callable

from tests.support import apps
from tests.support.live import LiveServer
from tests.support.rawhttp import exchange


def reading_app(environ: dict[str, Any], start_response: Any) -> Any:
    if environ["REQUEST_METHOD"] == "POST":
        size = len(environ["wsgi.input"].read())
        body = f"read {size}".encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    return apps.hello(environ, start_response)


class Uploader(threading.Thread):
    """POST ``size`` body bytes at about ``rate`` bytes/s; keeps the first reply line."""

    def __init__(self, srv: LiveServer, size: int, rate: float, limit: float) -> None:
        super().__init__(daemon=True)
        self.srv, self.size, self.rate, self.limit = srv, size, rate, limit
        self.reply = b""
        self.started = threading.Event()

    def run(self) -> None:
        with socket.create_connection((self.srv.host, self.srv.port), timeout=2) as sock:
            sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {self.size}\r\n\r\n"
                         .encode())
            self.started.set()
            start = time.monotonic()
            sent = 0
            try:
                while sent < self.size and time.monotonic() - start < self.limit:
                    if select.select([sock], [], [], 0)[0]:  # the server answered early
                        break
                    piece = min(512, self.size - sent)
                    sock.sendall(b"u" * piece)
                    sent += piece
                    ahead = start + sent / self.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                deadline = time.monotonic() + 5
                while b"\r\n" not in self.reply and time.monotonic() < deadline:
                    data = sock.recv(4096)
                    if not data:
                        break
                    self.reply += data
            except OSError:
                pass


def test_a_trickled_body_cannot_hold_a_worker(live_server: Callable[..., LiveServer]) -> None:
    """512 bytes every 0.5 s (1 KB/s): never silent for body_timeout, far below
    min_body_rate; the only worker must come free, and the client gets a 408."""
    srv = live_server(reading_app, threads=1, body_timeout=2.0, min_body_rate=16 * 1024)
    uploader = Uploader(srv, size=10 * 1024 * 1024, rate=1024, limit=30)
    uploader.start()
    assert uploader.started.wait(5)
    time.sleep(0.3)
    started = time.monotonic()
    response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=15)
    assert response.status == 200
    assert time.monotonic() - started < 15
    uploader.join(10)
    assert uploader.reply.startswith(b"HTTP/1.1 408"), uploader.reply


def test_an_honest_slow_upload_completes(live_server: Callable[..., LiveServer]) -> None:
    """96 KiB at 24 KB/s (4 s, twice body_timeout) is above min_body_rate: it must finish."""
    srv = live_server(reading_app, threads=2, body_timeout=2.0, min_body_rate=8 * 1024)
    uploader = Uploader(srv, size=96 * 1024, rate=24 * 1024, limit=20)
    uploader.start()
    uploader.join(25)
    assert uploader.reply.startswith(b"HTTP/1.1 200"), uploader.reply


def test_min_body_rate_setting() -> None:
    import pytest

    from wsgikit.config import ConfigError, ServerConfig

    assert ServerConfig().min_body_rate == 500  # Apache mod_reqtimeout's MinRate
    assert ServerConfig.from_env({"WSGIKIT_MIN_BODY_RATE": "2K"}).min_body_rate == 2048
    with pytest.raises(ConfigError, match="min_body_rate"):
        ServerConfig(min_body_rate=-1)
