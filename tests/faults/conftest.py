"""Fault injection over real sockets: a server whose accepted sockets can be told to fail."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest

# tests/ops's fixtures for the subprocess tests (wsgikit serve as a child process)
from tests.ops.conftest import app_dir, serve  # noqa: F401
from wsgikit.config import ServerConfig
from wsgikit.server import Server
from wsgikit.server.connection import Connection


class FaultySocket:
    """A real accepted socket whose sends fail with ``error`` once ``budget`` bytes are out.

    Every other call goes to the real socket, so the connection polls and receives as usual.
    The bytes within the budget really reach the client (a fault *mid*-response).
    """

    def __init__(self, sock: socket.socket, budget: int, error: int) -> None:
        self._sock = sock
        self.budget = budget
        self.error = error
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def _allow(self, n: int) -> int:
        if self.budget <= 0:
            self.failures += 1
            raise OSError(self.error, os.strerror(self.error))
        return min(n, self.budget)

    def send(self, data: Any, *flags: int) -> int:
        allowed = self._allow(len(data))
        sent = self._sock.send(memoryview(data)[:allowed], *flags)
        self.budget -= sent
        return sent

    def sendall(self, data: Any) -> None:
        view = memoryview(data)
        while view:
            view = view[self.send(view):]

    def sendmsg(self, buffers: list[Any], *args: Any) -> int:
        return self.send(b"".join(buffers))

    def os_sendfile(self, out_fd: int, in_fd: int, offset: int, count: int) -> int:
        """What ``os.sendfile`` does for this socket: the budget, then the fault."""
        allowed = self._allow(count)
        sent = _real_os_sendfile(out_fd, in_fd, offset, allowed)
        self.budget -= sent
        return sent

    def sendfile(self, file: Any, offset: int = 0, count: Optional[int] = None) -> int:
        allowed = self._allow(count or 1 << 30)
        sent = self._sock.sendfile(file, offset, allowed)
        self.budget -= sent
        if count is None or sent < count:
            self.failures += 1
            raise OSError(self.error, os.strerror(self.error))
        return sent


_real_os_sendfile = os.sendfile
#: fd -> FaultySocket: the connection sends files with ``os.sendfile(fd, ...)`` on the real
#: socket's descriptor, which a wrapper object cannot intercept; the fixture routes those here.
_FAULTY_FDS: dict[int, FaultySocket] = {}


def _os_sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
    faulty = _FAULTY_FDS.get(out_fd)
    if faulty is None:
        return _real_os_sendfile(out_fd, in_fd, offset, count)
    return faulty.os_sendfile(out_fd, in_fd, offset, count)


class FaultServer:
    """A real server on 127.0.0.1:0; ``fail_next(budget, errno)`` arms the next connection."""

    def __init__(self, app: Any, **options: Any) -> None:
        options.setdefault("host", "127.0.0.1")
        options.setdefault("port", 0)
        options.setdefault("threads", 1)  # one worker: a following request proves it is free
        self.armed: list[tuple[int, int]] = []
        self.sockets: list[FaultySocket] = []
        outer = self

        class FaultyServer(Server):
            # make_connection, not a Connection subclass: the compiled build's Connection
            # cannot be subclassed from Python.
            def make_connection(self, sock: Any, address: Any, listener: Any) -> Connection:
                if outer.armed:
                    budget, error = outer.armed.pop(0)
                    sock = FaultySocket(sock, budget, error)
                    outer.sockets.append(sock)
                    _FAULTY_FDS[sock.fileno()] = sock
                return super().make_connection(sock, address, listener)

        self.server = FaultyServer(app, ServerConfig.from_mapping(options))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def fail_next(self, budget: int, error: int = errno.EPIPE) -> None:
        self.armed.append((budget, error))

    def wait_idle(self, timeout: float = 5.0) -> dict[str, int]:
        """Wait until no worker is busy and no connection is open; return the stats."""
        deadline = time.monotonic() + timeout
        stats = self.server.stats()
        while time.monotonic() < deadline:
            stats = self.server.stats()
            if stats["busy_workers"] == 0 and stats["open_connections"] == 0:
                return stats
            time.sleep(0.01)
        pytest.fail(f"the server did not free its worker and connection: {stats}")

    def stop(self) -> None:
        stopper = threading.Thread(target=self.server.shutdown, daemon=True)
        stopper.start()
        stopper.join(10)
        self.thread.join(10)
        self.server.server_close()


@pytest.fixture
def fault_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FaultServer]]:
    monkeypatch.setattr(os, "sendfile", _os_sendfile)
    started: list[FaultServer] = []

    def start(app: Any, **options: Any) -> FaultServer:
        server = FaultServer(app, **options)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
    _FAULTY_FDS.clear()
