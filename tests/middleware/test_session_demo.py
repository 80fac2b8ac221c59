"""sample_apps.session_demo through WebTest: login with CSRF, counter, logout, key rotation."""

from __future__ import annotations

import time
from typing import Any

import pytest
from webtest import TestApp

import sample_apps
from middleware.sessions import CookieStore
from middleware.signing import Signer
from sample_apps.session_demo import make_app

NEW = "n" * 32
OLD = "o" * 32


@pytest.fixture
def demo() -> TestApp:
    return TestApp(make_app([NEW, OLD]))


def login(app: TestApp, name: str = "alice", prefix: str = "") -> Any:
    page = app.get(prefix + "/")
    form = page.forms["login"]
    form["username"] = name
    return form.submit().follow()


def test_counter_counts_per_session(demo: TestApp) -> None:
    assert demo.get("/").html.find(id="count").text == "1"
    assert demo.get("/").html.find(id="count").text == "2"
    other = TestApp(demo.app)
    assert other.get("/").html.find(id="count").text == "1"


def test_login_and_logout_through_the_forms(demo: TestApp) -> None:
    page = login(demo)
    assert "Logged in as alice" in page.html.find(id="greeting").text
    cookie = next(h for h in page.headers.getall("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    after = page.forms["logout"].submit().follow()
    assert after.html.find(id="greeting").text == "Not logged in."
    assert after.html.find(id="count").text == "1"  # a fresh session


def test_login_without_token_or_fetch_metadata_is_refused(demo: TestApp) -> None:
    res = demo.post("/login", {"username": "mallory"}, status=403, expect_errors=True)
    assert "CSRF check failed" in res.text


def test_cross_site_login_is_refused(demo: TestApp) -> None:
    res = demo.post(
        "/login",
        {"username": "mallory"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
        status=403,
        expect_errors=True,
    )
    assert "cross-origin request refused" in res.text


def test_login_changes_session_and_token(demo: TestApp) -> None:
    before = demo.get("/")
    old_token = before.forms["login"]["csrf_token"].value
    old_cookie = demo.cookies["session"]
    login(demo)
    assert demo.cookies["session"] != old_cookie
    # The token rendered before login no longer works.
    res = demo.post("/logout", {"csrf_token": old_token}, status=403, expect_errors=True)
    assert "does not match this session" in res.text


def test_bad_username_is_a_clear_400(demo: TestApp) -> None:
    form = demo.get("/").forms["login"]
    form["username"] = "<script>"
    res = form.submit(status=400)
    assert "user name must be" in res.text


def test_key_rotation_shown() -> None:
    demo = TestApp(make_app([NEW, OLD], store=CookieStore()))  # the data itself is signed
    payload = {"count": 41, "user": "bob", "_wsgikit": {"iat": int(time.time())}}
    old_cookie = Signer([OLD], salt="wsgikit.session").dumps(payload)
    page = demo.get("/", headers={"Cookie": f"session={old_cookie}"})
    assert page.html.find(id="signed-by").text == "older #1"  # an old key still accepted
    assert page.html.find(id="count").text == "42"
    assert page.html.find(id="greeting").text == "Logged in as bob."
    page = demo.get("/")
    assert page.html.find(id="signed-by").text == "newest"  # re-signed with the newest key
    assert page.html.find(id="count").text == "43"


def test_retired_key_logs_out(demo: TestApp) -> None:
    retired = Signer(["r" * 32], salt="wsgikit.session").dumps({"user": "bob"})
    demo.set_cookie("session", retired)
    assert "Not logged in." in demo.get("/").text


def test_path_scoped_preference_cookie(demo: TestApp) -> None:
    res = demo.get("/prefs/")
    header = res.headers["Set-Cookie"]
    assert "Path=/prefs/" in header and "HttpOnly" not in header
    assert "theme" in demo.get("/prefs/cookies").json["cookies"]
    assert "theme" not in demo.get("/cookies").json["cookies"]


def test_methods_and_unknown_paths(demo: TestApp) -> None:
    assert demo.get("/login", status=405).headers["Allow"] == "POST"
    demo.get("/nope", status=404)


def test_mounted_in_the_sample_index() -> None:
    index = TestApp(sample_apps.app)
    assert "/session_demo/" in index.get("/").text
    page = login(index, "carol", prefix="/session_demo")
    assert page.html.find(id="greeting").text == "Logged in as carol."
    assert page.request.path == "/session_demo/"
