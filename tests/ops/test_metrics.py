"""``--metrics-path`` through the CLI: scraped with prometheus_client's parser, counters move with
real requests, and with ``--workers`` one scrape is the sum over the workers."""

from __future__ import annotations

import os
import re
import signal
import time
from typing import Callable

import pytest

from tests.ops.conftest import ServeProcess, get_json, request
from tests.unit.test_metrics import parse

pytestmark = [pytest.mark.server]

Metrics = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(url: str) -> Metrics:
    status, headers, body = request(url, "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(body.decode())


def requests_total(m: Metrics, method: str = "GET", status: str = "2xx") -> float:
    return m["wsgikit_requests_total"][(("method", method), ("status", status))]


def test_counters_move_with_real_requests(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--threads", "4", "--metrics-path", "/metrics")
    url = proc.wait_listening()[0]
    before = scrape(url)
    for _ in range(5):
        get_json(url, "/hello")
    status, _, _ = request(url, "/metrics", method="POST")  # 405 from the endpoint itself
    assert status == 405
    # a worker counts its response after sending it: the scrape (another worker) may come
    # first, so scrape again until everything shows (bounded); each extra scrape is a GET too
    deadline = time.monotonic() + 5
    after, extra = scrape(url), 0

    def moved(m: Metrics) -> tuple[float, float]:
        return (requests_total(m) - requests_total(before),
                requests_total(m, "POST", "4xx") - requests_total(before, "POST", "4xx"))

    while (moved(after)[0] < 6 or moved(after)[1] < 1) and time.monotonic() < deadline:
        time.sleep(0.05)
        after, extra = scrape(url), extra + 1
    gets, posts = moved(after)
    # five GETs and the first scrape are 2xx GETs (plus the extra scrapes); the POST is a 4xx
    assert 6 <= gets <= 6 + extra
    assert posts == 1
    assert after["wsgikit_request_duration_seconds_count"][()] >= 7
    assert after["wsgikit_response_body_bytes_total"][()] > \
        before["wsgikit_response_body_bytes_total"][()]
    assert after["wsgikit_worker_threads"][()] == 4
    assert after["wsgikit_open_connections"][()] >= 1  # this scrape's own connection
    assert proc.stop() == 0


def test_workers_sum_and_survive_a_killed_worker(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "2",
                 "--metrics-path", "/metrics")
    url = proc.wait_listening()[0]
    proc.wait_for(r"worker \d+ started", count=2)
    served_by: dict[int, int] = {}
    deadline = time.monotonic() + 20
    while len(served_by) < 2 and time.monotonic() < deadline:  # fresh connections: both serve
        pid = get_json(url, "/hello")["pid"]
        served_by[pid] = served_by.get(pid, 0) + 1
    assert len(served_by) == 2, served_by
    sent = sum(served_by.values())
    time.sleep(1.5)  # each worker publishes its gauges every second
    m = scrape(url)
    assert requests_total(m) == sent  # every worker's requests, whoever answers the scrape
    assert m["wsgikit_worker_threads"][()] == 4  # 2 workers x 2 threads
    assert m["wsgikit_worker_restarts_total"][()] == 0
    # a worker counts a response after sending it, so the scrape above may not be counted yet
    # when the victim is killed; scrape until it shows (bounded), then kill
    counted, deadline = requests_total(m), time.monotonic() + 5
    while counted < sent + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        counted = requests_total(scrape(url))
    assert counted >= sent + 1, (counted, sent)
    victim = next(iter(served_by))
    os.kill(victim, signal.SIGKILL)
    proc.wait_for(rf"worker {victim} died \(signal SIGKILL\); starting a replacement")
    proc.wait_for(r"worker \d+ started", count=3)
    time.sleep(1.5)
    m2 = scrape(url)
    # the dead worker's requests still count, scrapes included: nothing went back
    assert requests_total(m2) >= counted
    assert m2["wsgikit_worker_restarts_total"][()] == 1
    assert m2["wsgikit_worker_threads"][()] == 4  # the dead one's gauges are cleared
    assert proc.stop() == 0
    assert not re.search(r"Traceback", proc.output())
