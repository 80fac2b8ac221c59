"""Three wsgikit instances behind nginx and behind HAProxy, sessions in one redis-server.

- a session made through one instance is valid on every other one;
- each instance's /metrics moves with the requests the balancer sent it;
- a rolling restart (SIGTERM, start again, one instance at a time) under load: 0 failed requests;
- SIGKILL of one instance under load: the balancer fails over; what the clients saw is asserted.

The numbers (requests, failures, latency) are printed; docs/scaling.rst quotes a run of them.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

import pytest

from tests.deploy.conftest import (
    DRAIN_DELAY,
    Cluster,
    Load,
    LoadReport,
    call,
    login,
    wait_balanced,
)
from tests.unit.test_metrics import parse

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BALANCERS = ["nginx", "haproxy"]


def _whoami(url: str, cookie: str) -> dict[str, object]:
    status, _, body = call(url, "/", cookie=cookie)
    assert status == 200, body
    return dict(json.loads(body))


@pytest.mark.parametrize("balancer", BALANCERS)
def test_a_session_made_through_one_instance_is_valid_on_all(
    cluster: Cluster, balancer: str
) -> None:
    url = cluster.balancers[balancer]
    cookie = login(url)
    # pinned to each instance directly
    for inst in cluster.instances:
        doc = _whoami(inst.url, cookie)
        assert (doc["instance"], doc["user"]) == (inst.name, "alice")
    # through the balancer: round robin spreads them over all three, each one knows alice
    seen = set()
    for _ in range(12):
        doc = _whoami(url, cookie)
        assert doc["user"] == "alice"
        seen.add(doc["instance"])
    assert seen == {"app1", "app2", "app3"}
    # a write on one instance is read on the next
    first, second = cluster.instances[0], cluster.instances[1]
    status, _, body = call(first.url, "/inc", method="POST", cookie=cookie)
    assert status == 200 and json.loads(body)["n"] == 1
    assert _whoami(second.url, cookie)["n"] == 1
    # without the cookie nobody is logged in
    assert _whoami(url, "")["user"] is None


def _scrape(url: str) -> float:
    status, _, body = call(url, "/metrics")
    assert status == 200, body
    return parse(body.decode())["wsgikit_requests_total"].get(
        (("method", "GET"), ("status", "2xx")), 0.0)


@pytest.mark.parametrize("balancer", BALANCERS)
def test_each_instances_metrics_move_with_what_the_balancer_sent_it(
    cluster: Cluster, balancer: str
) -> None:
    """HAProxy's health checks are HEADs, so GET 2xx counts only these requests (and scrapes)."""
    url = cluster.balancers[balancer]
    before = {inst.name: _scrape(inst.url) for inst in cluster.instances}
    sent: dict[str, int] = {inst.name: 0 for inst in cluster.instances}
    for _ in range(30):
        status, _, body = call(url, "/")
        assert status == 200
        sent[json.loads(body)["instance"]] += 1
    time.sleep(0.2)  # the last response's record is written just after its bytes
    after = {inst.name: _scrape(inst.url) for inst in cluster.instances}
    assert all(n >= 5 for n in sent.values()), sent  # round robin reached each
    for name in sent:
        # plus one: the first scrape, counted once its response was sent
        assert after[name] - before[name] == sent[name] + 1, (name, before, after, sent)


def _record(balancer: str, what: str, report: LoadReport) -> None:
    print(f"\n[deploy] {balancer} {what}: {report.summary()}")


