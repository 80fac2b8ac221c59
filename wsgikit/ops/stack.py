"""The application stack ``wsgikit serve`` builds around the app from its settings.

Innermost first: ``--trusted-proxy`` (:class:`TrustedProxies`), ``--request-warn-after`` (the
watchdog), ``--status-path`` and ``--metrics-path`` (outermost, so a health check never depends
on the app). ``make_server()`` users wrap their app in these classes themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wsgikit.config import ServerConfig
from wsgikit.ops.status import ServerState, StatusEndpoint
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["TrustedProxies", "build_app"]


class TrustedProxies:
    """``--trusted-proxy``: believe forwarding headers from these networks, strip everyone else's.

    A thin WSGI shell over ``wsgikit.server.forwarded.apply`` (the one implementation of the rules).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        trusted: Sequence[str],
        hops: int = 1,
        headers: Sequence[str] = ("x-forwarded-for", "x-forwarded-proto"),
    ) -> None:
        from wsgikit.server import forwarded

        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        self.app = app
        self._apply = forwarded.apply
        self.trust = forwarded.ProxyTrust.from_options(trusted, hops=hops, headers=headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self._apply(environ, self.trust)
        return self.app(environ, start_response)


def build_app(app: WSGIApplication, config: ServerConfig, state: ServerState) -> WSGIApplication:
    """Wrap ``app`` with what ``config`` asks for, innermost first: proxy trust, watchdog, status.

    The status document sits outermost so a health check never depends on the app.
    """
    wrapped = app
    if config.trusted_proxies:
        wrapped = TrustedProxies(
            wrapped,
            trusted=config.trusted_proxies,
            hops=config.trusted_proxy_hops,
            headers=config.trusted_proxy_headers,
        )
    if config.request_warn_after is not None:
        from wsgikit.ops.watchdog import RequestWatchdog

        wrapped = RequestWatchdog(wrapped, warn_after=config.request_warn_after)
    if config.status_path:
        wrapped = StatusEndpoint(wrapped, path=config.status_path, state=state)
    if config.metrics_path:
        from wsgikit.ops.metrics import MetricsEndpoint, MetricsStore, Recorder

        if state.metrics is None:
            state.metrics = Recorder(MetricsStore())
        wrapped = MetricsEndpoint(wrapped, path=config.metrics_path, recorder=state.metrics)
    return wrapped
