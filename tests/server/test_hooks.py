"""The server's extension hooks work the same in both builds (``make test`` runs this file on
the Python build and on the compiled one).

``Connection`` and ``WorkerPool`` are compiled with mypyc in the compiled build, and a compiled
class cannot be subclassed from Python. So the hooks are methods of ``Server`` (pure Python in
both builds) that build the parts by composition: ``make_connection()`` and ``make_pool()``.
What only the Python build could do (a subclass of ``Connection``) is refused in both.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
from typing import Any, Callable

import pytest

from tests.support.compiled import COMPILED
from tests.support.live import LiveServer
from wsgikit.config import ServerConfig
from wsgikit.server import Server
from wsgikit.server.connection import Connection
from wsgikit.server.workers import WorkerPool

pytestmark = [pytest.mark.server]


def describe(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = f"{environ.get('myapp.conn_id')} {threading.current_thread().name}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _get(server: Server, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


CONFIG = ServerConfig(host="127.0.0.1", port=0, threads=2)




class CountingServer(Server):
    """The connection hook (a per-connection environ key) and the pool hook (thread names)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.made: list[Connection] = []
        super().__init__(*args, **kwargs)

    def make_connection(self, sock: socket.socket, address: Any,
                        listener: socket.socket) -> Connection:
        conn = super().make_connection(sock, address, listener)
        conn.base_environ = {**conn.base_environ, "myapp.conn_id": str(len(self.made) + 1)}
        self.made.append(conn)
        return conn

    def make_pool(self) -> WorkerPool:
        return WorkerPool(self.config.threads, self.config.max_queued, name="myapp-worker")


def test_make_connection_and_make_pool_hooks_over_a_real_socket(
    live_server: Callable[..., LiveServer]
) -> None:
    server = live_server(describe, server_class=CountingServer, threads=2).server
    answers = [_get(server), _get(server)]  # two connections, one after the other
    assert [status for status, _ in answers] == [200, 200]
    seen = [body.decode().split() for _, body in answers]
    assert [conn_id for conn_id, _ in seen] == ["1", "2"]
    assert all(thread.startswith("myapp-worker-") for _, thread in seen), seen
    assert len(server.made) == 2 and all(type(c) is Connection for c in server.made)


@pytest.mark.parametrize("name", ["connection_class", "pool_class", "parker_class"])
def test_the_old_part_class_hooks_are_refused_when_the_subclass_is_defined(name: str) -> None:
    """They could only ever hold subclasses of compiled classes: a clear error in both builds,
    naming what to override instead, not a surprise when the compiled wheel is installed."""
    with pytest.raises(TypeError, match=f"Legacy.{name}: Server takes no part classes"):
        type("Legacy", (Server,), {name: object})


def test_a_connection_subclass_is_never_served(
    live_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    """The same code on both builds: the compiled build refuses to make an instance of a Python
    subclass of Connection (mypyc's TypeError); the Python build could serve it, but the server
    refuses it too, so code that works on one build works on the other. Either way the error is
    logged, the socket closed, and the server goes on serving."""
    my_connection = type("MyConnection", (Connection,), {})

    class SubclassingServer(Server):
        def make_connection(self, sock: socket.socket, address: Any,
                            listener: socket.socket) -> Connection:
            conn: Connection = my_connection(self, sock, address, self.base_environ(listener))
            return conn

    server = live_server(describe, server_class=SubclassingServer, threads=2).server
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            _get(server)
    expected = ("interpreted classes cannot inherit from compiled" if COMPILED
                else "make_connection() must return the Connection of super().make_connection()")
    assert expected in caplog.text
    assert "could not set up a connection" in caplog.text
    assert server.stats()["open_connections"] == 0


def test_make_pool_must_return_a_worker_pool() -> None:
    class Wrapped:
        def __init__(self, pool: WorkerPool) -> None:
            self.pool = pool

    class WrappingServer(Server):
        def make_pool(self) -> WorkerPool:
            return Wrapped(super().make_pool())  # type: ignore[return-value]

    with pytest.raises(TypeError, match="make_pool\\(\\) must return a WorkerPool"):
        WrappingServer(describe, CONFIG)
