"""Stopping a server without dropping requests: ``shutdown()``, ``drain()``, ``end_keep_alive()``.

``shutdown()`` (from another thread, or Ctrl-C/SIGTERM under ``serve()``): stop accepting,
taking first what the kernel already accepted; for a short grace (``DRAIN_GRACE``) a parked,
handshaking or PROXY-reading connection whose client sends a request is still served, then the
rest are closed; in-flight requests finish (their responses say ``Connection: close``) for up
to ``graceful_timeout`` seconds; then what is left is closed.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Optional

from wsgikit.server.listener import ACCEPT_BATCH

if TYPE_CHECKING:
    from wsgikit.config import ServerConfig
    from wsgikit.server.clientlog import ClientErrorLog
    from wsgikit.server.connection import Connection
    from wsgikit.server.keepalive import KeepAliveParker, WakeUp
    from wsgikit.server.workers import WorkerPool

__all__ = ["GracefulShutdown", "DRAIN_GRACE"]

log = logging.getLogger("wsgikit.error")

#: On shutdown, how long idle and handshaking connections may still bring a request.
DRAIN_GRACE = 1.0


class GracefulShutdown:
    """The stopping half of :class:`~wsgikit.server.Server`, a mix-in as socketserver's
    ``ThreadingMixIn`` is; the attributes it names are the server's own."""

    config: ServerConfig
    pool: WorkerPool
    parker: KeepAliveParker
    handshaker: Any
    proxy_reader: Any
    client_errors: ClientErrorLog
    no_keep_alive: bool
    _lock: threading.Lock
    _connections: set[Connection]
    _shutting_down: bool
    _drained: bool
    _drain_lock: threading.Lock
    _stop_request: bool
    _serving: bool
    _is_shut_down: threading.Event
    _wakeup: WakeUp
    listeners: list[socket.socket]

    def _adopt(self, sock: socket.socket, address: Any, listener: socket.socket
               ) -> Optional[Connection]:
        raise NotImplementedError  # the server's accept side

    def _read_proxy_header(self, sock: socket.socket, address: Any, listener: Any) -> None:
        raise NotImplementedError  # the server's accept side

    def end_keep_alive(self) -> None:
        """Answer from now on with ``Connection: close`` while still serving (a drain is coming).

        A proxy or client then opens new connections for its next requests, which go to other
        instances once the balancer has taken this one out, instead of keeping idle ones here
        that the drain would close under a request already on its way.
        """
        self.no_keep_alive = True

    def shutdown(self) -> None:
        """Stop serve_forever(), then let in-flight requests finish (``graceful_timeout``)."""
        self._stop_request = True
        self._wakeup.set()
        if self._serving:
            self._is_shut_down.wait()
        self.drain(self.config.graceful_timeout)

    def drain(self, timeout: float) -> bool:
        """Close idle connections, finish in-flight requests within ``timeout``, close the rest.

        Returns True if every in-flight request finished in time. A second caller (say
        ``server_close()`` while another thread's ``shutdown()`` is draining) waits for the first.
        """
        with self._drain_lock:
            return self._drain(timeout)

    def _drain(self, timeout: float) -> bool:
        if self._drained:
            return True
        self._stop_listening()
        self._shutting_down = True
        started = time.monotonic()
        # Connections between requests, still in their TLS handshake or still sending their
        # PROXY header are not cut at once: for a short grace one whose client speaks is served
        # (with Connection: close), so a worker restart under load (SIGHUP with --workers) drops
        # no request; what is still waiting after it is closed.
        grace = min(timeout, DRAIN_GRACE)
        handshaker, proxy_reader = self.handshaker, self.proxy_reader
        while (len(self.parker) or (handshaker is not None and len(handshaker))
               or (proxy_reader is not None and len(proxy_reader))) and (
            time.monotonic() - started < grace
        ):
            time.sleep(0.01)
        if proxy_reader is not None:
            for sock in proxy_reader.stop():
                sock.close()
        if handshaker is not None:
            for conn in handshaker.stop():
                conn.close()
        for conn in self.parker.stop():
            # One that has sent bytes (a request on its way) or never had its turn (it
            # connected before the listener closed) is served, with ``Connection: close``;
            # only a quiet keep-alive connection is simply closed.
            if conn.fresh or conn.has_input():
                if self.pool.submit(conn.serve, force=True):
                    continue
            conn.close()
        finished = self.pool.shutdown(max(0.0, timeout - (time.monotonic() - started)))
        with self._lock:
            left = list(self._connections)
        for conn in left:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes a worker blocked on it
            except OSError:
                pass
            conn.close()
        if not finished:
            log.warning("wsgikit: %d connection(s) still busy after %.1f s; closed",
                        len(left), timeout)
        self._drained = True
        self.client_errors.flush()
        return finished

    def _stop_listening(self) -> None:
        """Take the connections the kernel has already accepted, then close the listeners.

        Closing a listening socket resets every connection still in its backlog: clients that
        connected and sent a request would lose it. Taken here, they are served like the rest;
        after the close, new clients are refused (and may retry elsewhere) instead of reset.
        """
        pending: list[Connection] = []
        for listener in self.listeners:
            for _ in range(self.config.backlog + ACCEPT_BATCH):
                try:
                    sock, address = listener.accept()
                except OSError:  # BlockingIOError: the backlog is empty; or already closed
                    break
                if self.proxy_reader is not None:  # its header first (the reader still runs)
                    self._read_proxy_header(sock, address, listener)
                    continue
                conn = self._adopt(sock, address, listener)
                if conn is not None:
                    pending.append(conn)
            try:
                listener.close()
            except OSError:
                pass
        for conn in pending:
            if not self.pool.submit(conn.serve, force=True):
                conn.close()
