"""``--status-path``: a small JSON health/readiness document answered before the app is called.

``200 {"status": "ok", "ready": true, ...}`` while serving; ``503 {"status": "draining",
"ready": false}`` once a graceful shutdown has begun, so a load balancer stops sending new work
while in-flight requests finish. The document carries the server's ``stats()`` (queue depth, busy
workers, open connections) when the server offers them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ServerEndpoint", "ServerState", "StatusEndpoint"]


class ServerState:
    """What the status document reports: draining or not, and a source of live stats."""

    def __init__(self) -> None:
        self.started = time.time()
        self._draining = threading.Event()
        self.stats_source: Optional[Callable[[], Mapping[str, Any]]] = None
        #: This process's ``metrics.Recorder`` when ``metrics_path`` is on.
        self.metrics: Optional[Any] = None

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def start_draining(self) -> None:
        self._draining.set()

    def stats(self) -> dict[str, Any]:
        """The server's live numbers (empty before the server exists)."""
        source = self.stats_source
        return dict(source()) if source is not None else {}

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "status": "draining" if self.draining else "ok",
            "ready": not self.draining,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started, 3),
        }
        if self.stats_source is not None:
            try:
                doc["stats"] = dict(self.stats_source())
            except Exception as exc:  # stats are informative; never fail the health check
                doc["stats_error"] = f"{type(exc).__name__}: {exc}"
        return doc


class ServerEndpoint:
    """A read-only document the server answers at ``path`` (GET/HEAD) before calling the app,
    so a health check or a scrape never depends on the app; other methods get 405."""

    #: What the document is, for the 405 message.
    what = "the document"

    def __init__(self, app: WSGIApplication, *, path: str) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self.app = app
        self.path = path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if path != self.path:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            body = f"405 Method Not Allowed: {self.what} is read-only\n".encode()
            start_response(
                "405 Method Not Allowed",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Allow", "GET, HEAD"),
                ],
            )
            return [body]
        status, content_type, body = self.render()
        start_response(
            status,
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [] if method == "HEAD" else [body]

    def render(self) -> tuple[str, str, bytes]:
        """The status line, the content type and the body."""
        raise NotImplementedError


class StatusEndpoint(ServerEndpoint):
    """WSGI wrapper answering GET/HEAD ``path`` with ``state``'s JSON document."""

    what = "the status document"

    def __init__(self, app: WSGIApplication, *, path: str, state: ServerState) -> None:
        super().__init__(app, path=path)
        if not isinstance(state, ServerState):
            raise TypeError("state must be a ServerState")
        self.state = state

    def render(self) -> tuple[str, str, bytes]:
        import json  # here: a server whose status path is never asked does not load it

        doc = self.state.document()
        body = json.dumps(doc, sort_keys=True).encode("utf-8") + b"\n"
        status = "200 OK" if doc["ready"] else "503 Service Unavailable"
        return status, "application/json", body
