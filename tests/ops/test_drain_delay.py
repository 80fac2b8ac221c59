"""``--drain-delay`` through the CLI, over real sockets: on SIGTERM the status path says 503 at
once, the server keeps accepting and serving for the delay, then closes its listener and drains.

This is what lets a load balancer's health check take an instance out before it refuses
connections (Kubernetes' preStop). SIGQUIT, and the arbiter retiring workers, skip the delay.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import re
import signal
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.ops.conftest import ServeProcess, get_json, process_alive, request, run_cli, wait_until

pytestmark = [pytest.mark.server, pytest.mark.slow]



def _status(url: str) -> int:
    return request(url, "/_status", timeout=5)[0]


def _refused(url: str) -> bool:
    try:
        request(url, "/", timeout=2)
    except ConnectionRefusedError:
        return True
    except (TimeoutError, ConnectionResetError, http.client.RemoteDisconnected):
        return False  # taken from the backlog while draining, slowly on a busy machine: retry
    return False



def _serve_during_delay(url: str, until: float) -> set[int]:
    """New connections until ``until`` (monotonic): each answered by the app; their pids."""
    pids: set[int] = set()
    served = 0
    while time.monotonic() < until:
        pids.add(get_json(url, "/during")["pid"])
        served += 1
        time.sleep(0.05)
    assert served >= 5, served
    return pids


def test_sigterm_reports_draining_at_once_then_serves_for_the_delay(
    serve: Callable[..., ServeProcess],
) -> None:
    delay = 2.0
    proc = serve("opsapp:app", "--port", "0", "--threads", "4", "--status-path", "/_status",
                 "--drain-delay", str(delay), "--graceful-timeout", "10")
    url = proc.wait_listening()[0]
    assert _status(url) == 200
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sent = time.monotonic()
        proc.signal(signal.SIGTERM)
        wait_until(lambda: _status(url) == 503, 1.0, "status 503 right after SIGTERM", proc)
        status, headers, body = request(url, "/_status")
        doc = json.loads(body)
        assert (status, doc["status"], doc["ready"]) == (503, "draining", False)
        # accepted during the delay, still running when the listener closes: it must finish
        slow = pool.submit(request, url, "/sleep/2.5", timeout=20)
        _serve_during_delay(url, sent + delay - 0.5)
        wait_until(lambda: _refused(url), delay + 5.0, "the listener to close", proc)
        closed_after = time.monotonic() - sent
        assert closed_after >= delay, closed_after  # not before the delay ran out
        assert slow.result(timeout=20)[0] == 200
    assert proc.proc.wait(20) == 0
    out = proc.output()
    assert re.search(r"SIGTERM: not ready; serving 2s more before closing the listener", out)
    assert out.index("not ready; serving") < out.index("SIGTERM: draining")


def test_keep_alive_ends_during_the_delay(serve: Callable[..., ServeProcess]) -> None:
    """A connection opened before SIGTERM is served during the delay, with Connection: close,
    so a proxy's idle connection is gone before the drain (no request lost on one closing)."""
    proc = serve("opsapp:app", "--port", "0", "--threads", "2", "--status-path", "/_status",
                 "--drain-delay", "2", "--graceful-timeout", "10")
    url = proc.wait_listening()[0]
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/before")
        first = conn.getresponse()
        first.read()
        assert first.status == 200 and not first.will_close
        proc.signal(signal.SIGTERM)
        wait_until(lambda: _status(url) == 503, 1.0, "status 503 right after SIGTERM", proc)
        conn.request("GET", "/during")  # the same, idle keep-alive connection
        second = conn.getresponse()
        assert json.loads(second.read())["PATH_INFO"] == "/during"
        assert second.status == 200
        assert second.getheader("Connection") == "close" and second.will_close
    finally:
        conn.close()
    assert proc.proc.wait(20) == 0


def test_workers_report_draining_and_serve_for_the_delay(
    serve: Callable[..., ServeProcess],
) -> None:
    delay = 2.0
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "2",
                 "--status-path", "/_status", "--drain-delay", str(delay),
                 "--graceful-timeout", "10")
    url = proc.wait_listening()[0]
    proc.wait_for(r"worker \d+ started", count=2)
    workers = {int(p) for p in re.findall(r"worker (\d+) started", proc.output())}
    answered: set[int] = set()  # both workers serving (a booting one would just die)
    wait_until(lambda: answered.add(get_json(url)["pid"]) or answered == workers, 20.0,
           "both workers to answer", proc)
    sent = time.monotonic()
    proc.signal(signal.SIGTERM)
    wait_until(lambda: _status(url) == 503, 1.0, "status 503 right after SIGTERM", proc)
    # every worker has been told: ten fresh connections, ten 503s, whichever worker answers
    assert [_status(url) for _ in range(10)] == [503] * 10
    assert _serve_during_delay(url, sent + delay - 0.5) <= workers
    wait_until(lambda: _refused(url), delay + 5.0, "the listeners to close", proc)
    assert time.monotonic() - sent >= delay
    assert proc.proc.wait(20) == 0
    assert "all workers stopped" in proc.output()
    assert len(re.findall(r"SIGTERM: not ready; serving 2s more", proc.output())) == 2


def test_sigquit_skips_the_delay(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--status-path", "/_status",
                 "--drain-delay", "60")
    url = proc.wait_listening()[0]
    assert _status(url) == 200
    proc.signal(signal.SIGQUIT)
    assert proc.proc.wait(15) == 0
    assert "not ready; serving" not in proc.output()
    assert "SIGQUIT: draining" in proc.output()


def test_sighup_retires_old_workers_without_the_delay(
    serve: Callable[..., ServeProcess],
) -> None:
    """A code reload must not leave old workers answering 503 health checks for the delay."""
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "2",
                 "--status-path", "/_status", "--drain-delay", "60")
    url = proc.wait_listening()[0]
    proc.wait_for(r"worker \d+ started", count=2)
    old = {int(p) for p in re.findall(r"worker (\d+) started", proc.output())}
    proc.signal(signal.SIGHUP)
    proc.wait_for(r"worker \d+ started", count=4)
    wait_until(lambda: not any(process_alive(pid) for pid in old), 15.0, "old workers to exit",
               proc)
    assert "not ready; serving" not in proc.output()
    assert _status(url) == 200
    assert get_json(url)["pid"] not in old
    proc.signal(signal.SIGQUIT)  # no 60 s wait in the test
    assert proc.proc.wait(20) == 0


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_bad_drain_delay_is_exit_2(app_dir: Path, value: str) -> None:
    result = run_cli(["serve", "opsapp:app", "--drain-delay", value], app_dir)
    assert result.returncode == 2
    assert "drain_delay" in result.stderr
