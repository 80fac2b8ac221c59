"""Shared fixtures: the external-program rule, the live-server factory and a redis-server.

External programs (curl, nginx, redis-server, wrk, chromium) are a *skip with a reason* locally
when absent, and a *failure* under ``CI=true``, where ``make test`` installs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.support.live import LiveServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    """make test's compiled pass must really run the compiled modules, not the sources."""
    from tests.support.compiled import COMPILED

    if os.environ.get("WSGIKIT_EXPECT_COMPILED") and not COMPILED:
        raise pytest.UsageError(
            "WSGIKIT_EXPECT_COMPILED is set but wsgikit.http11.parser is not compiled: put "
            "build/compiled first on PYTHONPATH and run python -P (see the Makefile)"
        )


def require_program(name: str) -> str:
    """Return the program's path; skip locally or fail in CI when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (make test installs it with apt-get)"
        if IN_CI:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return path


def require_module(name: str) -> Any:
    """Import an optional test dependency; skip locally or fail in CI when it is missing."""
    try:
        return __import__(name)
    except ImportError:
        message = f"Python package {name} is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture
def live_server() -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``live_server(app, **server_options)`` starts a real server on 127.0.0.1:0.

    Every server started is shut down at the end of the test, with a deadline.
    """
    started: list[LiveServer] = []

    def start(app: Any, **options: Any) -> LiveServer:
        server = LiveServer(app, **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server (no persistence) on 127.0.0.1 answering PING: (process, URL).

    Another process may take the probed port before redis binds it: then a new port, 3 tries.
    """
    program = require_program("redis-server")
    redis = require_module("redis")
    for _attempt in range(3):
        port = free_port()
        with (directory / f"redis-{port}.log").open("wb") as log:  # the child keeps its own fd
            proc = subprocess.Popen(
                [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--dir", str(directory)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = bool(client.ping())
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        client.close()
        if ready:
            return proc, f"redis://127.0.0.1:{port}/0"
        stop_process(proc)
    pytest.fail(f"redis-server did not answer PING; see {directory}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; always reaped."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server for one test (see :func:`start_redis`); stopped at the end."""
    proc, url = start_redis(tmp_path)
    try:
        yield url
    finally:
        stop_process(proc)
