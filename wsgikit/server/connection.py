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
import os
import select
import socket
import threading
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

if TYPE_CHECKING:
    from wsgikit.config import ServerConfig

__all__ = ["Connection", "ConnectionOwner", "ResponseRecord"]

log = logging.getLogger("wsgikit.error")


def _poll_ms(timeout: float) -> int:
    """``timeout`` seconds as poll()'s milliseconds, rounded up (never 0: that would not wait)."""
    return max(1, int(timeout * 1000 + 0.999))


def _no_body() -> bytes:
    """``wsgi.input``'s source for a request without a body."""
    return b""


#: Requests a connection may serve in a row while other connections wait for a worker.
TURN: Final = 2
#: Bytes asked of the kernel per recv.
RECV_SIZE: Final = 65536
#: A TLS send waits inside ``send()``; slices this big keep each call within the send budget.
TLS_SEND_SLICE: Final = 65536
#: A lingering worker answers the pool's call back only after this long (poll's smallest
#: timeout): before, its own client's next request is usually on its way (under load it comes
#: within a millisecond), and giving the connection up then costs a park and a wake for nothing
#: (answering at once cost body-1m 7-30 % of its requests per second).
CALL_AFTER: Final = 0.001
#: After an error response: how long and how much unread input is swallowed before closing, so
#: the close does not become a reset that destroys the response in flight (lingering close).
LINGER_SECONDS: Final = 0.5
#: While the server drains, how long a new connection may take to send its first bytes.
SHUTDOWN_FIRST_REQUEST: Final = 1.0
LINGER_BYTES: Final = 256 * 1024


#: Per thread: its receive buffer (see Connection._recv). A plain threading.local, not a
#: subclass: compiled with mypyc, a subclass's attributes are not per thread (it crashed).
_thread_state = threading.local()


def _recv_buffer() -> memoryview:
    """This thread's RECV_SIZE receive buffer, made on its first use."""
    try:
        view: memoryview = _thread_state.recv_view
    except AttributeError:
        view = _thread_state.recv_view = memoryview(bytearray(RECV_SIZE))
    return view


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


class ConnectionOwner(Protocol):
    """What a connection needs from its server."""

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

    def linger_begin(self) -> int: ...

    def linger_end(self) -> None: ...

    def take_call(self) -> bool: ...

    def on_response(self, record: ResponseRecord) -> None: ...

    def connection_closed(self, conn: Connection) -> None: ...


