"""Finding 1: a request that started before ``/logout`` must not bring the session back when it
finishes after it (the store write must be "update if it still exists", never create).

Deterministic: the slow request waits on an event the test sets only after logout finished.
Over real sockets against a live server, with MemoryStore and with a real redis-server."""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any, Callable

import pytest

from middleware.sessions import (
    MemoryRevocations,
    MemoryStore,
    RedisStore,
    SessionMiddleware,
    get_session,
)
from tests.support.live import LiveServer

KEY = "k" * 32


class RaceApp:
    """/login, /logout, /whoami, and /slow: reads the session, waits for ``release``, writes."""

    def __init__(self, revocations: Any = None) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.revocations = revocations

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        session = get_session(environ)
        path = environ["PATH_INFO"]
        if path == "/login":
            session.regenerate()
            session["user"] = "alice"
            if self.revocations is not None:
                session.set_user("alice")
        elif path == "/logout":
            if self.revocations is not None:
                self.revocations.revoke("alice")
            session.clear()
        elif path == "/slow":
            self.entered.set()
            self.release.wait(10)
            session["visits"] = int(session.get("visits", 0)) + 1
        body = json.dumps({"user": session.get("user")}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]


def request(srv: LiveServer, path: str, cookie: str = "") -> tuple[dict[str, Any], list[str]]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        res = conn.getresponse()
        return json.loads(res.read()), res.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()


def cookie_of(set_cookies: list[str]) -> str:
    return next(h.split(";", 1)[0] for h in set_cookies if not h.split(";")[0].endswith("="))


def run_race(live_server: Callable[..., LiveServer], store: Any) -> dict[str, Any]:
    app = RaceApp()
    srv = live_server(SessionMiddleware(app, secret_keys=[KEY], store=store), threads=4)
    data, set_cookies = request(srv, "/login")
    cookie = cookie_of(set_cookies)
    assert request(srv, "/whoami", cookie)[0] == {"user": "alice"}

    slow_result: dict[str, Any] = {}
    slow = threading.Thread(
        target=lambda: slow_result.update(zip(("data", "cookies"), request(srv, "/slow", cookie)))
    )
    slow.start()
    assert app.entered.wait(10), "the slow request never started"
    request(srv, "/logout", cookie)
    assert request(srv, "/whoami", cookie)[0] == {"user": None}
    app.release.set()
    slow.join(10)
    assert not slow.is_alive()
    assert slow_result["data"] == {"user": "alice"}  # it did run with the old session
    # The old cookie must stay dead after the slow request wrote its change.
    assert request(srv, "/whoami", cookie)[0] == {"user": None}
    # And the late response must not re-issue a session cookie for the dead session.
    assert not [c for c in slow_result["cookies"] if not c.split(";")[0].endswith("=")]
    return {"after": request(srv, "/whoami", cookie)[0], "slow": slow_result}


def test_logout_stays_done_with_memory_store(
    live_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wsgikit.sessions"):
        run_race(live_server, MemoryStore())
    assert "outlived its session" in caplog.text  # the dropped change is logged


@pytest.mark.e2e
def test_logout_stays_done_with_redis_store(
    live_server: Callable[..., LiveServer], redis_url: str
) -> None:
    result = run_race(live_server, RedisStore.from_url(redis_url))
    assert result["after"] == {"user": None}  # the late write did not bring alice back
    assert result["slow"]["data"] == {"user": "alice"}


def test_regenerate_race_does_not_revive_the_old_id(live_server: Callable[..., LiveServer]) -> None:
    """Login (regenerate) while a request on the pre-login id runs: the old id stays gone."""
    store = MemoryStore()
    app = RaceApp()
    srv = live_server(SessionMiddleware(app, secret_keys=[KEY], store=store), threads=4)
    app.release.set()  # a first, unhindered visit gives the visitor a stored session
    anonymous = cookie_of(request(srv, "/slow")[1])
    app.release.clear()
    app.entered.clear()
    slow = threading.Thread(target=request, args=(srv, "/slow", anonymous))
    slow.start()
    assert app.entered.wait(10)
    request(srv, "/login", anonymous)
    app.release.set()
    slow.join(10)
    assert len(store) == 1  # only the logged-in session; the pre-login id was not re-created


def test_cookie_store_logout_with_revocations_survives_a_late_response(
    live_server: Callable[..., LiveServer],
) -> None:
    """With the cookie store the late response *does* carry the old session back to the
    browser (there is no server state to refuse the write); a revocation counter bumped at
    logout makes that cookie worthless."""
    revocations = MemoryRevocations()
    app = RaceApp(revocations)
    srv = live_server(SessionMiddleware(app, secret_keys=[KEY], revocations=revocations),
                      threads=4)
    cookie = cookie_of(request(srv, "/login")[1])
    slow_result: dict[str, Any] = {}
    slow = threading.Thread(
        target=lambda: slow_result.update(zip(("data", "cookies"), request(srv, "/slow", cookie)))
    )
    slow.start()
    assert app.entered.wait(10)
    request(srv, "/logout", cookie)
    app.release.set()
    slow.join(10)
    late = cookie_of(slow_result["cookies"])  # what the browser now holds
    data, _ = request(srv, "/whoami", late)
    assert data == {"user": None}
