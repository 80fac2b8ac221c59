"""Finding 4: a trusted ``X-Forwarded-Prefix`` (or a request path) must never make a redirect
leave the site: no ``Location`` starting with ``//`` or ``/\\`` (both mean "another host" to a
browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from middleware.proxy import ProxyHeadersMiddleware
from middleware.static import StaticFilesMiddleware
from sample_apps.session_demo import make_app
from tests.support.live import LiveServer
from tests.support.rawhttp import exchange

HEADERS = ["x-forwarded-for", "x-forwarded-prefix"]


def behind_proxy(app: Any) -> ProxyHeadersMiddleware:
    """The app as deployed behind a proxy trusted to set X-Forwarded-Prefix."""
    return ProxyHeadersMiddleware(app, trusted="127.0.0.1", headers=HEADERS)




EVIL_PREFIXES = ["/%2Fevil.com", "/%5Cevil.com", "/%2F%2Fevil.com", "/%5C%5Cevil.com",
                 "/%2fevil.com/", "/a%5Cb"]


def _offsite(location: str) -> bool:
    return location.startswith("//") or location.startswith("/\\") or "\\" in location


def _get(srv: LiveServer, target: str, prefix: str) -> Any:
    request = (f"GET {target} HTTP/1.1\r\nHost: site.test\r\nX-Forwarded-Prefix: {prefix}\r\n"
               "Connection: close\r\n\r\n").encode("latin-1")
    return exchange(srv.host, srv.port, request)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<p>docs</p>")
    (tmp_path / "evil.com").mkdir()
    (tmp_path / "evil.com" / "index.html").write_text("<p>sub</p>")
    return tmp_path


@pytest.mark.parametrize("prefix", EVIL_PREFIXES)
def test_static_slash_redirect_stays_on_site_with_hostile_prefix(
    live_server: Callable[..., LiveServer], site: Path, prefix: str
) -> None:
    srv = live_server(behind_proxy(StaticFilesMiddleware(directory=str(site), prefix="")))
    res = _get(srv, "/docs", prefix)
    assert res.status == 301
    location = res.header("location") or ""
    assert location.startswith("/") and not _offsite(location), location


@pytest.mark.parametrize("target", ["//evil.com", "/%2Fevil.com", "/%5Cevil.com", "//evil.com/"])
def test_static_slash_redirect_stays_on_site_with_hostile_path(
    live_server: Callable[..., LiveServer], site: Path, target: str
) -> None:
    srv = live_server(StaticFilesMiddleware(directory=str(site), prefix=""))
    res = exchange(srv.host, srv.port, f"GET {target} HTTP/1.1\r\nHost: site.test\r\n"
                   "Connection: close\r\n\r\n".encode())
    location = res.header("location")
    if location is not None:
        assert not _offsite(location), location


@pytest.mark.parametrize("prefix", EVIL_PREFIXES)
def test_session_demo_logout_redirect_stays_on_site(
    live_server: Callable[..., LiveServer], prefix: str
) -> None:
    srv = live_server(behind_proxy(make_app(["k" * 32])))
    # A POST with a same-origin Sec-Fetch-Site passes the CSRF check without a cookie.
    body = b""
    request = (f"POST /logout HTTP/1.1\r\nHost: site.test\r\nX-Forwarded-Prefix: {prefix}\r\n"
               "Sec-Fetch-Site: same-origin\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n").encode("latin-1") + body
    res = exchange(srv.host, srv.port, request)
    assert res.status == 303, (res.status, res.body)
    location = res.header("location") or ""
    assert location.startswith("/") and not _offsite(location), location


@pytest.mark.parametrize("prefix", EVIL_PREFIXES)
def test_the_servers_trusted_proxy_option_refuses_the_same_prefixes(
    live_server: Callable[..., LiveServer], site: Path, prefix: str
) -> None:
    """``wsgikit serve --trusted-proxy`` wraps the app in ``ops.stack.TrustedProxies``: the same
    rule (wsgikit.server.forwarded) applies there."""
    from wsgikit.ops.stack import TrustedProxies

    app = TrustedProxies(StaticFilesMiddleware(directory=str(site), prefix=""),
                         trusted=["127.0.0.1"], headers=HEADERS)
    srv = live_server(app)
    res = _get(srv, "/docs", prefix)
    assert res.status == 301
    assert res.header("location") == "/docs/"  # the hostile prefix was ignored


def test_an_ordinary_prefix_still_works(live_server: Callable[..., LiveServer], site: Path) -> None:
    srv = live_server(behind_proxy(StaticFilesMiddleware(directory=str(site), prefix="")))
    assert _get(srv, "/docs", "/my%20app/").header("location") == "/my%20app/docs/"