def _record_balancer(cluster: Cluster, balancer: str, checks_before: dict[str, dict[str, str]],
                     nginx_lines: int) -> dict[str, Any]:
    """What the balancer saw meanwhile: HAProxy's counters, or nginx's new error.log lines."""
    if balancer == "haproxy":
        now = cluster.haproxy_stats()

        def delta(server: str, name: str) -> int:
            return int(now[server][name] or 0) - int(checks_before[server][name] or 0)

        print("[deploy] haproxy: " + ", ".join(
            f"{s}: down {delta(s, 'chkdown')}x, retries {delta(s, 'wretr')}, "
            f"redispatched {delta(s, 'wredis')}, conn errors {delta(s, 'econ')}, "
            f"response errors {delta(s, 'eresp')}" for s in ("app1", "app2", "app3")))
        return dict(now)
    lines = cluster.nginx_errors()[nginx_lines:]
    kinds = Counter(re.sub(r".*\*\d+ (.*?)(?: while|,).*", r"\1", line) for line in lines)
    print(f"[deploy] nginx error.log: {dict(kinds)}")
    return {"lines": lines}


@pytest.mark.parametrize("balancer", BALANCERS)
def test_rolling_restart_under_load_fails_no_request(cluster: Cluster, balancer: str) -> None:
    url = cluster.balancers[balancer]
    cookie = login(url)
    stop_times = []
    checks_before = cluster.haproxy_stats()
    nginx_lines = len(cluster.nginx_errors())
    # nginx's health checks are passive: a POST it sends on a connection that an instance's
    # closing listener resets (taken into the backlog an instant before close) is not replayed,
    # so through nginx only GETs are promised to survive; HAProxy's active checks take the
    # instance out before its listener closes, so POSTs go through it too (docs/scaling.rst)
    with Load(url, cookie, posts=balancer == "haproxy") as load:
        time.sleep(0.5)
        for inst in cluster.instances:
            old = inst.pids()
            stop_times.append(inst.terminate())  # drain delay, then drain, then exit 0
            inst.start()
            inst.wait_ready()
            assert not inst.pids() & old
            wait_balanced(url, inst)  # back in rotation before the next one goes
        time.sleep(0.5)
        report = load.stop()
    _record(balancer, "rolling restart", report)
    seen = _record_balancer(cluster, balancer, checks_before, nginx_lines)
    assert report.failed == 0, report.failures
    if balancer == "haproxy":  # its health checks took each instance out before it closed
        assert all(int(seen[s]["chkdown"]) - int(checks_before[s]["chkdown"]) == 1
                   for s in ("app1", "app2", "app3")), seen
    else:  # nginx only ever met a closed port (never replayed a request: no keep-alive race)
        assert not any("prematurely closed" in line or "reset by peer" in line
                       for line in seen["lines"]), seen["lines"]
    assert report.sent > 100, report.summary()
    assert set(report.by_instance) == {"app1", "app2", "app3"}
    # each instance served through its drain delay before it closed its listener
    assert all(t >= DRAIN_DELAY for t in stop_times), stop_times
    for inst in cluster.instances:
        out = inst.generations[-2].output()
        assert "not ready; serving 1.5s more" in out, out


@pytest.mark.parametrize("balancer", BALANCERS)
def test_sigkill_one_instance_under_load(cluster: Cluster, balancer: str) -> None:
    """GETs are retried on another instance (both balancers are configured to); a killed
    instance costs latency, not failed requests. POSTs are not replayed, so none are sent."""
    url = cluster.balancers[balancer]
    cookie = login(url)
    victim = cluster.instance("app2")
    checks_before = cluster.haproxy_stats()
    nginx_lines = len(cluster.nginx_errors())
    with Load(url, cookie, posts=False) as load:
        time.sleep(1.0)
        victim.kill()
        time.sleep(3.0)  # nginx: fail_timeout 2s; HAProxy: fall 2 x inter 200ms
        report = load.stop()
    _record(balancer, "SIGKILL of one instance", report)
    seen = _record_balancer(cluster, balancer, checks_before, nginx_lines)
    # the balancer did see the dead instance (so the clients' 0 failures are its failover)
    if balancer == "haproxy":
        assert int(seen["app2"]["chkdown"]) - int(checks_before["app2"]["chkdown"]) == 1
    else:
        assert any(victim.address in line for line in seen["lines"]), seen
    victim.start()
    victim.wait_ready()
    wait_balanced(url, victim)
    assert report.failed == 0, report.failures
    assert report.sent > 50, report.summary()
