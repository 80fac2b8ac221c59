"""Believe proxy headers only from the proxies you trust."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Union

from wsgikit.server.forwarded import DEFAULT_HEADERS, ORIGINALS_KEY, ProxyTrust, apply
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("wsgikit.proxy")

#: Environ key holding the ``wsgikit.server.forwarded.ForwardedView`` computed for this request.
VIEW_KEY = "wsgikit.proxy.view"


class ProxyHeadersMiddleware:
    """Rewrite the environ to what the client sent, as told by trusted proxies.

    Options: ``trusted`` (CIDR networks or addresses of your proxies, required), ``hops``
    (proxies in front of the app, default 1), ``headers`` (which of ``forwarded``,
    ``x-forwarded-for``, ``-proto``, ``-host``, ``-port``, ``-prefix`` your proxy sets;
    default for and proto).

    Reads REMOTE_ADDR and the forwarding headers. Writes REMOTE_ADDR, ``wsgi.url_scheme``,
    HTTP_HOST, SERVER_NAME, SERVER_PORT and SCRIPT_NAME; ``wsgikit.proxy.orig`` (the replaced
    or removed values) and ``wsgikit.proxy.view``. From an untrusted peer every forwarding
    header is removed. Do not use it when the app is reachable without the proxy and the
    proxy's address could be reused by others.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        trusted: Union[str, Iterable[str]],
        hops: int = 1,
        headers: Iterable[str] = DEFAULT_HEADERS,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        self.app = app
        self.trust = ProxyTrust.from_options(trusted, hops=hops, headers=headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        view = apply(environ, self.trust)
        environ[VIEW_KEY] = view
        if view.error:
            logger.warning("proxy headers from %s: %s", environ.get(ORIGINALS_KEY, {}).get(
                "REMOTE_ADDR", environ.get("REMOTE_ADDR")), view.error)
        return self.app(environ, start_response)