class Connection:
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
        self.owner = owner
        self.config = cfg
        self.sock = sock
        if isinstance(address, tuple) and len(address) >= 2:
            self.remote_addr, self.remote_port = str(address[0]), str(address[1])
        else:
            self.remote_addr, self.remote_port = "", ""
        self.base_environ = base_environ
        # ssl is imported only when TLS is used (it costs ~5 MB of memory)
        self.tls = hasattr(sock, "do_handshake")
        self._no_data: tuple[type[BaseException], ...] = (socket.timeout, BlockingIOError)
        if self.tls:
            import ssl

            self._no_data += (ssl.SSLWantReadError,)
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
        self._timeout: Optional[float] = -1.0
        # how long the server may still wait on this client, each way (wsgikit.server.pacing)
        self._send_pace = Pace(cfg.send_timeout, cfg.min_send_rate)
        self._body_pace = Pace(cfg.body_timeout, cfg.min_body_rate)
        # per-request state
        self._body_done = True
        self._continue_sent = False
        self._responding = False  # inside Gateway.run: a response may be partly sent
        self._body_received = 0
        self._head: Optional[RequestHead] = None
        self._input: Optional[BodyInput] = None
        self.trailers: tuple[tuple[str, str], ...] = ()

    def fileno(self) -> int:
        return self.sock.fileno()

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
        """Read more of a head, lingering briefly; park if nothing comes. False: not ours now."""
        # Fast path, the usual case on a busy keep-alive connection: its next request is
        # already here. Only for a connection that has served a request, on a non-blocking
        # (plain TCP) socket, within its head deadline, and when it may keep its worker.
        # When other connections wait for a worker it asks poll() first and, if nothing is
        # here, parks at once (below): a recv() that finds nothing raises BlockingIOError, which
        # costs three times a zero-timeout poll(), and a second look rarely finds more.
        polled_empty = False  # others wait and the check found nothing: park without a look
        fast = not self.tls and not self.fresh
        others_wait = fast and self.owner.queued() > 0
        if fast and (turn < TURN or not others_wait):
            head_started = self.head_started
            if head_started is None or (
                time.monotonic() - head_started < self.config.header_timeout
            ):
                if others_wait and not self._poll(select.POLLIN, 0.0):
                    polled_empty = True
                else:
                    data = self._recv_within(0.0)
                    if data:
                        if head_started is None:
                            self.head_started = time.monotonic()
                        self.parser.feed(data)
                        return True
                    # nothing yet, or EOF: the full path below decides
        cfg = self.config
        parser = self.parser
        now = time.monotonic()
        in_message = parser.in_message
        if in_message:
            if self.head_started is None:
                self.head_started = now
            deadline = self.head_started + cfg.header_timeout
        elif self.fresh:
            deadline = self.accepted_at + cfg.header_timeout
        else:
            deadline = self.idle_since + cfg.keepalive_timeout
        remaining = deadline - now
        if remaining <= 0:
            self.expire()
            return False
        if self.owner.shutting_down and not in_message and not self.fresh:
            # draining: a request already here is served (its response closes the
            # connection); else it waits in the parker for the drain grace, holding no worker
            received = self._recv_within(0.0)
            if received:
                self.head_started = time.monotonic()
                parser.feed(received)
                return True
            if received is None and self.owner.park(self, deadline):
                return False
            self.close()
            return False
        lingering = False
        if self.tls and self.sock.pending():  # type: ignore[attr-defined]
            wait: float = remaining
        elif self.fresh and self.owner.shutting_down:
            # Draining (nothing is parked any more): a client that connected before the
            # listener closed gets a moment to send its request, to be answered, not reset.
            wait = min(remaining, SHUTDOWN_FIRST_REQUEST)
        elif self.owner.queued() > 0:
            # Others are waiting for a worker: no lingering (a slow client must not hold a
            # worker while ready requests queue), no second look when the check above just
            # found nothing (parking at once measured 10-20 % more requests per second at 100
            # connections than looking again), and after TURN requests in a row not even bytes
            # already here keep it: it goes to the back of the line.
            if turn >= TURN or polled_empty:
                if not self.owner.park(self, deadline):
                    self.close()
                return False
            wait = 0.0
        else:
            # Nobody waits: linger for the next request, but give the worker up as soon as
            # someone does (the pool calls a lingering worker back when a job queues up).
            wait = min(cfg.keepalive_linger, remaining)
            lingering = True
        # Unless the check above just found nothing, it reads once without waiting first: a
        # connection woken from the parker is readable, and one that has had its turn may have
        # its next request already here.
        received = self._recv_within(wait, poll_first=polled_empty, linger=lingering)
        if received is not None:
            if not received and not in_message:
                self.close()  # a clean close between requests
                return False
            if self.head_started is None:
                self.head_started = time.monotonic()
            parser.feed(received)
            return True
        if not self.owner.park(self, deadline):
            self.close()
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
        self._body_received = 0
        self.trailers = ()
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
            return head.content_length - self._body_received <= self.config.max_drain_bytes
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
                    self._body_received += len(data)
                    return data
                continue
            if kind is EndOfMessage:
                self._body_done = True
                return b""
            if kind is Trailers:
                self.trailers = event.headers  # type: ignore[union-attr]
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

    # -- socket helpers -----------------------------------------------------------------------

    def _settimeout(self, timeout: float) -> None:
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    # Plain TCP sockets stay non-blocking and wait with poll() only when the kernel says
    # EAGAIN. A socket with a timeout would cost an ioctl per settimeout() and a poll() before
    # every recv and send, each releasing the GIL (so another thread can take it): measured,
    # that was a large share of a small request's cost. TLS sockets keep socket timeouts.

    def _recv_within(
        self, timeout: float, *, poll_first: bool = False, linger: bool = False
    ) -> Optional[bytes]:
        """Up to RECV_SIZE bytes (b"" at EOF), waiting at most ``timeout``; None if none came.

        ``poll_first``: the socket was just found empty, so wait before the first recv().
        ``linger``: the wait ends early (None) when the pool calls this worker back.
        """
        if self.tls:
            self._settimeout(timeout)
            try:
                return self._recv()
            except self._no_data:
                return None
        self._settimeout(0.0)
        if not poll_first:
            try:
                return self._recv()
            except BlockingIOError:
                pass
        if timeout <= 0:
            return None
        if not (self._linger(timeout) if linger else self._poll(select.POLLIN, timeout)):
            return None
        try:
            return self._recv()
        except BlockingIOError:  # woken without data (it happens): treat as a quiet moment
            return None

    def _recv(self) -> bytes:
        """Up to RECV_SIZE bytes, read into the thread's buffer and copied out at their size.

        Not ``sock.recv(RECV_SIZE)``: it allocates RECV_SIZE bytes and shrinks them in place,
        leaving a block just short of RECV_SIZE that the parser or the app may keep, which no
        later allocation of RECV_SIZE fits in. Under a mix of body sizes that churn fragments
        the C heap and RSS keeps growing while the Python objects stay flat (the soak in
        docs/reliability.rst); one copy per read costs far less than that.
        """
        view = _recv_buffer()
        n = self.sock.recv_into(view)
        return view[:n].tobytes()

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

    def _poll(self, events: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``events`` (or an error/hang-up) on the socket.

        ``timeout <= 0`` only asks. A poll object per call costs 0.2 us more than one kept per
        connection, which would cost 290 bytes for each of (say) 10 000 idle connections.
        """
        poller = select.poll()
        poller.register(self.sock, events)
        return bool(poller.poll(_poll_ms(timeout) if timeout > 0 else 0))

    def _linger(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the socket to become readable: True if it did, False on
        timeout or when the pool calls this worker back for a queued job (after CALL_AFTER)."""
        owner = self.owner
        call_fd = owner.linger_begin()
        try:
            deadline = time.monotonic() + timeout
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            if poller.poll(_poll_ms(min(timeout, CALL_AFTER))):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            poller.register(call_fd, select.POLLIN)
            while True:
                events = poller.poll(_poll_ms(remaining))
                if not events:
                    return False
                for fd, _ in events:
                    if fd != call_fd:
                        return True
                if owner.take_call():
                    return False
                # another lingering worker took the call: wait for the socket alone
                poller.unregister(call_fd)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
        finally:
            owner.linger_end()

    def _wait_writable(self) -> None:
        """Wait until the client takes more of the response, within the send pace's allowance
        (``wsgikit.server.pacing``); ``TimeoutError`` when the client reads too slowly."""
        pace = self._send_pace
        allowance = pace.allowance()
        started = time.monotonic()
        ready = allowance > 0 and self._poll(select.POLLOUT, allowance)
        pace.spend(time.monotonic() - started)
        if not ready:
            raise TimeoutError(self._too_slow())

    def _too_slow(self) -> str:
        if self.config.min_send_rate:
            return (f"client read the response slower than min_send_rate "
                    f"({self.config.min_send_rate} bytes/s) or stalled for "
                    f"{self.config.send_timeout:g} seconds")
        return f"send stalled for {self.config.send_timeout:g} seconds"

    def _send(self, data: bytes | memoryview) -> None:
        """Send all of ``data``; ``TimeoutError`` when the client reads too slowly."""
        if self.tls:
            self._send_tls(data)
            return
        self._settimeout(0.0)
        sock = self.sock
        pace = self._send_pace
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        pace.moved += sent
        size = len(data)
        if sent == size:
            return
        view = memoryview(data)
        while sent < size:
            self._wait_writable()
            try:
                progress = sock.send(view[sent:])
            except BlockingIOError:
                continue
            sent += progress
            pace.moved += progress

    def _send_tls(self, data: bytes | memoryview) -> None:
        """``_send`` for TLS sockets, which wait inside ``send()``: a slice at a time, each
        within the send pace's allowance."""
        pace = self._send_pace
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            allowance = pace.allowance()
            if allowance <= 0:
                raise TimeoutError(self._too_slow())
            self._settimeout(allowance)
            started = time.monotonic()
            try:
                progress = self.sock.send(view[sent : sent + TLS_SEND_SLICE])
            except socket.timeout:
                raise TimeoutError(self._too_slow()) from None
            finally:
                pace.spend(time.monotonic() - started)
            sent += progress
            pace.moved += progress

    def _sendv(self, parts: list[bytes]) -> None:
        """Send all of ``parts`` (plain TCP) with one ``sendmsg`` when the kernel takes it all."""
        self._settimeout(0.0)
        try:
            sent = self.sock.sendmsg(parts)
        except BlockingIOError:
            sent = 0
        self._send_pace.moved += sent
        for part in parts:  # what is left, if anything, part by part
            if sent >= len(part):
                sent -= len(part)
                continue
            self._send(memoryview(part)[sent:] if sent else part)
            sent = 0

    def _sendfile(self, file: Any, offset: int, count: int) -> int:
        """``os.sendfile`` (plain TCP) under the same pacing as ``_send``; the bytes sent."""
        self._settimeout(0.0)
        out = self.sock.fileno()
        fd = file.fileno()
        total = 0
        try:
            while total < count:
                try:
                    progress = os.sendfile(out, fd, offset + total, min(count - total, 1 << 30))
                except BlockingIOError:
                    self._wait_writable()
                    continue
                if not progress:  # the file is shorter than it was
                    break
                total += progress
                self._send_pace.moved += progress
        finally:
            if total and hasattr(file, "seek"):
                file.seek(offset + total)  # as socket.sendfile leaves it
        return total

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
        if self.head_started is None:
            self.head_started = time.monotonic()
        self.parser.feed(data)

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
        self._lingering_close()

    def _close_notify(self) -> None:
        """Send TLS close_notify without waiting for the client's: the client can tell a
        complete response from a cut one, and OpenSSL keeps the session for resumption by id
        (it drops the sessions of connections closed without one)."""
        try:
            self.sock.setblocking(False)
            self.sock.unwrap()  # type: ignore[attr-defined]
        except (OSError, ValueError):  # ssl.SSLWantReadError: the client's reply not here yet
            pass

    def _client_error(self, exc: BaseException) -> None:
        """Count a client-caused error (DEBUG line, rate-limited summary: clientlog)."""
        detail = f"port {self.remote_port}: {exc}"
        self.owner.client_errors.record(kind_of(exc), self.remote_addr, detail)

    def _lingering_close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            swallowed = 0
            while swallowed < LINGER_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._settimeout(remaining)
                n = self.sock.recv_into(_recv_buffer())
                if not n:
                    break
                swallowed += n
        except OSError:
            pass
        self.close()

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
