"""``Connection._next_step``: the keep-alive decision, case by case, as one table.

What a worker does when the parser needs more bytes of a head: read now (waiting how long),
linger for the next request, park the connection, or expire it. The server tests check the
behaviour over sockets; this pins the order of the cases, so a change to it is a decision.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pytest

from wsgikit.config import ServerConfig
from wsgikit.server import connection as conn_module
from wsgikit.server.clientlog import ClientErrorLog
from wsgikit.server.connection import Connection

READ, LINGER, PARK, EXPIRE = (conn_module.READ, conn_module.LINGER, conn_module.PARK,
                              conn_module.EXPIRE)
TURN = conn_module.TURN
CONFIG = ServerConfig(keepalive_linger=0.02)


class Owner:
    """The server as a connection sees it, with the two answers the decision asks for."""

    config = CONFIG
    record_responses = False
    no_keep_alive = False

    def __init__(self, *, shutting_down: bool = False, queued: int = 0) -> None:
        self.shutting_down = shutting_down
        self._queued = queued
        self.client_errors = ClientErrorLog(logging.getLogger("wsgikit.test"))

    def queued(self) -> int:
        return self._queued

    def get_app(self) -> Any:  # pragma: no cover - no request is served here
        raise AssertionError

    def park(self, conn: Any, deadline: float) -> bool:  # pragma: no cover
        raise AssertionError

    def linger_begin(self) -> int:  # pragma: no cover
        raise AssertionError

    def linger_end(self) -> None:  # pragma: no cover
        raise AssertionError

    def take_call(self) -> bool:  # pragma: no cover
        raise AssertionError

    def on_response(self, record: Any) -> None:  # pragma: no cover
        raise AssertionError

    def connection_closed(self, conn: Any) -> None:
        pass


# (case, owner, fresh, turn, remaining, in_message, polled_empty) -> (step, wait)
CASES = [
    ("deadline passed", {}, False, 0, 0.0, False, False, (EXPIRE, 0.0)),
    ("deadline passed mid-head", {"queued": 3}, False, 0, -1.0, True, False, (EXPIRE, 0.0)),
    ("draining, between requests: one look, then the parker",
     {"shutting_down": True}, False, 0, 5.0, False, False, (READ, 0.0)),
    ("draining, new connection: a moment for its first request",
     {"shutting_down": True}, True, 0, 5.0, False, False, (READ, 1.0)),
    ("draining, new connection, less time left than the moment",
     {"shutting_down": True}, True, 0, 0.3, False, False, (READ, 0.3)),
    ("others wait, turn over: back of the line", {"queued": 1}, False, TURN, 5.0, False, False,
     (PARK, 0.0)),
    ("others wait, quick look found nothing: park at once", {"queued": 1}, False, 0, 5.0, False,
     True, (PARK, 0.0)),
    ("others wait, within its turn: one look", {"queued": 1}, False, 1, 5.0, False, False,
     (READ, 0.0)),
    ("others wait, mid-head: one look", {"queued": 1}, False, 0, 5.0, True, False, (READ, 0.0)),
    ("nobody waits: linger", {}, False, 5, 5.0, False, False, (LINGER, 0.02)),
    ("nobody waits, less time left than the linger", {}, False, 0, 0.01, False, False,
     (LINGER, 0.01)),
    ("nobody waits, new connection: linger for its first request", {}, True, 0, 5.0, False,
     False, (LINGER, 0.02)),
]


@pytest.mark.parametrize(
    ("owner", "fresh", "turn", "remaining", "in_message", "polled_empty", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_next_step(owner, fresh, turn, remaining, in_message, polled_empty, expected):
    a, b = socket.socketpair()
    try:
        conn = Connection(Owner(**owner), a, ("127.0.0.1", 1), {}, accepted_at=time.monotonic())
        conn.fresh = fresh
        step, wait = conn._next_step(turn, remaining, in_message, polled_empty)
        assert (step, pytest.approx(wait)) == expected
    finally:
        a.close()
        b.close()


def test_the_four_steps_are_distinct():
    assert len({READ, LINGER, PARK, EXPIRE}) == 4
