"""Access log, proxy trust, status document, watchdog and queue wait through the CLI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.ops.conftest import ServeProcess, get_json, request
from wsgikit.ops.status import ServerState, StatusEndpoint

pytestmark = [pytest.mark.server]


def _wait_lines(path: Path, count: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    pytest.fail(f"{path} has fewer than {count} lines")


def test_access_log_format_atoms_and_escaping(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    log_path = app_dir / "access.log"
    fmt = '%h "%r" %s %b "%{User-Agent}i" %{PATH_INFO}e %{wsgikit.queue_wait}e %D'
    proc = serve("opsapp:app", "--port", "0", "--access-log", str(log_path),
                 "--access-log-format", fmt)
    url = proc.wait_listening()[0]
    # The parser refuses C0 controls in header values (400); obs-text such as a C1 control
    # (0x85) is legal there, and %1B decodes to ESC in PATH_INFO: both must be escaped.
    request(url, "/a%1B?b=1", headers={"User-Agent": 'evil"agent\x85'})
    line = _wait_lines(log_path, 1)[0]
    m = re.fullmatch(
        r'127\.0\.0\.1 "GET /a%1B\?b=1 HTTP/1\.1" 200 (\d+) "(.*)" (\S+) ([0-9.e-]+) (\d+)', line
    )
    assert m, line
    assert int(m.group(1)) > 0
    assert m.group(2) == 'evil\\"agent\\x85'  # quote and C1 control escaped
    assert m.group(3) == "/a\\x1b"  # ESC from the decoded path escaped
    assert float(m.group(4)) >= 0.0  # the request's queue wait, from the environ
    assert "\x1b" not in log_path.read_text()
    assert proc.stop() == 0


def test_access_log_json_lines_to_stderr(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--access-log", "-", "--access-log-json")
    url = proc.wait_listening()[0]
    request(url, "/json-line", headers={"Referer": "http://x.example/"})
    match = proc.wait_for(r'\{"time":.*"target":"/json-line".*\}')[0]
    record = json.loads(match.group(0))
    assert record["status"] == 200 and record["method"] == "GET"
    assert record["referer"] == "http://x.example/"
    assert proc.stop() == 0


def test_trusted_proxy_headers_are_believed(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--trusted-proxy", "127.0.0.1")
    doc = get_json(proc.wait_listening()[0], headers={
        "X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Forwarded-Proto": "https"})
    assert doc["REMOTE_ADDR"] == "203.0.113.7"  # one hop: the address our proxy saw
    assert doc["wsgi.url_scheme"] == "https"
    assert proc.stop() == 0


def test_untrusted_forwarding_headers_are_stripped(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--trusted-proxy", "10.0.0.0/8",
                 "--trusted-proxy-headers", "x-forwarded-for,x-forwarded-proto,forwarded")
    doc = get_json(proc.wait_listening()[0], headers={
        "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert doc["REMOTE_ADDR"] == "127.0.0.1"
    assert doc["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in doc and "HTTP_X_FORWARDED_PROTO" not in doc
    assert proc.stop() == 0


def test_forwarded_header_rfc7239(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--trusted-proxy", "127.0.0.0/8",
                 "--trusted-proxy-headers", "forwarded")
    doc = get_json(proc.wait_listening()[0],
                   headers={"Forwarded": 'for="[2001:db8::7]:4711";proto=https'})
    assert doc["REMOTE_ADDR"] == "2001:db8::7"
    assert doc["wsgi.url_scheme"] == "https"
    assert proc.stop() == 0


def test_status_path_document(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--status-path", "/_status", "--threads", "3")
    url = proc.wait_listening()[0]
    status, headers, body = request(url, "/_status")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["ready"] is True and doc["status"] == "ok" and doc["pid"] == proc.pid
    assert doc["stats"]["threads"] == 3
    assert {"queued", "busy_workers", "open_connections"} <= set(doc["stats"])
    assert request(url, "/_status", method="POST")[0] == 405
    assert get_json(url, "/other")["PATH_INFO"] == "/other"  # everything else: the app
    assert proc.stop() == 0


def test_status_document_says_draining() -> None:
    webtest = pytest.importorskip("webtest")

    def app(environ: dict, start_response: Callable) -> list[bytes]:  # type: ignore[type-arg]
        start_response("204 No Content", [])
        return []

    state = ServerState()
    state.stats_source = lambda: {"queued": 4}
    client = webtest.TestApp(StatusEndpoint(app, path="/health", state=state))
    ok = client.get("/health")
    assert ok.json["ready"] is True and ok.json["stats"] == {"queued": 4}
    state.start_draining()
    draining = client.get("/health", status=503)
    assert draining.json == {**draining.json, "status": "draining", "ready": False}
    assert client.get("/else", status=204).body == b""


def test_watchdog_logs_a_hung_request_stack_once(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--request-warn-after", "0.3")
    url = proc.wait_listening()[0]
    assert request(url, "/sleep/1.3", timeout=20)[0] == 200
    proc.wait_for(r"request GET /sleep/1\.3 has run \d+\.\ds \(over 0\.3s\)")
    out = proc.output()
    assert "time.sleep(float(path.rsplit" in out  # the hung line, from the thread's stack
    assert out.count("has run") == 1
    assert request(url, "/fast")[0] == 200
    time.sleep(0.6)
    assert proc.output().count("has run") == 1  # fast requests are never reported
    assert proc.stop() == 0


def test_queue_wait_and_stats_in_the_environ(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--threads", "3")
    doc = get_json(proc.wait_listening()[0])
    assert isinstance(doc["wsgikit.queue_wait"], float) and doc["wsgikit.queue_wait"] >= 0
    stats = doc["stats"]
    assert stats["threads"] == 3 and stats["busy_workers"] >= 1  # this request is running
    assert stats["queued"] >= 0 and stats["open_connections"] >= 1
    assert proc.stop() == 0


def test_queue_depth_and_busy_workers_as_log_atoms(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    log_path = app_dir / "access.log"
    proc = serve("opsapp:app", "--port", "0", "--access-log", str(log_path), "--threads", "2",
                 "--access-log-format", "%s %{wsgikit.queue_depth}e %{wsgikit.busy_workers}e")
    url = proc.wait_listening()[0]
    request(url, "/")
    line = _wait_lines(log_path, 1)[0]
    m = re.fullmatch(r"200 (\d+) (\d+)", line)
    assert m, line
    assert int(m.group(1)) == 0 and int(m.group(2)) >= 1
    assert proc.stop() == 0
