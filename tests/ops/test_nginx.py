"""nginx in front of ``wsgikit serve``: HTTP/1.1 upstream keep-alive and the trusted-proxy environ.

The same nginx configuration is shown in docs/deployment.rst; this test is what keeps it honest.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import require_program
from tests.ops.conftest import ServeProcess, free_port, get_json, request

pytestmark = [pytest.mark.server, pytest.mark.e2e]

NGINX_CONF = """
daemon off;
pid {dir}/nginx.pid;
worker_processes 1;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream wsgikit {{
        server {upstream};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://wsgikit;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@pytest.fixture
def request_cleanup() -> Iterator[list[Callable[[], object]]]:
    actions: list[Callable[[], object]] = []
    yield actions
    for action in actions:
        action()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Factory: ``nginx("127.0.0.1:PORT")`` proxies to that upstream; returns nginx's URL."""
    program = require_program("nginx")
    procs: list[subprocess.Popen[bytes]] = []

    def start(upstream: str) -> str:
        root = tmp_path / f"nginx{len(procs)}"
        root.mkdir()
        port = free_port()
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=root, upstream=upstream, port=port))
        proc = subprocess.Popen(
            [program, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
                pytest.fail(f"nginx exited: {log}")
            try:
                request(url, "/__ping", timeout=2)
                return url
            except OSError:
                time.sleep(0.1)
        pytest.fail("nginx did not start within 15 s")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # nginx: graceful stop
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_behind_nginx_with_upstream_keepalive(
    serve: Callable[..., ServeProcess], nginx: Callable[[str], str]
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--trusted-proxy", "127.0.0.1",
                 "--keepalive-timeout", "30")
    upstream = proc.wait_listening()[0].removeprefix("http://")
    front = nginx(upstream)
    docs = [get_json(front, f"/n{i}", headers={"X-Forwarded-For": "203.0.113.9"})
            for i in range(6)]
    # nginx appended the client (127.0.0.1) to the forged header; one trusted hop means the
    # address nginx saw wins, so the forgery is not believed.
    assert {d["REMOTE_ADDR"] for d in docs} == {"127.0.0.1"}
    assert docs[0]["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 127.0.0.1"
    assert {d["wsgi.url_scheme"] for d in docs} == {"http"}
    assert docs[0]["HTTP_HOST"] == front.removeprefix("http://").split(":")[0]
    # upstream keep-alive: nginx sent the sequential requests over one connection
    ports = [d["REMOTE_PORT"] for d in docs]
    assert len(set(ports)) == 1, ports
    assert [d["PATH_INFO"] for d in docs] == [f"/n{i}" for i in range(6)]
    assert proc.stop() == 0


def test_behind_nginx_on_a_unix_socket(
    serve: Callable[..., ServeProcess], nginx: Callable[[str], str],
    request_cleanup: list[Callable[[], object]],
) -> None:
    # nginx's workers run as an unprivileged user: the socket's folder must be reachable.
    folder = Path(tempfile.mkdtemp(prefix="wsgikit-nginx-"))
    folder.chmod(0o755)
    request_cleanup.append(lambda: shutil.rmtree(folder, ignore_errors=True))
    path = folder / "up.sock"
    proc = serve("opsapp:app", "--bind", f"unix:{path}", "--unix-socket-perms", "666",
                 "--trusted-proxy", "127.0.0.1")
    proc.wait_listening()
    front = nginx(f"unix:{path}")
    doc = get_json(front, "/via-nginx-unix", headers={"X-Forwarded-Proto": "https"})
    assert doc["PATH_INFO"] == "/via-nginx-unix"
    # over a Unix socket the peer has no IP, so nothing is trusted: the headers are stripped
    assert "HTTP_X_FORWARDED_FOR" not in doc
    assert doc["wsgi.url_scheme"] == "http"
    assert proc.stop() == 0
