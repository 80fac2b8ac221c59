"""One client connection: the only place where sockets meet the ``http11`` parser.

A worker thread runs :meth:`Connection.serve`: it reads, feeds the parser, runs each request
through the :class:`~.gateway.Gateway`, and decides keep-alive. Between requests it does
not give the connection back at once: pipelined bytes already buffered are served straight
away, and otherwise, when no other connection waits for a worker, it waits a very short moment
(``keepalive_linger``) for the client's next request, because on a busy keep-alive connection
that request is usually already on its way and handing the connection to another thread costs
more than the wait. Only when nothing comes (or other connections are queued, or one queues up
meanwhile and the pool calls the worker back) is it parked in the keep-alive selector, holding
no worker.

Timeouts, all distinct: a whole request head must arrive within ``header_timeout`` of its first
byte (a new connection: of the accept), else 408 and close (slowloris); a body read may be silent
for ``body_timeout`` and must arrive at ``min_body_rate`` bytes/s on average while the server
waits for it; an idle keep-alive connection lives ``keepalive_timeout``. Sending, the server may
wait on a client for ``send_timeout`` at a time, and the response must move at ``min_send_rate``
bytes/s on average while it waits. Both averages are :class:`~.pacing.Pace` budgets, so a
client that sends or reads a little at a time cannot keep a worker for as long as it likes.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Optional, Protocol

from wsgikit.http11 import (
    NEED_DATA,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    ProtocolError,
    RequestHead,
    RequestParser,
    RequestTimeout,
    Trailers,
    continue_response,
    error_response,
)
from wsgikit.server.clientlog import ClientErrorLog, kind_of
from wsgikit.server.environ import build_environ
from wsgikit.server.gateway import BodyInput, ClientDisconnected, Gateway, Outcome
from wsgikit.server.pacing import Pace
from wsgikit.server.transport import LingerPool, Transport

if TYPE_CHECKING:
    from wsgikit.config import ServerConfig

__all__ = ["Connection", "ConnectionOwner", "ResponseRecord"]

log = logging.getLogger("wsgikit.error")


def _no_body() -> bytes:
    """``wsgi.input``'s source for a request without a body."""
    return b""


#: Requests a connection may serve in a row while other connections wait for a worker.
TURN: Final = 2
#: While the server drains, how long a new connection may take to send its first bytes.
SHUTDOWN_FIRST_REQUEST: Final = 1.0

# What a worker does when the parser needs more bytes of a request head (``_next_step``).
#: Read, waiting at most the time given (0: take only what is already here).
READ: Final = 0
#: Hold the worker for the client's next request (``keepalive_linger``), until called back.
LINGER: Final = 1
#: Give the worker up: the keep-alive parker watches the connection until it is readable.
PARK: Final = 2
#: The deadline has passed: 408 inside a head, else just close.
EXPIRE: Final = 3

# What ``_quick_look`` found.
#: The next bytes were here: the parser has them.
FED: Final = 0
#: Others wait for a worker and nothing is here: park without looking again.
EMPTY: Final = 1
#: Nothing yet, or EOF, or not looked: ``_next_step`` decides.
UNSURE: Final = 2


@dataclass
class ResponseRecord:
    """One finished request, for ``server.on_response`` (access log, metrics, introspection)."""

    remote_addr: str
    remote_port: str
    method: str
    target: str
    http_version: str
    status: int
    body_bytes: int
    duration: float
    queue_wait: float
    request_headers: tuple[tuple[str, str], ...]
    response_headers: list[tuple[str, str]]
    environ: dict[str, Any] = field(repr=False)
    started: float = 0.0  # time.time() when the request's head was complete
    keep_alive: bool = False


class ConnectionOwner(LingerPool, Protocol):
    """What a connection needs from its server (and, for lingering, from its worker pool)."""

    config: ServerConfig
    record_responses: bool
    client_errors: ClientErrorLog

    @property
    def shutting_down(self) -> bool: ...

    #: True once a drain is coming (``drain_delay``): responses say ``Connection: close``.
    no_keep_alive: bool

    def get_app(self) -> Any: ...

    def park(self, conn: Connection, deadline: float) -> bool: ...

    def queued(self) -> int: ...

    def on_response(self, record: ResponseRecord) -> None: ...

    def connection_closed(self, conn: Connection) -> None: ...


