"""Shared fixtures: the external-program rule and the live-server factory.

External programs (curl, nginx, redis-server, wrk, chromium) are a *skip with a reason* locally
when absent, and a *failure* under ``CI=true``, where ``make test`` installs them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
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
