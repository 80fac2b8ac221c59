"""Serving plain HTTP never loads ssl (libssl and libcrypto cost about 5 MB of resident memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys
from wsgikit.ops import arbiter, cli
from wsgikit.ops import run as ops
from wsgikit.server import server
code = cli.main(["serve", "--check-config", "--port", "0", "plain_app:app"])
print(code, "ssl" in sys.modules, "_ssl" in sys.modules)
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "plain_app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'ok']\n"
    )
    return tmp_path


def test_plain_http_serving_does_not_import_ssl(app_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True,
        cwd=app_dir,
    ).stdout
    assert out.strip().splitlines()[-1] == "0 False False", out


def test_tls_serving_does_load_it(app_dir: Path) -> None:
    """The check above can fail: the TLS path of the same command imports ssl."""
    script = SCRIPT.replace('"--port", "0",', '"--port", "0", "--certfile", "/nonexistent.pem",')
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=app_dir
    )
    assert result.stdout.strip().splitlines()[-1] == "2 True True", result
    assert "certfile file not found: /nonexistent.pem" in result.stderr


def test_plain_serving_loads_no_module_it_does_not_use(app_dir: Path) -> None:
    """Each of these cost memory in every server process and was loaded for nothing before:
    shutil (argparse's help width, with bz2 and lzma), json and datetime (the access log and
    the status endpoint, when neither is configured)."""
    script = SCRIPT.replace(
        'print(code, "ssl" in sys.modules, "_ssl" in sys.modules)',
        'print(code, sorted(m for m in ("shutil", "json", "datetime", "wsgikit.server.accesslog", '
        '"encodings.idna") if m in sys.modules))',
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
        cwd=app_dir,
    ).stdout
    assert out.strip().splitlines()[-1] == "0 []", out
