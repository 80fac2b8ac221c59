"""A real wsgikit server on an ephemeral loopback port, run in a background thread."""

from __future__ import annotations

import socket
import threading
from typing import Any, Optional

import pytest

from wsgikit.server import make_server


class LiveServer:
    """``start()`` binds 127.0.0.1:0 and serves; ``stop()`` shuts down within a deadline."""

    def __init__(self, app: Any, **options: Any) -> None:
        options.setdefault("host", "127.0.0.1")
        options.setdefault("port", 0)
        self.app = app
        self.options = options
        self.server: Any = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self.server = make_server(self.app, **self.options)
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="live-server", daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.server is None:
            return
        stopper = threading.Thread(target=self.server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        self.server.server_close()
        self.server = None


def require_ipv6_loopback() -> None:
    """Skip (with the reason) where this machine has no IPv6 loopback to bind ``::1`` on."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
