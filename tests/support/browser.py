"""Headless Chromium for tests: Debian's browser driven by playwright (see REAL-CLIENTS.md).

``chromium(profile_dir)`` yields a persistent context with a fresh profile and the flags a root
user on a closed network needs; it skips (or fails under CI) when chromium or playwright is
missing, and closes the browser on exit so no keep-alive connection outlives the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import require_module, require_program

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@contextlib.contextmanager
def chromium(profile_dir: Path) -> Iterator[Any]:
    """A fresh Chromium profile (a playwright persistent context), closed at the end."""
    executable = require_program("chromium")
    require_module("playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            timeout=TIMEOUT_MS,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def watch_console(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions (the list fills as they come)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems
