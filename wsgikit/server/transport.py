"""The socket side of a client connection: reads, writes and waits, within their budgets.

Plain TCP sockets stay non-blocking and wait with ``poll()`` only when the kernel says EAGAIN:
a socket timeout would add an ioctl and a poll around every call, each releasing the GIL. TLS
sockets keep socket timeouts, since an SSL socket waits inside ``send()`` and ``recv()``.
Sending may wait on a slow client only within the :class:`~.pacing.Pace` budget of
``send_timeout`` and ``min_send_rate``. :class:`~.connection.Connection` builds on this class
and owns the HTTP side; nothing here knows about requests.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final, Optional, Protocol

from wsgikit.server.pacing import Pace

if TYPE_CHECKING:
    from wsgikit.config import ServerConfig

__all__ = ["LingerPool", "Transport", "RECV_SIZE"]

#: Bytes asked of the kernel per recv.
RECV_SIZE: Final = 65536
#: A TLS send waits inside ``send()``; slices this big keep each call within the send budget.
TLS_SEND_SLICE: Final = 65536
#: A lingering worker answers the pool's call back only after this long (poll's smallest
#: timeout): before, its own client's next request is usually on its way.
CALL_AFTER: Final = 0.001
#: After an error response, unread input is discarded for at most this long and this much
#: before closing, so the close does not become a reset that destroys the response in flight.
DISCARD_SECONDS: Final = 0.5
DISCARD_BYTES: Final = 256 * 1024

#: Per thread: its receive buffer (see Transport._recv). A plain threading.local, not a
#: subclass: compiled with mypyc, a subclass's attributes are not per thread (it crashed).
_thread_state = threading.local()


def _recv_buffer() -> memoryview:
    """This thread's RECV_SIZE receive buffer, made on its first use."""
    try:
        view: memoryview = _thread_state.recv_view
    except AttributeError:
        view = _thread_state.recv_view = memoryview(bytearray(RECV_SIZE))
    return view


def _poll_ms(timeout: float) -> int:
    """``timeout`` seconds as poll()'s milliseconds, rounded up (never 0: that would not wait)."""
    return max(1, int(timeout * 1000 + 0.999))


class LingerPool(Protocol):
    """What a lingering wait needs from the worker pool (see ``wsgikit.server.workers``)."""

    def linger_begin(self) -> int: ...

    def linger_end(self) -> None: ...

    def take_call(self) -> bool: ...


class Transport:
    """A client socket's reads, writes and waits (the base of ``Connection``)."""

    def __init__(self, sock: socket.socket, config: ServerConfig, pool: LingerPool) -> None:
        self.sock = sock
        self.config = config
        self._pool = pool
        # ssl is imported only when TLS is used (it is large)
        self.tls = hasattr(sock, "do_handshake")
        self._no_data: tuple[type[BaseException], ...] = (socket.timeout, BlockingIOError)
        if self.tls:
            import ssl

            self._no_data += (ssl.SSLWantReadError,)
        self._timeout: Optional[float] = -1.0
        # how long the server may still wait on this client to read the response
        self._send_pace = Pace(config.send_timeout, config.min_send_rate)

    def fileno(self) -> int:
        return self.sock.fileno()

    def _settimeout(self, timeout: float) -> None:
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    # -- reading ------------------------------------------------------------------------------

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

        Not ``sock.recv(RECV_SIZE)``: it shrinks a RECV_SIZE block in place, and the parser or
        the app may keep that just-too-small block, so under mixed body sizes the C heap
        fragments and RSS grows while Python objects stay flat (docs/server.rst, "Why").
        """
        view = _recv_buffer()
        n = self.sock.recv_into(view)
        return view[:n].tobytes()

    def _poll(self, events: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``events`` (or an error/hang-up) on the socket.

        ``timeout <= 0`` only asks. A poll object per call, not one kept per connection: idle
        connections are many, and each would keep one.
        """
        poller = select.poll()
        poller.register(self.sock, events)
        return bool(poller.poll(_poll_ms(timeout) if timeout > 0 else 0))

    def _linger(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the socket to become readable: True if it did, False on
        timeout or when the pool calls this worker back for a queued job (after CALL_AFTER)."""
        pool = self._pool
        call_fd = pool.linger_begin()
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
                if pool.take_call():
                    return False
                # another lingering worker took the call: wait for the socket alone
                poller.unregister(call_fd)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
        finally:
            pool.linger_end()

    # -- writing ------------------------------------------------------------------------------

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

    # -- ending -------------------------------------------------------------------------------

    def _discard_input(self) -> None:
        """Half-close, then read and drop what the client still sends (at most DISCARD_SECONDS
        and DISCARD_BYTES), so that closing does not reset the connection while the client has
        not read our last response yet (what Apache and nginx call a lingering close)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + DISCARD_SECONDS
            discarded = 0
            while discarded < DISCARD_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._settimeout(remaining)
                n = self.sock.recv_into(_recv_buffer())
                if not n:
                    break
                discarded += n
        except OSError:
            pass

    def _close_notify(self) -> None:
        """Send TLS close_notify without waiting for the client's: the client can tell a
        complete response from a cut one, and OpenSSL keeps the session for resumption by id
        (it drops the sessions of connections closed without one)."""
        try:
            self.sock.setblocking(False)
            self.sock.unwrap()  # type: ignore[attr-defined]
        except (OSError, ValueError):  # ssl.SSLWantReadError: the client's reply not here yet
            pass
