"""The validator on real servers in real processes: wsgikit, gunicorn (sync, gthread), waitress,
werkzeug's run_simple and wsgiref's simple_server each serve the apps of
tests/support/interop_apps.py bare and behind ValidatorMiddleware (raise, warn, report) and
``wsgikit.validate.validator``; every wrapped response must be the bare app's, byte for byte
(status, body, the headers that matter), and the report-mode validators must find nothing.

Servers needing the validator not to change what they own: gunicorn tests
``isinstance(result, environ["wsgi.file_wrapper"])`` after the app returns (issue 14).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require_module
from tests.support.interop_apps import CASES, WRAPPINGS
from tests.support.servers import KNOWN_BUGS, SERVERS, ServerProcess, allowed_findings, wait_ready

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

TIMEOUT = 15.0
#: Headers a server sets per response or per connection (not the app's): not compared.
VOLATILE = {"date", "server", "connection", "keep-alive"}
POST_BODY = b"name=value&other=1"


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """One process per server for the whole module (pytest groups the tests by it)."""
    name = request.param
    needs = SERVERS[name]
    if needs is not None:
        require_module(needs)
    proc = ServerProcess(name, "tests.support.interop_apps:app")
    try:
        wait_ready(proc, "/plain/list")
        yield proc
    finally:
        output = proc.stop()
        request.node.stash_output = output  # type: ignore[attr-defined]


def fetch(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        body = POST_BODY if method == "POST" else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        kept = {k.lower(): v for k, v in response.getheaders() if k.lower() not in VOLATILE}
        return response.status, kept, data
    finally:
        conn.close()


@pytest.mark.parametrize("wrapping", [w for w in WRAPPINGS if w != "plain"])
@pytest.mark.parametrize("case", list(CASES))
def test_wrapped_response_is_the_bare_apps(server: ServerProcess, case: str, wrapping: str) -> None:
    method = CASES[case][1]
    bare = fetch(server.port, method, f"/plain/{case}")
    wrapped = fetch(server.port, method, f"/{wrapping}/{case}")
    expected_status = 500 if case == "exc_info" else 200
    assert bare[0] == expected_status, bare
    assert wrapped == bare, f"{server.name} {wrapping} {case}"
    if method == "HEAD":
        assert wrapped[2] == b""
    else:
        assert wrapped[2], "an empty body would compare equal for the wrong reason"


def test_validators_find_only_the_servers_known_bugs(server: ServerProcess) -> None:
    """After the matrix on this server (file order; the report-mode requests are repeated so
    the test holds alone): the findings are the server's known bugs, nothing about the apps."""
    for case, (_, method) in CASES.items():
        fetch(server.port, method, f"/report/{case}")
    status, _, body = fetch(server.port, "GET", "/_findings")
    assert status == 200
    findings: list[dict[str, Any]] = json.loads(body)
    expected = KNOWN_BUGS.get(server.name, {})
    allowed = allowed_findings(server.name, expected)
    rules = {f["rule"] for f in findings}
    assert set(expected) <= rules <= set(allowed), "\n".join(f["text"] for f in findings)
    for finding in findings:
        assert allowed[finding["rule"]][1] in finding["text"]
    required = [f for f in findings if f["rule"] in expected]
    assert {f["wrapping"] for f in required} == ({"raise", "warn", "report"} if expected else set())
