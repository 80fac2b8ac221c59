"""Placeholder listener until the HTTP/1.1 server core lands (issue 3 replaces this module).

It runs the app on the standard library's ``wsgiref`` server, one thread per connection,
so ``make serve`` works from the first commit.
"""

from __future__ import annotations

import socketserver
from typing import Any, Optional
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server as _wsgiref_make_server

from wsgikit.config import ServerConfig


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def make_server(app: Any, *, config: Optional[ServerConfig] = None, **options: Any) -> Any:
    config = config.replace(**options) if config else ServerConfig(**options)
    return _wsgiref_make_server(config.host, config.port, app, _ThreadingWSGIServer)


def serve(app: Any, *, config: Optional[ServerConfig] = None, **options: Any) -> None:
    server = make_server(app, config=config, **options)
    try:
        server.serve_forever()
    finally:
        server.server_close()
