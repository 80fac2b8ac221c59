"""wsgikit.server.clientlog: client errors are counted, one DEBUG line each, one summary per
interval."""

from __future__ import annotations

import logging

import pytest

from wsgikit.errors import ClientDisconnected
from wsgikit.http11 import BadRequest, ContentTooLarge, RequestTimeout
from wsgikit.server.clientlog import ClientErrorLog, kind_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logger() -> logging.Logger:
    return logging.getLogger("wsgikit.test-clientlog")


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


def test_many_errors_give_one_summary_per_interval(logger, caplog):
    clock = Clock()
    errors = ClientErrorLog(logger, 60.0, clock=clock)
    with caplog.at_level(logging.INFO, logger=logger.name):
        for i in range(412):
            errors.record("malformed", f"10.0.0.{i % 37}", "bad request line")
        for _ in range(3):
            errors.record("timeout", "10.0.1.1")
        clock.now += 30
        errors.tick()
        assert info_lines(caplog) == []  # the interval is not over: nothing yet
        clock.now += 30
        errors.tick()
        errors.tick()
    assert info_lines(caplog) == [
        "wsgikit: client errors in the last 60 s: 412 malformed requests from 37 clients, "
        "3 timeouts from 1 client"
    ]
    assert errors.totals["malformed"] == 412 and errors.totals["timeout"] == 3


def test_a_quiet_interval_writes_nothing(logger, caplog):
    clock = Clock()
    errors = ClientErrorLog(logger, 10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger=logger.name):
        for _ in range(5):
            clock.now += 11
            errors.tick()
        errors.flush()
    assert info_lines(caplog) == []


def test_each_error_is_a_debug_line_when_debug_is_on(logger, caplog):
    errors = ClientErrorLog(logger, 60.0, clock=Clock())
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        errors.record("reset", "192.0.2.7", "port 5000: connection reset")
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug == ["wsgikit: client 192.0.2.7: connection reset or abandoned: "
                     "port 5000: connection reset"]


def test_the_next_error_after_the_interval_writes_the_summary(logger, caplog):
    clock = Clock()
    errors = ClientErrorLog(logger, 60.0, clock=clock)
    with caplog.at_level(logging.INFO, logger=logger.name):
        errors.record("tls", "a")
        clock.now += 61
        errors.record("tls", "b")  # no tick needed: record() rolls the interval over too
        errors.flush()
    assert info_lines(caplog) == [
        "wsgikit: client errors in the last 61 s: 2 failed TLS handshakes from 2 clients",
    ]


def test_distinct_clients_are_remembered_up_to_a_bound(logger, caplog):
    errors = ClientErrorLog(logger, 60.0, clock=Clock(), max_clients=10)
    with caplog.at_level(logging.INFO, logger=logger.name):
        for i in range(1000):
            errors.record("reset", f"c{i}")
        errors.flush()
    assert info_lines(caplog) == [
        "wsgikit: client errors in the last 0 s: "
        "1000 connections reset or abandoned from at least 10 clients"
    ]


def test_an_unknown_kind_is_a_programming_error(logger):
    with pytest.raises(ValueError, match="unknown client error kind 'oops'"):
        ClientErrorLog(logger).record("oops", "x")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (BadRequest("bad"), "malformed"),
        (ContentTooLarge("big"), "malformed"),
        (RequestTimeout("slow"), "timeout"),
        (TimeoutError("send stalled"), "timeout"),
        (ClientDisconnected("reset"), "reset"),
        (ConnectionResetError(104, "reset"), "reset"),
    ],
)
def test_kind_of(exc, kind):
    assert kind_of(exc) == kind


def test_a_stalled_send_wrapped_by_the_gateway_is_a_timeout():
    try:
        try:
            raise TimeoutError("send stalled")
        except TimeoutError as exc:
            raise ClientDisconnected("client went away while sending") from exc
    except ClientDisconnected as wrapped:
        assert kind_of(wrapped) == "timeout"


def test_log_throttle_says_when_a_line_is_due_and_counts_in_between() -> None:
    from wsgikit.server.clientlog import LogThrottle

    throttle = LogThrottle(10.0)
    assert throttle.count(now=100.0) == (1, float("inf"))  # the first event logs at once
    assert throttle.count(now=101.0) is None
    assert throttle.count(now=109.9) is None
    assert throttle.count(now=110.0) == (3, 10.0)  # three events since the last line
    assert throttle.events == 4
    throttle.reset()
    assert throttle.events == 0
    assert throttle.count(now=111.0) == (1, float("inf"))  # over, so the next one logs at once
