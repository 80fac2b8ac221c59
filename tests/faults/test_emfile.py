"""accept() hitting EMFILE: the server, in a child under a small RLIMIT_NOFILE, keeps serving.

The test fills the server's descriptor table with idle keep-alive connections, so accept()
fails with EMFILE while more clients wait in the backlog. The server must log the condition
once per interval (not once per attempt: a full table would otherwise write a line every few
milliseconds), and must serve the waiting clients as soon as descriptors are free again.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOFILE = 64
SERVER = f"""
import logging, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, ({NOFILE}, {NOFILE}))
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
from tests.support import apps
from wsgikit.server import make_server
server = make_server(apps.hello, host="127.0.0.1", port=0, threads=4, header_timeout=60,
                     keepalive_timeout=60, max_connections=1000)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
EMFILE_LINE = re.compile(r"accept.*(?:Too many open files|EMFILE)", re.IGNORECASE)


def answered(socks: list[socket.socket], timeout: float) -> set[socket.socket]:
    """The sockets among ``socks`` that receive a whole 200 response within ``timeout``."""
    got: dict[socket.socket, bytes] = {s: b"" for s in socks}
    done: set[socket.socket] = set()
    deadline = time.monotonic() + timeout
    while len(done) < len(socks):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        readable, _, _ = select.select([s for s in socks if s not in done], [], [],
                                       min(remaining, 0.2))
        for s in readable:
            data = s.recv(65536)
            got[s] += data
            if got[s].endswith(b"Hello, World!") or not data:
                done.add(s)
    return {s for s in done if got[s].startswith(b"HTTP/1.1 200 ")}


def test_accept_emfile_is_logged_once_per_interval_and_serving_resumes(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=log)
    holders: list[socket.socket] = []
    waiting: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, log_path.read_text()
        port = int(proc.stdout.readline())
        # More clients than the server has descriptors; each sends a keep-alive request.
        clients = []
        for _ in range(NOFILE + 16):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(GET)
            clients.append(s)
        served = answered(clients, timeout=3.0)
        holders = [s for s in clients if s in served]
        waiting = [s for s in clients if s not in served]
        assert holders and waiting, (len(holders), len(waiting), log_path.read_text())
        # The table stays full for a while: the accept loop keeps trying, the log stays quiet.
        time.sleep(2.5)
        lines = [line for line in log_path.read_text().splitlines() if EMFILE_LINE.search(line)]
        assert 1 <= len(lines) <= 2, lines
        # Descriptors come back: every waiting client is served, on its own connection.
        for s in holders:
            s.close()
        holders = []
        late = answered(waiting, timeout=10.0)
        assert len(late) == len(waiting), f"{len(waiting) - len(late)} waiting clients unserved"
        for s in waiting:
            s.close()
        waiting = []
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(GET)
            assert answered([s], timeout=5.0)
        text = log_path.read_text()
        assert "Traceback" not in text, text
        assert re.search(r"accepting again", text), text
    finally:
        for s in holders + waiting:
            s.close()
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
