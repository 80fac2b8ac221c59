"""One selector thread that parks idle connections so they hold no worker thread.

A parked connection waits for the client's next bytes. When its socket becomes readable the
parker hands it to ``on_ready`` (the server puts it back in the worker pool); when its deadline
passes first, ``on_expire`` gets it (the server answers 408 to a half-sent head, or just closes).
Ten thousand idle connections cost ten thousand file descriptors and one thread.

On Linux workers register sockets with epoll directly: epoll accepts new registrations while
another thread waits on it, so parking costs one ``epoll_ctl`` and no wake-up. Registrations
are one-shot: a socket that fires is disarmed by the kernel, and the next park of the same
connection re-arms it (``EPOLL_CTL_MOD``), so a keep-alive connection costs one ``epoll_ctl``
per park instead of an add and a delete. Other selectors get a wake-up byte through a socket
pair.

A connection may also be parked until its socket is *writable* (``park(..., writable=True)``):
a TLS handshake that cannot send its next flight waits so (see ``tls.Handshaker``, which
runs handshakes in a parker of its own).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import selectors
import socket
import threading
import time
from typing import Any, Callable

__all__ = ["KeepAliveParker"]

log = logging.getLogger("wsgikit.error")

#: Longest sleep of the selector thread: the precision of deadlines set while it sleeps.
TICK = 0.05
_ONE_SHOT_READ = getattr(select, "EPOLLIN", 0) | getattr(select, "EPOLLONESHOT", 0)
_ONE_SHOT_WRITE = getattr(select, "EPOLLOUT", 0) | getattr(select, "EPOLLONESHOT", 0)


class WakeUp:
    """Wakes a thread blocked in select/poll/epoll: it watches ``fileno()``, others ``set()``.

    A non-blocking socket pair: ``set()`` never blocks (a full buffer means a wake-up is
    pending already) and the woken thread ``clear()``s it before waiting again.
    """

    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)

    def fileno(self) -> int:
        return self.reader.fileno()

    def set(self) -> None:
        try:
            self._writer.send(b"\0")
        except OSError:
            pass  # buffer full: a wake-up is already pending

    def clear(self) -> None:
        try:
            while self.reader.recv(4096):
                pass
        except OSError:
            pass

    def take(self) -> bool:
        """Take one pending wake-up (of several ``set()``s, each is taken once); False if none."""
        try:
            return bool(self.reader.recv(1))
        except OSError:
            return False

    def close(self) -> None:
        self.reader.close()
        self._writer.close()


class KeepAliveParker:
    """Park connections until readable (``on_ready``) or past their deadline (``on_expire``)."""

    def __init__(
        self,
        on_ready: Callable[[Any], None],
        on_expire: Callable[[Any], None],
        *,
        name: str = "wsgikit-keepalive",
    ) -> None:
        self._on_ready = on_ready
        self._on_expire = on_expire
        # Linux: a raw epoll with one-shot registrations; elsewhere the selectors module.
        self._direct = hasattr(select, "epoll")
        self._epoll: Any = None
        self._selector: Any = None
        if self._direct:
            self._epoll = select.epoll()
        else:
            self._selector = selectors.DefaultSelector()
        #: fd -> id() of the connection registered with epoll (armed or disarmed by firing)
        self._armed: dict[int, int] = {}
        self._lock = threading.Lock()
        self._parked: dict[int, tuple[Any, float, int]] = {}  # fd -> (conn, deadline, token)
        self._deadlines: list[tuple[float, int, int]] = []  # heap of (deadline, token, fd)
        self._tokens = itertools.count()
        self._pending: list[tuple[Any, float, bool]] = []  # non-epoll: for the thread to add
        self._wakeup = WakeUp()
        if self._direct:
            self._epoll.register(self._wakeup.fileno(), select.EPOLLIN)
        else:
            self._selector.register(self._wakeup.reader, selectors.EVENT_READ, None)
        self._running = False
        self._stopped = False
        self._selector_thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread; a no-op once started, and once stopped (stop() may come first)."""
        with self._lock:
            if self._running or self._stopped:
                return
            self._running = True
            self._selector_thread.start()

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, conn: Any, deadline: float, writable: bool = False) -> bool:
        """Wait for ``conn`` to become readable (or ``writable``) before ``deadline``.

        ``deadline`` is a ``time.monotonic()`` time. False if the parker is stopped: the caller
        keeps the connection (and closes it).
        """
        if not self._running:
            return False
        if self._direct:
            with self._lock:
                if not self._running:
                    return False
                self._add(conn, deadline, writable)
            return True
        with self._lock:
            if not self._running:
                return False
            self._pending.append((conn, deadline, writable))
        self._wakeup.set()
        return True

    def stop(self, timeout: float = 5.0) -> list[Any]:
        """Stop the thread; return the connections still parked (the caller closes them)."""
        with self._lock:
            was_running = self._running
            self._running = False
            if self._stopped:
                return []
            self._stopped = True
        if was_running:
            self._wakeup.set()
            if self._selector_thread is not threading.current_thread():
                self._selector_thread.join(timeout)
        with self._lock:
            left = [conn for conn, _, _ in self._parked.values()]
            left.extend(conn for conn, _, _ in self._pending)
            for fd in list(self._parked):
                self._forget(fd)
            self._parked.clear()
            self._pending.clear()
            self._deadlines.clear()
        try:
            (self._epoll if self._direct else self._selector).close()
        finally:
            self._wakeup.close()
        return left

    # -- internals (called with the lock held, or from the parker thread) ------------------------

    def _add(self, conn: Any, deadline: float, writable: bool = False) -> None:
        fd = conn.fileno()
        token = next(self._tokens)
        self._parked[fd] = (conn, deadline, token)
        heap = self._deadlines
        if len(heap) > 2 * len(self._parked) + 1024:
            # entries of connections that woke up before their deadline pile up on a busy
            # server: rebuild from the parked ones (amortised O(1), bounded memory)
            heap[:] = [(d, t, f) for f, (_, d, t) in self._parked.items() if f != fd]
            heapq.heapify(heap)
        heapq.heappush(heap, (deadline, token, fd))
        try:
            if self._direct:
                self._arm(fd, conn, _ONE_SHOT_WRITE if writable else _ONE_SHOT_READ)
            else:
                event = selectors.EVENT_WRITE if writable else selectors.EVENT_READ
                self._selector.register(fd, event, conn)
        except (KeyError, ValueError, OSError):
            self._parked.pop(fd, None)
            raise

    def _arm(self, fd: int, conn: Any, events: int) -> None:
        """Register ``fd`` one-shot, or re-arm it if this connection is registered already."""
        epoll = self._epoll
        if self._armed.get(fd) == id(conn):
            try:
                epoll.modify(fd, events)
                return
            except FileNotFoundError:  # closed and reopened since: register it afresh
                pass
        try:
            epoll.register(fd, events)
        except FileExistsError:  # an fd number reused while its old registration lingered
            epoll.modify(fd, events)
        self._armed[fd] = id(conn)

    def _unregister(self, fd: int) -> None:
        """Selectors mode: stop watching ``fd`` (one-shot epoll registrations disarm alone)."""
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass

    def _forget(self, fd: int) -> None:
        """Remove ``fd``'s registration for good (it expired, or the parker stops)."""
        if self._direct:
            self._armed.pop(fd, None)
            try:
                self._epoll.unregister(fd)
            except (ValueError, OSError):
                pass
        else:
            self._unregister(fd)

    def _run(self) -> None:
        wait = self._epoll.poll if self._direct else self._selector.select
        collect = self._collect_epoll if self._direct else self._collect_selected
        while self._running:
            try:
                events = wait(TICK)
            except OSError:  # a socket closed under us; the next pass is clean
                events = []
            with self._lock:
                running = self._running
                ready = collect(events) if running else []
                expired = self._pop_expired(time.monotonic()) if self._deadlines else []
            if not running:
                return
            self._dispatch(ready, expired)

    def _collect_epoll(self, events: list[tuple[int, int]]) -> list[Any]:
        """The connections whose sockets fired (each one-shot registration is now disarmed)."""
        wake_fd = self._wakeup.fileno()
        parked = self._parked
        ready = []
        for fd, _ in events:
            if fd == wake_fd:
                self._wakeup.clear()
                continue
            entry = parked.pop(fd, None)
            if entry is not None:
                ready.append(entry[0])
        return ready

    def _collect_selected(self, events: list[tuple[Any, int]]) -> list[Any]:
        """Selectors mode: the connections whose sockets fired, then register the pending."""
        ready = []
        for key, _ in events:
            if key.data is None:
                self._wakeup.clear()
                continue
            fd = key.fd
            entry = self._parked.pop(fd, None)
            self._unregister(fd)
            if entry is not None:
                ready.append(entry[0])
        for conn, deadline, writable in self._pending:
            try:
                self._add(conn, deadline, writable)
            except (KeyError, ValueError, OSError):
                ready.append(conn)  # let the worker see the error and close it
        self._pending.clear()
        return ready

    def _dispatch(self, ready: list[Any], expired: list[Any]) -> None:
        """Hand on what one pass found, outside the lock."""
        for conn in ready:
            self._call(self._on_ready, conn)
        for conn in expired:
            self._call(self._on_expire, conn)

    def _pop_expired(self, now: float) -> list[Any]:
        expired = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, token, fd = heapq.heappop(heap)
            entry = self._parked.get(fd)
            if entry is None or entry[2] != token:
                continue  # woke up earlier, or parked again since
            del self._parked[fd]
            self._forget(fd)
            expired.append(entry[0])
        return expired

    @staticmethod
    def _call(callback: Callable[[Any], None], conn: Any) -> None:
        try:
            callback(conn)
        except Exception:
            log.exception("wsgikit: keep-alive callback failed for %r", conn)
