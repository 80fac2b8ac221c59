"""Fixtures for running ``python -m wsgikit serve`` as a real subprocess.

Every process is started with a deadline on each wait and killed (by its PID) in teardown.
The server prints ``Listening on URL`` once bound; tests bind port 0 and read the URL from it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]

APP_SOURCE = textwrap.dedent(
    '''
    """Apps for tests/ops: each answers JSON describing its environ."""
    import json
    import os
    import time

    VERSION = "v1"
    KEYS = (
        "REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SERVER_PORT",
        "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "SSL_CLIENT_S_DN",
        "SSL_CLIENT_S_DN_CN", "SSL_CLIENT_VERIFY", "HTTPS", "PATH_INFO", "wsgikit.queue_wait",
    )


    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/sleep/"):
            time.sleep(float(path.rsplit("/", 1)[1]))
        doc = {k: environ[k] for k in KEYS if k in environ}
        doc["pid"] = os.getpid()
        doc["version"] = VERSION
        doc["has_cert"] = "SSL_CLIENT_CERT" in environ
        if "wsgikit.stats" in environ:
            doc["stats"] = environ["wsgikit.stats"]()
        body = json.dumps(doc).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]


    def create_app():
        def factory_app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
            return [b"factory"]
        return factory_app


    not_callable = 42
    '''
)

LISTEN_RE = re.compile(r"Listening on (\S+)")


def wait_until(
    predicate: Callable[[], bool], timeout: float = 20.0, what: str = "",
    proc: Optional[ServeProcess] = None, interval: float = 0.02,
) -> None:
    """Poll ``predicate`` until true; at ``timeout`` fail the test with the server's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{proc.output()}" if proc else ""))


def process_alive(pid: int) -> bool:
    """Whether a process with this PID exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def child_pythonpath() -> str:
    """The test run's own PYTHONPATH, then the source tree: in make test's compiled pass the
    compiled build comes first, so children (``--workers``, ``--reload``, TLS) run it too."""
    return os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), str(ROOT)) if p)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """One ``wsgikit serve`` child: its stderr goes to a file that tests read."""

    def __init__(self, args: Sequence[str], cwd: Path, env: Optional[dict[str, str]] = None,
                 pass_fds: Sequence[int] = (), argv0: Optional[list[str]] = None) -> None:
        self.log_path = cwd / f"serve-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        full_env = dict(os.environ)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env["PYTHONPATH"] = child_pythonpath()
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        cmd = (argv0 or [sys.executable, "-m", "wsgikit", "serve"]) + list(args)
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
            pass_fds=pass_fds, start_new_session=True,
        )
        self.urls: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 20.0, count: int = 1) -> list[re.Match[str]]:
        """Wait until ``pattern`` occurs ``count`` times in the output; fail with the log."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = list(regex.finditer(self.output()))
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                found = list(regex.finditer(self.output()))
                if len(found) >= count:
                    return found
                pytest.fail(f"server exited ({self.proc.returncode}) before {pattern!r}:\n"
                            f"{self.output()}")
            time.sleep(0.05)
        pytest.fail(f"no {pattern!r} within {timeout}s:\n{self.output()}")

    def wait_listening(self, count: int = 1, timeout: float = 20.0) -> list[str]:
        self.urls = [m.group(1) for m in self.wait_for(LISTEN_RE.pattern, timeout, count)]
        return self.urls

    @property
    def url(self) -> str:
        if not self.urls:
            self.wait_listening()
        return self.urls[0]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"server did not exit within {timeout}s of SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: the server + workers
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self._log.close()


def run_cli(args: Sequence[str], cwd: Path, env: Optional[dict[str, str]] = None,
            timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m wsgikit ARGS`` to completion (for commands that exit by themselves)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = child_pythonpath()
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wsgikit", *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=timeout,
    )


def request(url: str, path: str = "/", *, headers: Optional[dict[str, str]] = None,
            context: Optional[ssl.SSLContext] = None, timeout: float = 10.0,
            method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, headers, body)."""
    m = re.fullmatch(r"(https?)://(\[[^\]]+\]|[^:/]+):(\d+)", url)
    assert m, url
    scheme, host, port = m.group(1), m.group(2).strip("[]"), int(m.group(3))
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def get_json(url: str, path: str = "/", **kw: Any) -> dict[str, Any]:
    status, _, body = request(url, path, **kw)
    assert status == 200, (status, body)
    return dict(json.loads(body))


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "opsapp.py").write_text(APP_SOURCE)
    return tmp_path


@pytest.fixture
def serve(app_dir: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Factory: ``serve("opsapp:app", "--port", "0", ...)`` starts the CLI in ``app_dir``."""
    started: list[ServeProcess] = []

    def start(*args: str, env: Optional[dict[str, str]] = None, pass_fds: Sequence[int] = (),
              argv0: Optional[list[str]] = None) -> ServeProcess:
        proc = ServeProcess(args, app_dir, env=env, pass_fds=pass_fds, argv0=argv0)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    """A CA made for this test, a server certificate for 127.0.0.1/localhost, a client cert."""
    from tests.conftest import require_module

    trustme = require_module("trustme")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    client = ca.issue_cert("client.example", common_name="test client")
    files = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "server.pem",
        "key": tmp_path / "server.key",
        "client": tmp_path / "client.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(files["cert"]), append=True)
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    return {name: str(path) for name, path in files.items()}
