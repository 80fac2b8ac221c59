"""Finding 2: anonymous traffic must not evict logged-in users from ``MemoryStore``, and the
store evicts in least-recently-used order (O(1): no scan of every entry under the lock)."""

from __future__ import annotations

import http.client
import re
from typing import Callable

from middleware.sessions import MemoryStore
from sample_apps.session_demo import make_app
from tests.support.live import LiveServer


def _get(srv: LiveServer, path: str, cookie: str = "") -> tuple[str, str]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        res = conn.getresponse()
        body = res.read().decode()
        set_cookie = res.getheader("Set-Cookie") or ""
        return body, set_cookie.split(";", 1)[0]
    finally:
        conn.close()


def _login(srv: LiveServer, name: str) -> str:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        body = f"username={name}".encode()
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",  # passes CSRF without a token
        })
        res = conn.getresponse()
        res.read()
        assert res.status == 303
        return (res.getheader("Set-Cookie") or "").split(";", 1)[0]
    finally:
        conn.close()


def test_cookieless_flood_does_not_log_users_out(live_server: Callable[..., LiveServer]) -> None:
    store = MemoryStore(max_entries=20)
    srv = live_server(make_app(["k" * 32], store=store))
    cookie = _login(srv, "alice")
    page, _ = _get(srv, "/", cookie)  # the browser follows the login redirect
    assert "Logged in as <b>alice</b>" in page
    for _ in range(100):  # visitors (or a bot) without cookies, each getting a new session
        _get(srv, "/")
    page, _ = _get(srv, "/", cookie)
    assert "Logged in as <b>alice</b>" in page, re.findall(r'<p id="greeting">.*?</p>', page)


def test_memory_store_evicts_the_least_recently_used() -> None:
    store = MemoryStore(max_entries=3)
    for sid in ("a", "b", "c"):
        store.save(sid, {"sid": sid}, max_age=100)
        assert store.load(sid) == {"sid": sid}  # each came back once: a kept session
    assert store.load("a") == {"sid": "a"}  # "a" is now the most recently used
    store.save("d", {"sid": "d"}, max_age=1000)
    assert store.load("d") == {"sid": "d"}
    assert store.load("a") == {"sid": "a"}
    assert store.load("b") is None  # the least recently used one went, not "a"
    assert len(store) <= 3 + store.max_new
