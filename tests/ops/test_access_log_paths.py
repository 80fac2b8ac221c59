"""One access-log path: ``make_server(access_log=..., access_log_format=...)`` writes exactly the
line ``wsgikit serve --access-log ... --access-log-format ...`` writes for the same request.

Before, make_server ignored both settings (it logged a fixed line to the ``wsgikit.access``
logger); only the CLI honoured them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.ops.conftest import ServeProcess, request
from wsgikit.server import make_server

pytestmark = [pytest.mark.server]

FIXED_APP = '''
def app(environ, start_response):
    start_response("201 Created", [("Content-Type", "text/plain"), ("Content-Length", "5"),
                                   ("X-Test", "yes")])
    return [b"fixed"]
'''

FORMAT = '%h XX %s "%r" %b %{User-Agent}i %{X-Test}o %{HTTP_X_TRACE}e'
EXPECTED = '127.0.0.1 XX 201 "GET /a%20b?q=1 HTTP/1.1" 5 probe/1.0 yes t-1'
HEADERS = {"User-Agent": "probe/1.0", "X-Trace": "t-1"}


def _wait_for_line(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text()
        time.sleep(0.02)
    pytest.fail(f"no access-log line in {path} within {timeout}s")


def _fixed_app() -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(FIXED_APP, "fixedapp.py", "exec"), namespace)
    return namespace["app"]


def test_make_server_writes_the_line_the_cli_writes(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    (app_dir / "fixedapp.py").write_text(FIXED_APP)
    cli_log, python_log = app_dir / "cli-access.log", app_dir / "python-access.log"
    proc = serve("fixedapp:app", "--port", "0", "--access-log", str(cli_log),
                 "--access-log-format", FORMAT)
    status, _, body = request(proc.wait_listening()[0], "/a%20b?q=1", headers=HEADERS)
    assert (status, body) == (201, b"fixed")

    server = make_server(_fixed_app(), host="127.0.0.1", port=0,
                         access_log=str(python_log), access_log_format=FORMAT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, _, body = request(f"http://127.0.0.1:{server.server_address[1]}",
                                  "/a%20b?q=1", headers=HEADERS)
        assert (status, body) == (201, b"fixed")
        python_line = _wait_for_line(python_log)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    cli_line = _wait_for_line(cli_log)
    assert python_line == cli_line == EXPECTED + "\n"
    assert proc.stop() == 0


def test_one_access_log_writer() -> None:
    """The CLI's run loop builds the very Server class make_server builds, and that class's
    access log is ServerAccessLog: no second writer to drift from the first."""
    from wsgikit.ops import run
    from wsgikit.server import Server
    from wsgikit.server.accesslog import ServerAccessLog

    assert run.Server is Server
    server = make_server(_fixed_app(), host="127.0.0.1", port=0, access_log="-")
    try:
        assert type(server.access_log) is ServerAccessLog
    finally:
        server.server_close()


def test_make_server_access_log_to_stderr_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``access_log="-"`` is stderr and ``access_log_json`` switches the format, as on the CLI."""
    import json

    server = make_server(_fixed_app(), host="127.0.0.1", port=0, access_log="-",
                         access_log_json=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        request(f"http://127.0.0.1:{server.server_address[1]}", "/j", headers=HEADERS)
        deadline = time.monotonic() + 10
        err = ""
        while time.monotonic() < deadline and '"target"' not in err:
            time.sleep(0.02)
            err += capsys.readouterr().err
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    entry = json.loads(err.strip().splitlines()[-1])
    assert (entry["target"], entry["status"], entry["bytes"], entry["user_agent"]) == (
        "/j", 201, 5, "probe/1.0")
