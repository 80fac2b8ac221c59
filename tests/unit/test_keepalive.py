"""KeepAliveParker: readable connections wake, silent ones expire, memory stays bounded."""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from wsgikit.server.keepalive import KeepAliveParker


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def make_parker():
    woke: list[Conn] = []
    expired: list[Conn] = []
    event = threading.Event()

    def on_ready(conn):
        woke.append(conn)
        event.set()

    def on_expire(conn):
        expired.append(conn)
        event.set()

    parker = KeepAliveParker(on_ready, on_expire)
    parker.start()
    return parker, woke, expired, event


def test_readable_connection_wakes_and_silent_one_expires():
    parker, woke, expired, event = make_parker()
    a1, a2 = socket.socketpair()
    b1, b2 = socket.socketpair()
    try:
        ready, silent = Conn(a1), Conn(b1)
        assert parker.park(ready, time.monotonic() + 10)
        assert parker.park(silent, time.monotonic() + 0.2)
        assert len(parker) == 2
        a2.sendall(b"x")
        deadline = time.monotonic() + 5
        while (not woke or not expired) and time.monotonic() < deadline:
            event.wait(0.05)
            event.clear()
        assert woke == [ready] and expired == [silent]
        assert len(parker) == 0
    finally:
        assert parker.stop() == []
        for s in (a1, a2, b1, b2):
            s.close()


def test_stop_returns_the_parked_connections_and_refuses_new_ones():
    parker, _, _, _ = make_parker()
    a1, a2 = socket.socketpair()
    try:
        conn = Conn(a1)
        assert parker.park(conn, time.monotonic() + 10)
        assert parker.stop() == [conn]
        assert parker.park(conn, time.monotonic() + 10) is False
    finally:
        a1.close()
        a2.close()


def test_deadline_heap_stays_bounded_under_churn():
    parker, woke, _, event = make_parker()
    a1, a2 = socket.socketpair()
    try:
        conn = Conn(a1)
        for _ in range(3000):  # park, wake, repeat: each leaves a stale deadline behind
            event.clear()
            assert parker.park(conn, time.monotonic() + 60)
            a2.sendall(b"x")
            assert event.wait(5)
            a1.recv(10)
        assert len(woke) == 3000
        assert len(parker._deadlines) <= 2 * len(parker) + 1025
    finally:
        parker.stop()
        a1.close()
        a2.close()


@pytest.fixture(params=["epoll", "selectors"])
def mode(request, monkeypatch):
    """Both ways of watching sockets: raw one-shot epoll (Linux) and the selectors fallback."""
    if request.param == "selectors":
        monkeypatch.delattr(select, "epoll", raising=False)
    elif not hasattr(select, "epoll"):
        pytest.skip("epoll is Linux-only")
    return request.param


def wait_for(items, count, event, seconds=5.0):
    deadline = time.monotonic() + seconds
    while len(items) < count and time.monotonic() < deadline:
        event.wait(0.05)
        event.clear()
    return len(items) >= count


def test_both_modes_wake_expire_and_repark(mode):
    parker, woke, expired, event = make_parker()
    assert parker._direct is (mode == "epoll")
    a1, a2 = socket.socketpair()
    b1, b2 = socket.socketpair()
    try:
        ready, silent = Conn(a1), Conn(b1)
        for round_ in range(1, 4):  # the same connection parked again and again
            assert parker.park(ready, time.monotonic() + 10)
            a2.sendall(b"x")
            assert wait_for(woke, round_, event)
            assert a1.recv(10) == b"x"
        assert parker.park(silent, time.monotonic() + 0.1)
        assert wait_for(expired, 1, event)
        assert woke == [ready] * 3 and expired == [silent] and len(parker) == 0
    finally:
        parker.stop()
        for s in (a1, a2, b1, b2):
            s.close()


def test_a_reused_descriptor_is_watched_afresh(mode):
    """A parked-then-closed socket's number, reused by a new socket, still wakes its owner."""
    parker, woke, _, event = make_parker()
    a1, a2 = socket.socketpair()
    conn = Conn(a1)
    try:
        assert parker.park(conn, time.monotonic() + 10)
        a2.sendall(b"x")
        assert wait_for(woke, 1, event)
        number = a1.fileno()
        a1.close()
        a2.close()
        a1, a2 = socket.socketpair()
        if a1.fileno() != number:
            a1, a2 = a2, a1
        conn.sock = a1  # the same object, a new socket: its old registration is gone
        other = Conn(a2)
        assert parker.park(conn, time.monotonic() + 10)
        assert parker.park(other, time.monotonic() + 10)
        a2.sendall(b"y")
        assert wait_for(woke, 2, event)
        assert woke == [conn, conn]
    finally:
        parker.stop()
        a1.close()
        a2.close()


def test_a_connection_parked_for_writing_wakes_when_its_send_buffer_drains():
    """What a TLS handshake that cannot send its next flight waits for (park(writable=True))."""
    parker, woke, expired, event = make_parker()
    a1, a2 = socket.socketpair()
    try:
        a1.setblocking(False)
        try:
            while True:  # fill a1's send buffer (a2 reads nothing yet)
                a1.send(b"x" * 65536)
        except BlockingIOError:
            pass
        conn = Conn(a1)
        assert parker.park(conn, time.monotonic() + 10, True)
        event.wait(0.3)
        assert woke == []  # still full: not writable
        a2.setblocking(False)
        try:
            while a2.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
        deadline = time.monotonic() + 5
        while not woke and time.monotonic() < deadline:
            event.wait(0.05)
        assert woke == [conn] and expired == []
        # parked again for reading, the same connection re-arms for input only
        event.clear()
        assert parker.park(conn, time.monotonic() + 10)
        event.wait(0.3)
        assert woke == [conn]  # writable, but nobody asked for that now
        a2.sendall(b"y")
        deadline = time.monotonic() + 5
        while len(woke) < 2 and time.monotonic() < deadline:
            event.wait(0.05)
        assert woke == [conn, conn]
    finally:
        parker.stop()
        a1.close()
        a2.close()
