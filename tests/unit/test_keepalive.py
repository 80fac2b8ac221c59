"""KeepAliveParker: readable connections wake, silent ones expire, memory stays bounded."""

from __future__ import annotations

import socket
import threading
import time

from wsgikit.keepalive import KeepAliveParker


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
