"""RedisStore against a real redis-server started on a free loopback port by a fixture."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import pytest
from webtest import TestApp

from middleware.sessions import RedisStore, SessionMiddleware, get_session
from tests.conftest import free_port, require_module

pytestmark = pytest.mark.e2e

KEY = "k" * 32


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session = get_session(environ)
    path = environ["PATH_INFO"]
    if path == "/inc":
        session["n"] = session.get("n", 0) + 1
    elif path == "/login":
        session.regenerate()
        session["user"] = "alice"
    elif path == "/logout":
        session.clear()
    body = json.dumps({"data": dict(session), "sid": session.sid}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def test_sessions_live_in_redis_with_ttl(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    client = TestApp(SessionMiddleware(app, secret_keys=[KEY], store=store, max_age=300))
    client.get("/inc")
    client.get("/inc")
    assert client.get("/").json["data"] == {"n": 2}
    keys = store.client.keys("wsgikit:session:*")
    assert len(keys) == 1
    stored = json.loads(store.client.get(keys[0]))
    assert stored.pop("_wsgikit")["iat"] > 0  # the middleware's metadata: the issue time
    assert stored == {"n": 2}
    assert 0 < store.client.ttl(keys[0]) <= 300
    # The cookie holds only a signed id, not the data.
    assert "eyJu" not in client.cookies["session"]


def test_redis_survives_app_restart_and_clear_revokes(redis_url: str) -> None:
    first = TestApp(SessionMiddleware(app, secret_keys=[KEY], store=RedisStore.from_url(redis_url)))
    first.get("/login")
    cookie = first.cookies["session"]
    # A new process (new middleware, new client) sees the same session.
    second_store = RedisStore.from_url(redis_url)
    second = TestApp(SessionMiddleware(app, secret_keys=[KEY], store=second_store))
    res = second.get("/", headers={"Cookie": f"session={cookie}"})
    assert res.json["data"] == {"user": "alice"}
    second.get("/logout", headers={"Cookie": f"session={cookie}"})
    assert second_store.client.keys("wsgikit:session:*") == []
    # Server-side revocation: the old cookie is worthless now.
    third = TestApp(SessionMiddleware(app, secret_keys=[KEY], store=second_store))
    assert third.get("/", headers={"Cookie": f"session={cookie}"}).json["data"] == {}


def test_regenerate_deletes_the_old_id_in_redis(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    client = TestApp(SessionMiddleware(app, secret_keys=[KEY], store=store))
    client.get("/inc")
    planted = client.get("/").json["sid"]
    client.get("/login")
    now = client.get("/").json
    assert now["data"] == {"n": 1, "user": "alice"}
    assert now["sid"] != planted
    assert store.client.exists(store.prefix + planted) == 0
    assert len(store.client.keys("wsgikit:session:*")) == 1


def test_expiry_is_enforced_by_redis(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    store.save("sid", {"a": 1}, max_age=1)
    assert store.load("sid") == {"a": 1}
    deadline = time.monotonic() + 5
    while store.load("sid") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.load("sid") is None


def test_unreachable_redis_fails_fast_with_a_connection_error() -> None:
    redis = require_module("redis")
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    with pytest.raises(redis.exceptions.ConnectionError):
        store.load("sid")
