"""A real browser (Debian's headless Chromium via playwright) against the session demo.

The demo runs on a real wsgikit server (``live_server``). Covered: login through the form,
HttpOnly cookies sent back yet invisible to ``document.cookie``, a Path-scoped cookie going only
where it belongs, and a cross-site form POST (from a page on a second origin) refused by CSRF.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from sample_apps.session_demo import make_app
from tests.support.browser import chromium

pytestmark = [pytest.mark.e2e, pytest.mark.server]

KEYS = ["n" * 32, "o" * 32]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile (a persistent context) per test, closed at the end."""
    with chromium(tmp_path / "profile") as context:
        yield context


@pytest.fixture
def demo_url(live_server: Callable[..., Any]) -> str:
    return str(live_server(make_app(KEYS)).url)


def fetch_json(page: Any, path: str) -> Any:
    return page.evaluate("async (p) => (await fetch(p, {credentials: 'same-origin'})).json()", path)


def log_in(page: Any, base: str, name: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=username]", name)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#logout")


def test_login_through_the_form_and_httponly_cookie(browser: Any, demo_url: str) -> None:
    page = browser.new_page()
    log_in(page, demo_url, "alice")
    assert page.inner_text("#greeting") == "Logged in as alice."
    counted = int(page.inner_text("#count"))
    page.reload()
    assert int(page.inner_text("#count")) == counted + 1  # the cookie came back

    cookies = {c["name"]: c for c in browser.cookies(demo_url)}
    session = cookies["session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert session["secure"] is False  # plain http on loopback

    assert "session" not in page.evaluate("document.cookie")  # invisible to scripts...
    assert "session" in fetch_json(page, "/cookies")["cookies"]  # ...but sent by the browser

    page.click("#logout button[type=submit]")
    page.wait_for_selector("#login")
    assert page.inner_text("#greeting") == "Not logged in."
    assert page.inner_text("#count") == "1"  # the page after logout starts a fresh session
    after = {c["name"]: c for c in browser.cookies(demo_url)}["session"]
    assert after["value"] != session["value"]


def test_path_scoped_cookie_goes_only_where_it_belongs(browser: Any, demo_url: str) -> None:
    page = browser.new_page()
    page.goto(demo_url + "/prefs/")
    theme = {c["name"]: c for c in browser.cookies(demo_url + "/prefs/")}["theme"]
    assert theme["path"] == "/prefs/" and theme["httpOnly"] is False
    assert "theme=dark" in page.evaluate("document.cookie")  # readable, as the app chose
    assert "theme" in fetch_json(page, "/prefs/cookies")["cookies"]
    assert "theme" not in fetch_json(page, "/cookies")["cookies"]
    page.goto(demo_url + "/")
    assert "theme" not in page.evaluate("document.cookie")


def attacker_app(target: str) -> Callable[..., Iterable[bytes]]:
    """A page on another origin that auto-submits a login form to the demo."""
    body = (
        "<!doctype html><html><body>"
        f'<form id="f" method="post" action="{html.escape(target)}">'
        '<input name="username" value="mallory"></form>'
        "<script>document.getElementById('f').submit()</script>"
        "</body></html>"
    ).encode()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


def test_cross_site_post_is_refused(
    browser: Any, demo_url: str, live_server: Callable[..., Any]
) -> None:
    evil = live_server(attacker_app(demo_url + "/login"))
    evil_url = f"http://localhost:{evil.port}/"  # another site: localhost is not 127.0.0.1
    page = browser.new_page()
    page.goto(demo_url + "/")  # the victim has a session with the demo
    with page.expect_navigation(url=demo_url + "/login") as navigation:
        page.goto(evil_url)
    response = navigation.value
    assert response.status == 403
    text = page.inner_text("body")
    assert "CSRF check failed" in text
    assert "Sec-Fetch-Site: cross-site" in text
    assert f"http://localhost:{evil.port}" in text  # the Origin it named
    page.goto(demo_url + "/")
    assert page.inner_text("#greeting") == "Not logged in."


def test_same_origin_post_with_the_browser_headers_passes(browser: Any, demo_url: str) -> None:
    """The browser's own Sec-Fetch-Site: same-origin lets a token-less fetch POST through."""
    page = browser.new_page()
    page.goto(demo_url + "/")
    status = page.evaluate(
        "async () => (await fetch('/login', {method: 'POST', body: 'username=eve',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
        " redirect: 'manual'})).status"
    )
    assert status in (0, 303)  # 0: an opaque redirect, i.e. the 303 went through
    page.goto(demo_url + "/")
    assert page.inner_text("#greeting") == "Logged in as eve."
