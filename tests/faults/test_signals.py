"""Signals under load, through the CLI: SIGKILL of a worker, SIGHUP reload, SIGTERM drain.

A bounded load (``Load``: clients on new connections and on keep-alive connections) runs
throughout; every request's outcome is counted. No request the server has taken may be lost
and, while the server is meant to serve, no connection may be refused.
"""

from __future__ import annotations

import os
import re
import signal
import time
from typing import Callable

import pytest

from tests.faults.load import Load
from tests.ops.conftest import ServeProcess

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _address(proc: ServeProcess) -> tuple[str, int]:
    url = proc.wait_listening()[0]
    m = re.fullmatch(r"http://([^:/]+):(\d+)", url)
    assert m, url
    return m.group(1), int(m.group(2))


def _live_workers(proc: ServeProcess) -> list[int]:
    out = proc.output()
    started = [int(p) for p in re.findall(r"worker (\d+) started", out)]
    gone = {int(p) for p in re.findall(r"worker (\d+) (?:exited|died)", out)}
    return [pid for pid in started if pid not in gone]


def _until(predicate: Callable[[], bool], timeout: float, what: str, proc: ServeProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}:\n{proc.output()}")


def test_sigkill_of_a_worker_leaves_the_other_workers_requests_alone(
    serve: Callable[..., ServeProcess],
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "4",
                 "--keepalive-timeout", "30")
    host, port = _address(proc)
    proc.wait_for(r"worker \d+ started", count=2)
    fresh, keepalive = 3, 6
    load = Load(host, port, fresh_clients=fresh, keepalive_clients=keepalive).start()
    try:
        _until(lambda: {o.client for o in load.outcomes if o.kind == "ok"} >= set(
            range(fresh, fresh + keepalive)), 20, "every keep-alive client to be served", proc)
        # Each keep-alive client stays on the worker that accepted its connection: the
        # survivor is the worker holding the most of them (all of them, possibly).
        holder = {o.client: o.pid for o in load.outcomes if o.kind == "ok" and o.client >= fresh}
        workers = _live_workers(proc)
        survivor = max(workers, key=lambda pid: list(holder.values()).count(pid))
        victim = next(pid for pid in workers if pid != survivor)
        on_survivor = {c for c, pid in holder.items() if pid == survivor}
        kill_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        proc.wait_for(rf"worker {victim} died \(signal SIGKILL\); starting a replacement")
        proc.wait_for(r"worker \d+ started", count=3)
        time.sleep(1.5)  # the replacement serves too
    finally:
        load.stop()
    assert on_survivor
    # The survivor's keep-alive clients never saw a failure and stayed on it throughout.
    for client in on_survivor:
        mine = [o for o in load.outcomes if o.client == client]
        assert all(o.kind == "ok" and o.pid == survivor for o in mine), [
            (o.kind, o.pid, o.detail) for o in mine if o.kind != "ok" or o.pid != survivor]
        assert any(o.at > kill_at for o in mine)
    # Nobody was refused; only requests the killed worker had taken failed (one per client
    # at most: its keep-alive clients and any fresh connection it had accepted).
    assert load.count("refused") == 0, load.details("refused")
    failed_clients = [o.client for o in load.outcomes if o.kind in ("lost", "retry")]
    assert len(failed_clients) == len(set(failed_clients)), load.details("lost", "retry")
    replacement = set(_live_workers(proc)) - {survivor}
    assert len(replacement) == 1 and victim not in replacement
    assert any(o.pid in replacement for o in load.outcomes if o.kind == "ok")
    assert proc.stop() == 0


def test_sighup_under_load_loses_and_refuses_nothing(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "4")
    host, port = _address(proc)
    proc.wait_for(r"worker \d+ started", count=2)
    old = _live_workers(proc)
    load = Load(host, port, fresh_clients=4, keepalive_clients=4).start()
    try:
        time.sleep(1.0)
        proc.signal(signal.SIGHUP)
        proc.wait_for(r"SIGHUP: starting 2 new worker")
        _until(lambda: all(f"worker {pid} exited" in proc.output() for pid in old), 30,
               "the old workers to drain", proc)
        time.sleep(1.0)
    finally:
        load.stop()
    new = set(_live_workers(proc))
    assert new and not new & set(old)
    assert {o.pid for o in load.outcomes if o.kind == "ok"} >= new  # the new set serves
    assert load.count("ok") > 50
    assert load.count("lost") == 0, load.details("lost")
    assert load.count("refused") == 0, load.details("refused")
    assert proc.stop() == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_under_load_loses_nothing(serve: Callable[..., ServeProcess],
                                          workers: str) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", workers, "--threads", "4",
                 "--graceful-timeout", "15")
    host, port = _address(proc)
    if workers != "1":
        proc.wait_for(r"worker \d+ started", count=int(workers))
    load = Load(host, port, fresh_clients=4, keepalive_clients=4, path="/sleep/0.05").start()
    try:
        time.sleep(1.0)
        term_at = time.monotonic()
        proc.signal(signal.SIGTERM)
        assert proc.proc.wait(30) == 0
        exited_at = time.monotonic()
        time.sleep(0.3)
    finally:
        load.stop()
    assert load.count("ok", until=term_at) > 20
    # Every request the server took was answered; before the signal nobody was refused.
    assert load.count("lost") == 0, load.details("lost")
    assert load.count("refused", until=term_at) == 0, load.details("refused")
    assert load.count("refused", since=exited_at) > 0  # it did stop listening
