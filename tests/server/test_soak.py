"""A short soak (``benchmarks.soak``, about 30 s): mixed and abusive load against a real
``wsgikit serve`` (and a TLS instance for aborted handshakes), then idle.

Asserts what must hold on any machine: no well-behaved request lost (every request the app
started reached its client whole), fds back to their idle baseline, no thread growth, no
traceback in either server's log. Memory bounds live in the benchmark (``make soak``), not here.
"""

from __future__ import annotations

import pytest

from tests.conftest import require_module
from tests.support.compiled import COMPILED

pytestmark = pytest.mark.server

LOAD_SECONDS = 20.0


def test_short_soak_loses_nothing_and_leaks_no_fd_or_thread(tmp_path):
    require_module("trustme")
    from benchmarks.soak import SoakConfig, run_soak

    cfg = SoakConfig(server="wsgikit", duration=LOAD_SECONDS, after=4.0, interval=2.0,
                     build="compiled" if COMPILED else "python", tls=True, pin=False)
    lines: list[str] = []
    result = run_soak(cfg, tmp_path, progress=lines.append)
    timeline = "\n".join(lines)
    requests, summary = result["requests"], result["summary"]

    assert requests["completed"] > 500, timeline  # the load really ran
    assert requests["abusive_started_by_app"] > 0, requests  # and so did the abusive clients
    assert requests["lost"] == 0, requests["lost_reasons"]
    assert requests["accounted"], requests  # started == completed + lost, exactly
    assert summary["fds_after"] == summary["fds_idle"], timeline
    assert summary["threads_max"] == summary["threads_idle"], timeline
    assert summary["tls_fds_after"] == summary["tls_fds_idle"], timeline
    assert summary["tls_threads_max"] == summary["tls_threads_idle"], timeline
    for key in ("server_log", "tls_server_log"):
        assert result[key]["tracebacks"] == 0, result[key]["tail"]
