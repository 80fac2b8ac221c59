"""The install matrix: ``make dist``'s sdist and wheels, each in a fresh venv, serve a request.

``pip install`` compiles the request path when it can and installs the pure-Python build
otherwise (setup.py). This builds the artifacts users get and installs them the way users do,
non-editable, into empty virtual environments, including from the sdist with a C compiler that
fails: the install must still work, pure Python, never half compiled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.ops.conftest import LISTEN_RE, ROOT
from tests.support.compiled import COMPILED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(COMPILED, reason="builds and installs its own artifacts, independent of "
                       "the build under test; it runs once, in make test's Python pass"),
]

APP = '''
from wsgikit import build_info

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [build_info.build_name().encode()]
'''


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(["make", "-s", "dist", f"DIST={out}", f"BIN={bin_dir}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    sdists = list(out.glob("wsgikit-*.tar.gz"))
    compiled = [w for w in out.glob("wsgikit-*.whl") if not w.name.endswith("-none-any.whl")]
    pure = list(out.glob("wsgikit-*-py3-none-any.whl"))
    assert len(sdists) == len(compiled) == len(pure) == 1, sorted(p.name for p in out.iterdir())
    return {"sdist": sdists[0], "compiled": compiled[0], "pure": pure[0]}


def _install(target: Path, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[Path, str]:
    """A fresh venv with ``target`` installed (pip run from outside it); its bin dir, pip's log."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-v",
         "--no-cache-dir", str(target)],
        capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv / "bin", result.stdout + result.stderr


def _serve_once(bin_dir: Path, tmp_path: Path) -> str:
    """Start the installed ``wsgikit serve`` (outside the source tree), GET /, stop it."""
    (tmp_path / "distapp.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(bin_dir / "wsgikit"), "serve", "distapp:app", "--port", "0"],
                                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (m := LISTEN_RE.search(log_path.read_text())) and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.05)
        assert m, log_path.read_text()
        with urllib.request.urlopen(m.group(1) + "/", timeout=10) as resp:
            assert resp.status == 200
            build = resp.read().decode()
        proc.terminate()
        assert proc.wait(20) == 0, log_path.read_text()
        text = log_path.read_text()
        assert ("compiled build" if build == "compiled" else "pure-Python build") in text, text
        assert "Traceback" not in text, text
        return build
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _version(bin_dir: Path) -> str:
    result = subprocess.run([str(bin_dir / "wsgikit"), "--version"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("artifact", "build"), [
    ("compiled", "compiled"), ("pure", "python"), ("sdist", "compiled"),
])
def test_each_artifact_installs_and_serves(
    dist: dict[str, Path], tmp_path: Path, artifact: str, build: str,
) -> None:
    bin_dir, _ = _install(dist[artifact], tmp_path)
    site = next((tmp_path / "venv" / "lib").glob("python*/site-packages"))
    assert bool(list((site / "wsgikit").rglob("*.so"))) == (build == "compiled")
    assert _serve_once(bin_dir, tmp_path) == build
    assert ("compiled build" if build == "compiled" else "pure-Python build") in _version(bin_dir)


def test_sdist_with_a_failing_compiler_installs_the_pure_python_build(
    dist: dict[str, Path], tmp_path: Path,
) -> None:
    bin_dir, log = _install(dist["sdist"], tmp_path, env={"CC": "/bin/false"})
    assert "wsgikit: installing the pure-Python build: compiling failed" in log, log[-3000:]
    assert _serve_once(bin_dir, tmp_path) == "python"


def test_forcing_a_compile_without_a_compiler_fails_the_install(
    dist: dict[str, Path], tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-cache-dir", str(dist["sdist"])],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "WSGIKIT_COMPILE": "1", "CC": "/nonexistent/cc"},
    )
    assert result.returncode != 0
    assert "WSGIKIT_COMPILE=1 but no C compiler" in result.stdout + result.stderr
    assert not list((venv / "lib").glob("python*/site-packages/wsgikit"))


def test_a_build_in_a_used_checkout_packs_no_stale_module(tmp_path: Path) -> None:
    """pip builds a checkout in place: what an earlier build left in build/lib (a module since
    moved or deleted) must not reach the wheel."""
    tree = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_bytes((ROOT / name).read_bytes())
    stale = tree / "build" / "lib" / "wsgikit" / "moved_away.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("STALE = True\n")
    out = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "-w", str(out), str(tree)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "WSGIKIT_COMPILE": "0"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    [wheel] = out.glob("wsgikit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "wsgikit/server/connection.py" in names
    assert "wsgikit/moved_away.py" not in names
