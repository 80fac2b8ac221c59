"""The server: a ``socketserver.TCPServer`` that accepts connections and hands them to workers.

Call flow of one connection::

    serve_forever()  (the accepting thread: one selector over every listening socket)
        accept() -> verify_request() -> TCP_NODELAY, TLS wrap -> make_connection()
        pool.submit(conn.serve)  ----------------- queue full? -> 503 + Retry-After, close
                  |
                  v   (a worker thread: workers.WorkerPool)
        Connection.serve()
            recv -> http11.RequestParser -> RequestHead
            environ.build_environ -> gateway.Gateway.run(app)  -> send (head + body)
            server.on_response(ResponseRecord)   (access log, on_response= hook)
            pipelined bytes buffered?      -> next request, same worker
            next request within keepalive_linger? -> next request, same worker
            otherwise                      -> park(conn)
                  |
                  v   (one thread: keepalive.KeepAliveParker, epoll)
        readable -> pool.submit(conn.serve)      deadline passed -> 408 (half a head) or close

Elsewhere: binding in :mod:`~wsgikit.server.listener`, shutdown and drain in
:mod:`~wsgikit.server.shutdown`, ``make_server()``/``serve()`` in :mod:`~wsgikit.server.api`.
The hooks a subclass may override are listed in docs/server.rst; they are methods of this
(pure-Python) class in both builds, because the compiled build's ``Connection`` and
``WorkerPool`` cannot be subclassed from Python.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

from wsgikit.config import ServerConfig
from wsgikit.http11 import error_response
from wsgikit.server.clientlog import ClientErrorLog, LogThrottle
from wsgikit.server.connection import Connection, ResponseRecord
from wsgikit.server.environ import base_environ
from wsgikit.server.keepalive import KeepAliveParker, WakeUp
from wsgikit.server.listener import ACCEPT_BATCH, Listener, bind_listeners, close_listeners
from wsgikit.server.shutdown import DRAIN_GRACE, GracefulShutdown
from wsgikit.server.workers import WorkerPool

__all__ = ["Server", "raise_nofile_limit", "ResponseRecord", "DRAIN_GRACE"]

log = logging.getLogger("wsgikit.error")

#: While accept() keeps failing for want of resources (EMFILE...), one log line per this many
#: seconds, not one per attempt: the loop retries every ACCEPT_BACKOFF seconds.
ACCEPT_ERROR_LOG_INTERVAL = 10.0
ACCEPT_BACKOFF = 0.05


def raise_nofile_limit(wanted: Optional[int] = None) -> int:
    """Raise the soft RLIMIT_NOFILE toward the hard limit (for 10 000 idle connections).

    Returns the soft limit now in force (-1 where the ``resource`` module does not exist).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if wanted is not None:
        target = min(target, max(wanted, soft))
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("wsgikit: could not raise the open-file limit to %d: %s", target, exc)
    return int(soft)


class Server(GracefulShutdown, socketserver.TCPServer):
    """A threaded HTTP/1.1 WSGI server on one or more listening sockets."""

    allow_reuse_address = True  # socketserver's flag, true here: the binder sets SO_REUSEADDR

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, instead in (("connection_class", "override make_connection()"),
                              ("pool_class", "override make_pool()"),
                              ("parker_class", "the keep-alive parker is not replaceable")):
            if name in cls.__dict__:  # the old hooks: subclassing a compiled class fails there
                raise TypeError(f"{cls.__name__}.{name}: Server takes no part classes (the "
                                f"compiled build's cannot be subclassed); {instead}")

    def __init__(
        self,
        app: Any,
        config: Optional[ServerConfig] = None,
        *,
        sockets: Optional[Iterable[socket.socket | Listener]] = None,
        ssl_context: Any = None,
        on_response: Optional[Callable[[ResponseRecord], None]] = None,
        environ_extra: Optional[Mapping[str, Any]] = None,
        bind_and_activate: bool = True,
    ) -> None:
        self.config = config if config is not None else ServerConfig()
        #: Keys added to every request's environ (e.g. ``wsgikit.stats``).
        self.environ_extra = dict(environ_extra or {})
        self.app = app
        self.ssl_context = ssl_context
        self.given_sockets = [
            sock.sock if isinstance(sock, Listener) else sock for sock in sockets or ()
        ]
        self.listeners: list[socket.socket] = []
        self._bound: list[Listener] = []  # what server_bind() bound (and closes)
        self._environs: dict[int, dict[str, Any]] = {}
        socketserver.BaseServer.__init__(self, ("", 0), socketserver.BaseRequestHandler)
        self.request_queue_size = self.config.backlog
        self._on_response = on_response
        #: The ``access_log`` setting's writer (None when off): ``make_server()``, ``serve()``
        #: and ``wsgikit serve`` all log through it.
        self.access_log: Any = None
        if self.config.access_log:
            from wsgikit.server.accesslog import ServerAccessLog  # json, datetime: only if used

            self.access_log = ServerAccessLog(self.config, self.stats)
        self.record_responses = (
            on_response is not None
            or self.access_log is not None
            or type(self).on_response is not Server.on_response
        )
        self.pool = self.make_pool()
        if type(self.pool) is not WorkerPool:
            raise TypeError(f"make_pool() must return a WorkerPool, not {type(self.pool)!r}")
        #: Client-caused errors: counted, logged at DEBUG, summarised at INFO once a minute.
        self.client_errors = ClientErrorLog(log)
        self.parker = KeepAliveParker(self._wake_parked, self._expire_parked)
        #: TLS handshakes run here, never in a worker (``wsgikit.server.tls.Handshaker``).
        self.handshaker: Any = None
        if ssl_context is not None:
            from wsgikit.server.tls import Handshaker

            self.handshaker = Handshaker(
                self._handshake_done, self.config.handshake_timeout,
                server_header=self.config.server_header, record_error=self.client_errors.record,
            )
        #: --proxy-protocol: PROXY headers are read here, before TLS and HTTP.
        self.proxy_reader: Any = None
        self._proxy_networks: tuple[Any, ...] = ()
        self._untrusted_log = LogThrottle(60.0)  # visible, but not once per connection
        if self.config.proxy_protocol:
            from wsgikit.server.forwarded import is_trusted, parse_networks
            from wsgikit.server.proxy_reader import ProxyHeaderReader

            self._is_trusted = is_trusted
            self._proxy_networks = parse_networks(self.config.trusted_proxies)
            self.proxy_reader = ProxyHeaderReader(
                self._proxy_done, self.config.header_timeout, self.client_errors.record,
            )
        self._lock = threading.Lock()
        self._connections: set[Connection] = set()
        self._shutting_down = False
        self.no_keep_alive = False  # end_keep_alive()
        self._rejected = LogThrottle(1.0)  # one line a second, not one per refusal
        #: accept() failing for want of resources: one line per ACCEPT_ERROR_LOG_INTERVAL
        self._accept_failures = LogThrottle(ACCEPT_ERROR_LOG_INTERVAL)
        self._drained = False
        self._drain_lock = threading.Lock()
        self._started = False
        self._stop_request = False
        self._serving = False
        self._is_shut_down = threading.Event()
        self._is_shut_down.set()
        self._wakeup = WakeUp()  # wakes serve_forever's select for shutdown()
        self.nofile_limit = raise_nofile_limit()
        if bind_and_activate:
            try:
                self.server_bind()
                self.server_activate()
            except BaseException:
                self.server_close()
                raise

    # -- binding ----------------------------------------------------------------------------

    def server_bind(self) -> None:
        """Take the given sockets, or bind ``config.bind_specs()`` with the one binder
        (``wsgikit.server.listener.bind_listeners``, as ``wsgikit serve`` does); set
        ``server_address``."""
        if self.given_sockets:
            self.listeners = list(self.given_sockets)
        else:
            self._bound = bind_listeners(self.config)
            self.listeners = [bound.sock for bound in self._bound]
        self.socket = self.listeners[0]
        self.server_address = self.socket.getsockname()

    def server_activate(self) -> None:
        for sock in self.listeners:
            sock.listen(self.request_queue_size)
            sock.setblocking(False)

    def fileno(self) -> int:
        return self.socket.fileno()

    # -- hooks ------------------------------------------------------------------------------

    def get_app(self) -> Any:
        return self.app

    def set_app(self, app: Any) -> None:
        self.app = app

    def base_environ(self, listener: socket.socket) -> dict[str, Any]:
        """The environ keys shared by every request on ``listener`` (built once, then cached)."""
        cached = self._environs.get(id(listener))
        if cached is not None:
            return cached
        address = listener.getsockname()
        if isinstance(address, tuple):
            name, port = str(address[0]), str(address[1])
        else:
            name, port = str(address or "localhost"), ""
        scheme = "https" if self.ssl_context is not None else self.config.url_scheme
        environ = base_environ(
            server_name=name,
            server_port=port,
            url_scheme=scheme,
            multiprocess=self.config.workers > 1,
            extra=self.environ_extra,
        )
        self._environs[id(listener)] = environ
        return environ

    def make_connection(
        self, sock: socket.socket, address: Any, listener: socket.socket
    ) -> Connection:
        """The connection hook: a subclass may set socket options, change the base environ,
        keep a reference, then return ``super().make_connection(...)`` (a ``Connection``
        itself, never a subclass: the compiled build's cannot be subclassed)."""
        return Connection(self, sock, address, self.base_environ(listener))

    def make_pool(self) -> WorkerPool:
        """The pool hook, called once by ``__init__``: a ``WorkerPool`` itself (other sizes or
        thread names), not a subclass, for the reason ``make_connection()`` gives."""
        return WorkerPool(self.config.threads, self.config.max_queued)

    def on_response(self, record: ResponseRecord) -> None:
        """After each response when ``record_responses`` is set: the access-log line, then the
        ``on_response=`` hook given to the constructor."""
        if self.access_log is not None:
            self.access_log(record)
        if self._on_response is not None:
            self._on_response(record)

    def service_actions(self) -> None:
        """Called by the accept loop about twice a second: writes the client-error summary."""
        self.client_errors.tick()

    def stats(self) -> dict[str, int]:
        pool = self.pool
        stats = {
            "queued": pool.queued,
            "busy_workers": pool.busy,
            "idle_workers": pool.idle,
            "threads": pool.threads,
            "open_connections": len(self._connections),
            "parked_connections": len(self.parker),
            "rejected": self._rejected.events,
            **{f"client_{kind}": n for kind, n in self.client_errors.totals.items()},
        }
        if self.handshaker is not None:
            stats.update(self.handshaker.stats())
        if self.proxy_reader is not None:
            stats.update(self.proxy_reader.stats())
        return stats

    def set_ssl_context(self, context: Any) -> None:
        """Use ``context`` for connections accepted from now on (certificate rotation); open
        connections keep the one they were accepted with."""
        if self.ssl_context is None:
            raise ValueError("set_ssl_context: this server was not started with TLS")
        self.ssl_context = context

    # -- what connections call ---------------------------------------------------------------

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def queued(self) -> int:
        return self.pool.queued

    def linger_begin(self) -> int:
        return self.pool.linger_begin()

    def linger_end(self) -> None:
        self.pool.linger_end()

    def take_call(self) -> bool:
        return self.pool.take_call()

    def park(self, conn: Connection, deadline: float) -> bool:
        # also while draining, until the drain grace ends and the parker stops (False then)
        return self.parker.park(conn, deadline)

    def connection_closed(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _wake_parked(self, conn: Connection) -> None:
        conn.ready_at = time.monotonic()
        # A connection already served comes back whatever the queue holds (the connection limit
        # bounds those); a new one counts against max_queued and is refused with 503 past it.
        if not self.pool.submit(conn.serve, force=not conn.fresh):
            if self.pool.closed:
                conn.close()
            else:
                self._reject_busy(conn)

    def _expire_parked(self, conn: Connection) -> None:
        conn.expire()

    def _handshake_done(self, conn: Connection, got_data: bool) -> None:
        """The handshake thread finished ``conn``'s handshake: a worker reads the request once
        it has begun to arrive; until then the connection waits in the keep-alive parker."""
        if got_data:
            conn.ready_at = time.monotonic()
            if not self.pool.submit(conn.serve):
                if self.pool.closed:
                    conn.close()
                else:
                    self._reject_busy(conn)
        elif not self.park(conn, conn.accepted_at + self.config.header_timeout):
            conn.close()  # shutting down

    # -- serving ----------------------------------------------------------------------------

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self.pool.start()
            self.parker.start()
            if self.handshaker is not None:
                self.handshaker.start()
            if self.proxy_reader is not None:
                self.proxy_reader.start()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept connections until :meth:`shutdown` (socketserver semantics)."""
        self._start()
        self._is_shut_down.clear()
        self._serving = True
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._wakeup.reader, selectors.EVENT_READ, None)
            for sock in self.listeners:
                if sock.fileno() >= 0:  # a shutdown() that came first has closed them
                    selector.register(sock, selectors.EVENT_READ, sock)
            max_connections = self.config.max_connections
            events: list[tuple[selectors.SelectorKey, int]]
            while not self._stop_request:
                if len(self._connections) >= max_connections:
                    # at the limit: leave new connections in the backlog for a moment
                    events = []
                    time.sleep(0.01)
                else:
                    events = selector.select(poll_interval)
                for key, _ in events:
                    if key.data is None:
                        self._wakeup.clear()
                        continue
                    try:
                        self._accept_from(key.data)
                    except Exception:  # never let one bad connection stop the accept loop
                        log.exception("wsgikit: error while accepting a connection")
                self.service_actions()
        finally:
            selector.close()
            self._stop_request = False
            self._serving = False
            self._is_shut_down.set()

    def handle_request(self) -> None:
        """Accept one connection and serve one request in this thread (socketserver semantics)."""
        self._start()
        timeout = self.timeout
        selector = selectors.DefaultSelector()
        try:
            for sock in self.listeners:
                selector.register(sock, selectors.EVENT_READ, sock)
            events = selector.select(timeout)
        finally:
            selector.close()
        if not events:
            self.handle_timeout()
            return
        listener = events[0][0].data
        try:
            sock, address = listener.accept()
        except OSError:
            return
        conn = self._adopt(sock, address, listener)
        if conn is not None:
            conn.max_requests = 1
            conn.serve()

    def _accept_from(self, listener: socket.socket) -> None:
        max_connections = self.config.max_connections
        for _ in range(ACCEPT_BATCH):
            if len(self._connections) >= max_connections:
                return  # the limit holds within a batch too: the rest waits in the backlog
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._accept_failed(exc)
                    time.sleep(ACCEPT_BACKOFF)
                elif exc.errno not in (errno.ECONNABORTED, errno.EPROTO):
                    log.error("wsgikit: accept failed: %s", exc)
                return
            if self._accept_failures.events:
                log.warning("wsgikit: accepting again after %d failed accept() calls",
                            self._accept_failures.events)
                self._accept_failures.reset()
            if self.proxy_reader is not None:
                self._read_proxy_header(sock, address, listener)
                continue
            conn = self._adopt(sock, address, listener)
            if conn is None:
                continue
            self._dispatch_new(conn)

    def _dispatch_new(self, conn: Connection) -> None:
        """A new connection: to the handshake thread (TLS), a free worker, or the parker."""
        if self.handshaker is not None:
            # TLS: the handshake thread takes it; a worker sees it only once the handshake
            # is done and its request has begun (a silent client costs no worker)
            if not self.handshaker.add(conn):
                conn.close()  # shutting down
            return
        pool = self.pool
        if pool.idle > pool.queued:
            # a worker is free: it reads the request at once (usually already here)
            if not pool.submit(conn.serve):
                self._reject_busy(conn)
        elif not self.park(conn, conn.accepted_at + self.config.header_timeout):
            conn.close()  # shutting down
        # else: parked until its first bytes arrive, holding neither a worker nor a
        # queue slot (a burst of connections that send nothing cannot fill the queue)

    def _read_proxy_header(self, sock: socket.socket, address: Any, listener: Any) -> None:
        """--proxy-protocol: a trusted balancer's connection goes to the header reader; anyone
        else is closed without a response (a PROXY header from them would be a forged address)."""
        peer = str(address[0]) if isinstance(address, tuple) and address else ""
        if not self._is_trusted(peer, self._proxy_networks):
            self.client_errors.record("malformed", peer, "PROXY protocol: not a --trusted-proxy "
                                      "address; closed")
            if self._untrusted_log.count():
                log.warning("wsgikit: --proxy-protocol: refused a connection from %s, which is "
                            "not a --trusted-proxy address (logged once a minute)", peer or "?")
            sock.close()
            return
        if not self.proxy_reader.add(sock, address, listener, time.monotonic()):
            sock.close()  # shutting down

    def _proxy_done(self, sock: socket.socket, address: Any, listener: Any, accepted_at: float,
                    header: Any) -> None:
        """The PROXY header is read: the connection goes on as if accepted from ``address``."""
        from wsgikit.server.proxy_reader import proxy_environ

        conn = self._adopt(sock, address, listener)
        if conn is None:
            return
        conn.accepted_at = accepted_at  # the header timeout counts from the accept
        conn.base_environ = {**conn.base_environ, **proxy_environ(header)}
        self._dispatch_new(conn)

    def _accept_failed(self, exc: OSError) -> None:
        """Count a resource failure of accept(); log it once per ACCEPT_ERROR_LOG_INTERVAL."""
        due = self._accept_failures.count()
        if due is None:
            return
        failed, seconds = due
        if seconds == float("inf"):
            log.error("wsgikit: accept failed (%s); new connections wait in the backlog, "
                      "retrying every %g s", exc, ACCEPT_BACKOFF)
        else:
            log.error("wsgikit: accept still failing (%s): %d failed calls in the last %.0f s",
                      exc, failed, seconds)

    def _adopt(
        self, sock: socket.socket, address: Any, listener: socket.socket
    ) -> Optional[Connection]:
        try:
            if not self.verify_request(sock, address):
                sock.close()
                return None
            try:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.ssl_context is not None:
                    sock = self.ssl_context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
            except OSError as exc:
                # The client left (wrap_socket: "Closed before TLS handshake with data in recv
                # buffer") before its socket was set up: its doing, counted, no traceback.
                client = str(address[0]) if isinstance(address, tuple) and address else ""
                kind = "tls" if self.ssl_context is not None else "reset"
                self.client_errors.record(kind, client, str(exc))
                sock.close()
                return None
            conn = self.make_connection(sock, address, listener)
            if type(conn) is not Connection:  # what works in the Python build only
                raise TypeError(f"make_connection() must return the Connection of "
                                f"super().make_connection(), not {type(conn)!r}")
        except Exception:
            log.exception("wsgikit: could not set up a connection from %r", address)
            sock.close()
            return None
        with self._lock:
            self._connections.add(conn)
        return conn

    def _reject_busy(self, conn: Connection) -> None:
        """Every worker busy and the queue full: 503 + Retry-After at once, never a hang."""
        try:
            conn.sock.setblocking(False)
            if not conn.tls and conn.sock.recv(1, socket.MSG_PEEK) == b"":
                conn.close()  # the client already left: nobody to refuse
                return
        except OSError:
            pass
        if self._rejected.count():
            log.warning(
                "wsgikit: all %d workers busy and %d requests queued: 503 (%d refused so far)",
                self.pool.threads, self.pool.queued, self._rejected.events,
            )
        sock = conn.sock
        if conn.handshaken:  # plain TCP, or TLS past its handshake
            data = error_response(
                503, "server busy, retry shortly", server_header=self.config.server_header,
                headers=[("Retry-After", "1")],
            )
            try:
                sock.setblocking(False)
                try:
                    sock.recv(65536)  # what already arrived: so close() is not a reset
                except OSError:
                    pass
                sock.send(data)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        conn.close()

    def server_close(self) -> None:
        if not self._drained:
            self.drain(0.0)
        for sock in self.listeners:
            try:
                sock.close()
            except OSError:
                pass
        close_listeners(self._bound)  # removes the Unix socket files it created
        self._bound = []
        if self.access_log is not None:
            self.access_log.close()
        self._wakeup.close()
