"""The smallest PEP 3333 application: one status, one header list, one bytes body."""

from __future__ import annotations

from collections.abc import Iterable

from wsgikit.types import StartResponse, WSGIEnvironment


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = b"Hello, world!\n"
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]
