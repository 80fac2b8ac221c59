"""``/nonconformant/`` in the samples index shows what the validator found, not a bare 500.

The sample app breaks PEP 3333 on purpose; a real server must refuse its response. The mounted
page runs it under the validator in report mode on the browser's request and renders the
findings. Checked over a real wsgikit server with a raw client, then in headless Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

import sample_apps
from sample_apps import nonconformant
from tests.support.browser import chromium, watch_console
from tests.support.rawhttp import RawClient, exchange

pytestmark = pytest.mark.server

RULES = ["A320", "A321", "A327", "A404", "A411"]


def test_the_broken_app_itself_is_refused_by_the_server(live_server: Callable[..., Any]) -> None:
    srv = live_server(nonconformant.app)
    response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 500  # why the index mounts the page instead


def test_mounted_page_lists_the_findings_over_a_real_server(
    live_server: Callable[..., Any],
) -> None:
    srv = live_server(sample_apps.app)
    get = b"GET /nonconformant/ HTTP/1.1\r\nHost: x\r\n\r\n"
    response = exchange(srv.host, srv.port, get)
    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    page = response.body.decode()
    for rule in RULES:
        assert f'<td id="{rule}">{rule}</td>' in page
    assert "hop-by-hop header Connection: close sent by the app" in page
    assert '<span id="count">5</span>' in page
    with RawClient(srv.host, srv.port, timeout=5.0) as client:
        client.send(b"HEAD /nonconformant/ HTTP/1.1\r\nHost: x\r\n\r\n")
        head = client.read_response(method="HEAD")
    assert head.status == 200 and head.body == b""
    # the HEAD run finds other things (A414 instead of A411), so its length may differ
    assert int(head.header("content-length")) > 1000


@pytest.mark.e2e
def test_page_in_chromium(live_server: Callable[..., Any], tmp_path: Path) -> None:
    srv = live_server(sample_apps.app)
    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        problems = watch_console(page)
        page.goto(srv.url + "/")
        page.click("text=nonconformant")
        page.wait_for_selector("#findings")
        assert page.url == srv.url + "/nonconformant/"
        page.screenshot(path=str(tmp_path / "nonconformant.png"), full_page=True)
        assert problems == []
        assert page.title() == "nonconformant: what the validator found"
        ids = page.locator("#findings td:first-child").all_inner_texts()
        assert sorted(ids) == RULES
        link = page.locator("#findings a").first.get_attribute("href")
        assert link is not None and link.startswith("https://peps.python.org/pep-3333/#")
        assert "Connection: 'close'" in page.inner_text("#sent")
