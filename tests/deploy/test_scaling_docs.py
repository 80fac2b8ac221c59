"""docs/scaling.rst shows the balancer configurations the deploy tests run, byte for byte, and
its settings agree with each other (drain delay vs. health checks, grace periods)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.deploy.conftest import DRAIN_DELAY, HAPROXY_TEMPLATE, NGINX_TEMPLATE, SERVE_FLAGS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "scaling.rst").read_text()


@pytest.mark.parametrize("template", [NGINX_TEMPLATE, HAPROXY_TEMPLATE], ids=lambda p: p.name)
def test_docs_show_the_tested_configuration_verbatim(template: Path) -> None:
    block = textwrap.indent(template.read_text(), "    ")
    assert block in DOC, f"docs/scaling.rst no longer shows {template.name} as the tests run it"


def test_docs_show_the_tested_instance_flags() -> None:
    for flag, value in zip(SERVE_FLAGS[::2], SERVE_FLAGS[1::2]):
        assert f"{flag} {value}" in DOC, flag


def test_haproxy_notices_a_draining_instance_within_the_drain_delay() -> None:
    cfg = HAPROXY_TEMPLATE.read_text()
    m = re.search(r"default-server check inter (\d+)ms fall (\d+) rise (\d+)", cfg)
    assert m, "the health check settings moved"
    inter, fall = int(m.group(1)) / 1000, int(m.group(2))
    # fall failed checks, the first up to one interval after SIGTERM: with room to spare
    assert (fall + 1) * inter * 2 <= DRAIN_DELAY


def test_kubernetes_example_grace_periods_cover_the_drain() -> None:
    yaml = DOC[DOC.index("kind: Deployment"):]
    delay = float(re.search(r"WSGIKIT_DRAIN_DELAY, value: \"(\d+)\"", yaml).group(1))  # type: ignore[union-attr]
    graceful = float(re.search(r"WSGIKIT_GRACEFUL_TIMEOUT, value: \"(\d+)\"", yaml).group(1))  # type: ignore[union-attr]
    grace = int(re.search(r"terminationGracePeriodSeconds: (\d+)", yaml).group(1))  # type: ignore[union-attr]
    assert grace > delay + graceful
    live = yaml[yaml.index("livenessProbe"):]
    period = int(re.search(r"periodSeconds: (\d+)", live).group(1))  # type: ignore[union-attr]
    threshold = int(re.search(r"failureThreshold: (\d+)", live).group(1))  # type: ignore[union-attr]
    assert period * threshold > delay + graceful  # a draining pod is not restarted as dead
    assert '"--status-path", "/_status"' in yaml and "path: /_status" in yaml


@pytest.mark.parametrize("page", ["README.rst", "docs/deployment.rst"])
def test_scaling_page_is_linked(page: str) -> None:
    assert "docs/scaling.rst" in (ROOT / page).read_text()


def test_nginx_closes_idle_upstream_connections_before_the_drain_does() -> None:
    """An upstream connection idle through the whole drain delay must be nginx's to close: if
    the drain closes it, a POST nginx sends on it at that moment is lost (a 502)."""
    match = re.search(r"^\s*keepalive_timeout\s+([0-9.]+)s;", NGINX_TEMPLATE.read_text(), re.M)
    assert match, "nginx.conf.tmpl sets no upstream keepalive_timeout"
    assert float(match.group(1)) < DRAIN_DELAY
