"""``wsgikit check --html report.html`` opened in headless Chromium, as a person would look at it.

The page must render with no console error, fetch nothing (it is self-contained), show the
findings grouped by rule with links to PEP 3333, and show the error-pages-only warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium, watch_console
from wsgikit.ops.cli import main

pytestmark = [pytest.mark.e2e]

HOST_REFUSING_APP = "tests.unit.test_checker:HOST_APP"  # 400 for any Host but localhost


def open_report(context: Any, report: Path, shot: Path) -> tuple[Any, list[str], list[str]]:
    page = context.new_page()
    problems = watch_console(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.screenshot(path=str(shot), full_page=True)
    return page, problems, requests


def test_html_report_in_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.html"
    assert main(["check", "sample_apps.nonconformant:app", "--html", str(report)]) == 1
    refused = tmp_path / "refused.html"
    assert main(["check", HOST_REFUSING_APP, "--host", "evil.example", "--html", str(refused)]) == 3
    capsys.readouterr()
    with chromium(tmp_path / "profile") as context:
        page, problems, requests = open_report(context, report, tmp_path / "report.png")
        assert problems == []
        assert requests == [report.as_uri()]  # self-contained: nothing else is fetched
        assert page.title() == "wsgikit check: 5 problem(s)"
        assert page.inner_text("#summary") == "5 problem(s) found"
        sections = page.locator("section.rule")
        assert sections.count() == 6  # A320 A321 A327 A404 A411, and A414 (info)
        a321 = page.locator("#A321")
        assert a321.is_visible()
        assert "hop-by-hop header Connection: close sent by the app" in a321.inner_text()
        link = a321.locator("a").first
        assert link.get_attribute("href") == "https://peps.python.org/pep-3333/#other-http-features"
        assert link.inner_text() == "PEP 3333: Other HTTP Features"
        # a probe row links to the rule sections it broke
        page.locator('table a[href="#A404"]').first.click()
        assert page.evaluate("location.hash") == "#A404"
        assert page.locator("#error-pages-only").count() == 0
        assert (tmp_path / "report.png").stat().st_size > 10_000

        page, problems, requests = open_report(context, refused, tmp_path / "refused.png")
        assert problems == [] and requests == [refused.as_uri()]
        warning = page.locator("#error-pages-only")
        assert warning.is_visible()
        assert "the check only reached error pages: is the host allowed?" in warning.inner_text()
        assert "Invalid HTTP_HOST header: 'evil.example'" in warning.inner_text()
        assert page.locator("td.bad").count() == 17 and page.locator("td.ok").count() == 0
