"""The app every instance of the multi-instance tests serves: sessions in a shared Redis.

Each response names the instance and process that answered, so a test can tell where the
balancer sent it. Configured by environment: ``DEPLOY_REDIS_URL``, ``DEPLOY_SECRET``,
``DEPLOY_INSTANCE``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

from middleware.sessions import RedisStore, SessionMiddleware, get_session


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session = get_session(environ)
    path = environ.get("PATH_INFO", "")
    method = environ["REQUEST_METHOD"]
    if path == "/login" and method == "POST":
        session.regenerate()  # a new id at login (session fixation)
        session["user"] = "alice"
    elif path == "/inc" and method == "POST":
        session["n"] = session.get("n", 0) + 1
    elif path == "/slow":
        time.sleep(0.05)  # keeps requests in flight when an instance stops or dies
    body = json.dumps({
        "instance": os.environ.get("DEPLOY_INSTANCE", "?"),
        "pid": os.getpid(),
        "user": session.get("user"),
        "n": session.get("n", 0),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def create_app() -> Any:
    """``wsgikit serve --factory tests.deploy.sessionapp:create_app``."""
    store = RedisStore.from_url(os.environ["DEPLOY_REDIS_URL"])
    return SessionMiddleware(_app, secret_keys=[os.environ["DEPLOY_SECRET"]], store=store,
                             cookie_name="sid", secure=False)
