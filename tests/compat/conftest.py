"""Report the test_wsgiref yardstick's count in pytest's terminal summary."""

from __future__ import annotations

from typing import Any

from tests.compat.yardstick import RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print e.g. ``test_wsgiref: 32 tests passed`` so ``make test`` output shows the count."""
    for line in RESULTS:
        terminalreporter.write_line(line)