class Connection(Transport):
    """A client socket and its parser; :meth:`serve` runs in a worker until it parks or closes."""

    def __init__(
        self,
        owner: ConnectionOwner,
        sock: socket.socket,
        address: Any,
        base_environ: dict[str, Any],
        *,
        accepted_at: Optional[float] = None,
    ) -> None:
        cfg = owner.config
        super().__init__(sock, cfg, owner)
        self.owner = owner
        if isinstance(address, tuple) and len(address) >= 2:
            self.remote_addr, self.remote_port = str(address[0]), str(address[1])
        else:
            self.remote_addr, self.remote_port = "", ""
        self.base_environ = base_environ
        self._handshaken = not self.tls
        self.parser = RequestParser(
            max_request_line=cfg.max_request_line,
            max_header_count=cfg.max_header_count,
            max_field_bytes=cfg.max_field_bytes,
            max_header_bytes=cfg.max_header_bytes,
            max_body_bytes=cfg.max_body_bytes,
            max_chunk_ext_bytes=cfg.max_chunk_ext_bytes,
            max_trailer_bytes=cfg.max_trailer_bytes,
        )
        now = time.monotonic() if accepted_at is None else accepted_at
        self.accepted_at = now
        self.ready_at = now  # when it last entered the worker queue (for queue_wait)
        self.idle_since = now
        self.head_started: Optional[float] = None
        self.fresh = True  # no request served yet
        self.closed = False
        self.requests = 0
        #: Close after this many requests (``handle_request()`` serves exactly one).
        self.max_requests: Optional[int] = None
        # how long the server may still wait on this client's body (wsgikit.server.pacing)
        self._body_pace = Pace(cfg.body_timeout, cfg.min_body_rate)
        # per-request state
        self._body_done = True
        self._continue_sent = False
        self._responding = False  # inside Gateway.run: a response may be partly sent
        self._head: Optional[RequestHead] = None
        self._input: Optional[BodyInput] = None
        self._environ: Optional[dict[str, Any]] = None  # for wsgikit.trailers
        self._trailers: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return f"<Connection {self.remote_addr}:{self.remote_port} requests={self.requests}>"

    # -- the worker's entry point ------------------------------------------------------------

    def serve(self) -> None:
        """Serve requests until the connection is parked or closed (runs in a worker)."""
        queue_wait = time.monotonic() - self.ready_at
        try:
            if not self._handshaken and not self._handshake():
                return
            self._serve(queue_wait)
        except ProtocolError as exc:
            self._fail(exc)
        except (ClientDisconnected, OSError) as exc:
            self._client_error(exc)
            self.close()
        except Exception:
            log.exception("wsgikit: internal error on %r", self)
            if self._responding:
                self.close()  # part of a response may be out: never a second status line
            else:
                self._fail(ProtocolError("internal server error"), status=500)

    def _serve(self, queue_wait: float) -> None:
        parser = self.parser
        turn = 0
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                if not self._wait_for_bytes(turn):
                    return
                continue
            if type(event) is RequestHead:
                keep = self._handle(event, queue_wait)
                queue_wait = 0.0
                self.requests += 1
                self.fresh = False
                if not keep:
                    self.close()
                    return
                parser.start_next()
                self.idle_since = time.monotonic()
                self.head_started = None
                turn += 1
                continue
            if type(event) is ConnectionClosed:
                self.close()
                return
            log.error("wsgikit: unexpected parser event %r on %r; closing", event, self)
            self.close()
            return

    def _wait_for_bytes(self, turn: int) -> bool:
        """The parser needs more of a request head: feed it (True), or give the connection up
        (False: parked or closed). ``_next_step`` makes the keep-alive decision."""
        polled_empty = False
        if not self.tls and not self.fresh:
            looked = self._quick_look(turn)
            if looked == FED:
                return True
            polled_empty = looked == EMPTY
        in_message = self.parser.in_message
        now = time.monotonic()
        deadline = self._deadline(in_message, now)
        step, wait = self._next_step(turn, deadline - now, in_message, polled_empty)
        if step == READ or step == LINGER:
            # Unless the quick look just found nothing, it reads once before waiting: a
            # connection woken from the parker is readable, and so may be one after its turn.
            received = self._recv_within(wait, poll_first=polled_empty, linger=step == LINGER)
            if received is not None:
                if not received and not in_message:
                    self.close()  # the client closed cleanly between requests
                    return False
                self._feed(received)
                return True
            step = PARK  # nothing came in time
        if step == EXPIRE:
            self.expire()
        elif not self.owner.park(self, deadline):
            self.close()
        return False

    def _next_step(
        self, turn: int, remaining: float, in_message: bool, polled_empty: bool
    ) -> tuple[int, float]:
        """The keep-alive decision: what to do for the next bytes of a head (READ, LINGER,
        PARK, EXPIRE) and how long a read may wait. The first case that applies decides."""
        if remaining <= 0:
            return EXPIRE, 0.0
        owner = self.owner
        if owner.shutting_down and not in_message and not self.fresh:
            # Draining, between requests: a request already here is served (its response
            # closes the connection); else the parker keeps it for the drain grace.
            return READ, 0.0
        if self.tls and self.sock.pending():  # type: ignore[attr-defined]
            return READ, remaining  # decrypted bytes are already here
        if self.fresh and owner.shutting_down:
            # Connected before the listener closed: a moment to send its request, so that it
            # is answered, not reset.
            return READ, min(remaining, SHUTDOWN_FIRST_REQUEST)
        if owner.queued() > 0:
            # Others wait for a worker: never linger (a slow client must not hold a worker
            # while ready requests queue). After its TURN, or when the quick look found
            # nothing, the connection goes to the back of the line; else one look.
            if turn >= TURN or polled_empty:
                return PARK, 0.0
            return READ, 0.0
        # Nobody waits: hold the worker for the next request, which on a busy connection is
        # usually on its way; the pool calls the worker back as soon as someone else waits.
        return LINGER, min(self.config.keepalive_linger, remaining)

    def _quick_look(self, turn: int) -> int:
        """Take the next request of a busy keep-alive connection (plain TCP, a request served)
        if it is already here, the usual case: FED, EMPTY or UNSURE."""
        others_wait = self.owner.queued() > 0
        if others_wait and turn >= TURN:
            return UNSURE  # its turn is over: _next_step parks it
        head_started = self.head_started
        if head_started is not None and (
            time.monotonic() - head_started >= self.config.header_timeout
        ):
            return UNSURE  # past the head's deadline: _next_step expires it
        if others_wait and not self._poll(select.POLLIN, 0.0):
            return EMPTY  # asking poll() is cheaper than a recv() that finds nothing
        data = self._recv_within(0.0)
        if data:
            self._feed(data)
            return FED
        return UNSURE

    def _deadline(self, in_message: bool, now: float) -> float:
        """When waiting must end: a head ``header_timeout`` after its first byte (a new
        connection's: after the accept), an idle connection ``keepalive_timeout`` after its
        last response."""
        cfg = self.config
        if in_message:
            if self.head_started is None:
                self.head_started = now
            return self.head_started + cfg.header_timeout
        if self.fresh:
            return self.accepted_at + cfg.header_timeout
        return self.idle_since + cfg.keepalive_timeout

    def _feed(self, data: bytes) -> None:
        """Give the parser bytes of a head; the first starts the head's clock."""
        if self.head_started is None:
            self.head_started = time.monotonic()
        self.parser.feed(data)

    def has_input(self) -> bool:
        """Bytes (or EOF, or an error) are waiting on the socket, or already buffered."""
        if self.closed:
            return False
        if self.parser.has_buffered_data:
            return True
        try:
            return self._poll(select.POLLIN, 0.0)
        except (OSError, ValueError):
            return False

    def expire(self) -> None:
        """The deadline passed (called by a worker or the keep-alive thread): 408 or close."""
        if self.parser.in_message:
            self._client_error(RequestTimeout("request head not received in time"))
            try:
                self.sock.setblocking(False)
                self.sock.send(error_response(RequestTimeout("request head not received in time")))
            except OSError:
                pass
        self.close()

    # -- one request --------------------------------------------------------------------------

    def _handle(self, head: RequestHead, queue_wait: float) -> bool:
        owner = self.owner
        started = time.monotonic()
        self._continue_sent = False
        self._send_pace.reset()  # each request and response starts with a full budget
        self._body_pace.reset()
        if head.chunked or head.content_length:
            self._body_done = False
            on_first_read = self._send_continue if head.expect_continue else None
            wsgi_input = BodyInput(self._pull_body, on_first_read)
        else:
            # No body: the parser's next event is EndOfMessage; take it now.
            if type(self.parser.next_event()) is not EndOfMessage:  # pragma: no cover
                raise ProtocolError("request without a body did not end")
            self._body_done = True
            wsgi_input = BodyInput(_no_body)
        self._head = head
        self._input = wsgi_input
        environ = build_environ(
            head,
            self.base_environ,
            wsgi_input=wsgi_input,
            remote_addr=self.remote_addr,
            remote_port=self.remote_port,
            queue_wait=queue_wait,
        )
        if head.chunked:  # wsgikit.trailers goes in at the body's end
            self._environ, self._trailers = environ, ()
        gateway = Gateway(
            owner.get_app(),
            environ,
            method=head.method,
            http_version=head.http_version,
            send=self._send,
            keep_alive=self._keep_alive_for_head,
            sendfile=None if self.tls else self._sendfile,
            sendv=None if self.tls else self._sendv,
            server_header=self.config.server_header,
        )
        self._responding = True
        outcome = gateway.run()
        self._responding = False
        # the client's doing (a bad body, a reset, a stalled read) is counted; the app's own
        # errors were logged by the gateway
        error = wsgi_input.error if wsgi_input.error is not None else outcome.error
        if error is not None and isinstance(error, (ProtocolError, ClientDisconnected)):
            self._client_error(error)
        # the response's promise stands even if a drain began meanwhile (the drain grace
        # serves or closes the connection then); only what the request left decides
        keep = outcome.keep_alive and self._reusable()
        if keep and not self._body_done:
            keep = self._drain(wsgi_input)
        self._environ = None
        if owner.record_responses:
            self._record(head, outcome, environ, started, queue_wait, keep)
        return keep

    def _keep_alive_for_head(self) -> bool:
        """For the response head: ``_may_keep_alive``, and not once the server has ended
        keep-alive (only here: a response that already promised keep-alive keeps its word)."""
        return not self.owner.no_keep_alive and self._may_keep_alive()

    def _may_keep_alive(self) -> bool:
        """Whether the response may promise another request: not while the server drains."""
        return not self.owner.shutting_down and self._reusable()

    def _reusable(self) -> bool:
        """Whether, as far as the request goes, the connection may serve another one."""
        head = self._head
        wsgi_input = self._input
        if head is None or wsgi_input is None:  # pragma: no cover - set by _handle first
            return False
        if not head.keep_alive:
            return False
        if self.max_requests is not None and self.requests + 1 >= self.max_requests:
            return False
        if self._body_done:
            return True
        if wsgi_input.error is not None:
            return False
        if head.expect_continue and not self._continue_sent:
            return False  # the client may or may not send the body now: close
        if head.content_length is not None:
            return head.content_length - wsgi_input.received <= self.config.max_drain_bytes
        return True  # chunked: try to drain, close if it is too long

    def _record(
        self,
        head: RequestHead,
        outcome: Outcome,
        environ: dict[str, Any],
        started: float,
        queue_wait: float,
        keep: bool,
    ) -> None:
        duration = time.monotonic() - started
        record = ResponseRecord(
            remote_addr=self.remote_addr,
            remote_port=self.remote_port,
            method=head.method,
            target=head.target,
            http_version=head.http_version,
            status=outcome.status,
            body_bytes=outcome.body_bytes,
            duration=duration,
            queue_wait=queue_wait,
            request_headers=head.headers,
            response_headers=outcome.headers,
            environ=environ,
            started=time.time() - duration,
            keep_alive=keep,
        )
        try:
            self.owner.on_response(record)
        except Exception:
            log.exception("wsgikit: on_response hook failed")

    def _pull_body(self) -> bytes:
        """The next decoded body bytes for ``wsgi.input``; ``b""`` at the end of the body."""
        parser = self.parser
        while True:
            event = parser.next_event()
            kind = type(event)
            if kind is BodyChunk:
                data: bytes = event.data  # type: ignore[union-attr]
                if data:
                    return data
                continue
            if kind is EndOfMessage:
                self._body_done = True
                if self._environ is not None:
                    self._environ["wsgikit.trailers"] = self._trailers
                return b""
            if kind is Trailers:
                self._trailers = event.headers  # type: ignore[union-attr]
                continue
            if event is NEED_DATA:
                pace = self._body_pace
                allowance = pace.allowance()
                started = time.monotonic()
                try:
                    received = self._recv_within(allowance) if allowance > 0 else None
                except OSError as exc:
                    raise ClientDisconnected(f"client went away mid-body: {exc}") from exc
                finally:
                    pace.spend(time.monotonic() - started)
                if received is None:
                    raise RequestTimeout(self._body_too_slow())
                if not received:
                    raise ClientDisconnected("client closed the connection mid-body")
                pace.moved += len(received)
                parser.feed(received)
                continue
            raise ProtocolError(f"unexpected parser event {event!r} inside a body")

    def _body_too_slow(self) -> str:
        cfg = self.config
        if cfg.min_body_rate:
            return (f"request body slower than min_body_rate ({cfg.min_body_rate} bytes/s) "
                    f"or silent for {cfg.body_timeout:g} seconds")
        return f"no request body bytes for {cfg.body_timeout:g} seconds"

    def _drain(self, wsgi_input: BodyInput) -> bool:
        """Read and discard the body the app left unread, up to ``max_drain_bytes``."""
        budget = self.config.max_drain_bytes
        try:
            while not self._body_done:
                data = self._pull_body()
                budget -= len(data)
                if budget < 0:
                    return False
        except (ProtocolError, OSError):
            return False
        return True

    def _send_continue(self) -> None:
        if not self._continue_sent:
            self._continue_sent = True
            self._send(continue_response())

    # -- TLS, errors, closing ---------------------------------------------------------------

    def _handshake(self) -> bool:
        """A blocking handshake in this thread, for ``handle_request()`` only: otherwise the
        server hands TLS connections to workers handshaken already (``tls.Handshaker``)."""
        remaining = self.accepted_at + self.config.handshake_timeout - time.monotonic()
        if remaining <= 0:
            self.close()
            return False
        self._settimeout(remaining)
        try:
            self.sock.do_handshake()  # type: ignore[attr-defined]
        except OSError as exc:  # ssl.SSLError included
            self.owner.client_errors.record("tls", self.remote_addr, str(exc))
            self.close()
            return False
        self.tls_established()
        return True

    @property
    def handshaken(self) -> bool:
        """True for plain TCP, and for TLS once the handshake is done."""
        return self._handshaken

    def tls_established(self) -> None:
        """The handshake is done: add HTTPS, SSL_PROTOCOL, SSL_CLIENT_* (mod_ssl names)."""
        from wsgikit.server.tls import tls_environ

        self._handshaken = True
        self.base_environ = {**self.base_environ, **tls_environ(self.sock)}  # type: ignore[arg-type]

    def prefeed(self, data: bytes) -> None:
        """Bytes of the first request read before a worker took the connection (the handshake
        thread reads what came with the client's last handshake flight)."""
        self._feed(data)

    def _fail(self, exc: ProtocolError, status: Optional[int] = None) -> None:
        """Answer a protocol error (once, short, ``Connection: close``) and close gently."""
        if status is None:
            self._client_error(exc)
        data = error_response(status if status is not None else exc,
                              server_header=self.config.server_header)
        try:
            self._settimeout(min(self.config.send_timeout, 5.0))
            self.sock.sendall(data)
        except OSError:
            self.close()
            return
        self._discard_input()
        self.close()

    def _client_error(self, exc: BaseException) -> None:
        """Count a client-caused error (DEBUG line, rate-limited summary: clientlog)."""
        detail = f"port {self.remote_port}: {exc}"
        self.owner.client_errors.record(kind_of(exc), self.remote_addr, detail)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.tls and self._handshaken:
            self._close_notify()
        try:
            self.sock.close()
        except OSError:
            pass
        self.owner.connection_closed(self)
