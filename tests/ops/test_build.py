"""Which build runs: ``wsgikit --version``, the start-up line, and every way of serving.

make test runs the suite twice, on the Python build and on the compiled one. The CLI's children
(``--workers``, ``--reload``, TLS) must run the same build as the test run, or the compiled
pass would test the Python build where users run the compiled one.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Callable

import pytest

from tests.ops.conftest import ServeProcess, request, run_cli
from tests.support.compiled import COMPILED
from wsgikit import build_info

pytestmark = [pytest.mark.server]

EXPECTED = "compiled" if COMPILED else "python"
LINE = "compiled build" if COMPILED else "pure-Python build"

BUILD_APP = '''
import json, os, sys

def app(environ, start_response):
    from wsgikit import build_info
    body = json.dumps({
        "build": build_info.build_name(),
        "connection": sys.modules["wsgikit.server.connection"].__file__,
        "pid": os.getpid(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''


@pytest.fixture
def build_app(app_dir: Path) -> Path:
    (app_dir / "buildapp.py").write_text(BUILD_APP)
    return app_dir


def _served_build(url: str, context: ssl.SSLContext | None = None) -> dict[str, object]:
    status, _, body = request(url, "/", context=context)
    assert status == 200, body
    return dict(json.loads(body))


def test_build_name_matches_the_modules_this_run_imported() -> None:
    from wsgikit.server import connection

    assert build_info.build_name() == EXPECTED
    assert connection.__file__.endswith(".py") == (EXPECTED == "python")
    assert build_info.describe().startswith(LINE)


def test_version_names_the_build(app_dir: Path) -> None:
    result = run_cli(["--version"], cwd=app_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wsgikit ") and LINE in result.stdout, result.stdout


@pytest.mark.parametrize("mode", ["threads", "workers", "reload"])
def test_children_run_the_build_of_the_test_run(
    serve: Callable[..., ServeProcess], build_app: Path, mode: str,
) -> None:
    extra = {"threads": [], "workers": ["--workers", "2"],
             "reload": ["--reload", "--reload-interval", "0.2"]}[mode]
    proc = serve("buildapp:app", "--port", "0", *extra)
    doc = _served_build(proc.wait_listening()[0])
    assert doc["build"] == EXPECTED, doc
    assert str(doc["connection"]).endswith(".py") == (not COMPILED), doc
    proc.wait_for(LINE)
    assert proc.stop() == 0
    assert "Traceback" not in proc.output()


def test_tls_child_runs_the_build_of_the_test_run(
    serve: Callable[..., ServeProcess], build_app: Path, tls_files: dict[str, str],
) -> None:
    proc = serve("buildapp:app", "--port", "0", "--certfile", tls_files["cert"],
                 "--keyfile", tls_files["key"])
    context = ssl.create_default_context(cafile=tls_files["ca"])
    doc = _served_build(proc.wait_listening()[0], context)
    assert doc["build"] == EXPECTED, doc
    assert proc.stop() == 0
