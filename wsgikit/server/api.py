"""The two calls most programs need: ``make_server()`` (a bound server to run yourself) and
``serve()`` (run until Ctrl-C or SIGTERM, then shut down gracefully).

Both bind through the one binder (``wsgikit.server.listener``) and log through the one access
log (``wsgikit.server.accesslog.ServerAccessLog``) that ``wsgikit serve`` uses, so the same
settings give the same sockets and the same log lines from Python and from the command line.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterable, Mapping
from types import FrameType
from typing import Any, Callable, Optional

from wsgikit.config import ServerConfig
from wsgikit.server.connection import ResponseRecord
from wsgikit.server.listener import Listener
from wsgikit.server.server import Server

__all__ = ["make_server", "serve"]

log = logging.getLogger("wsgikit.error")


def _build_config(
    config: Optional[ServerConfig],
    host: Optional[str],
    port: Optional[int],
    options: dict[str, Any],
) -> ServerConfig:
    if host is not None:
        options["host"] = host
    if port is not None:
        options["port"] = port
    if config is None:
        return ServerConfig.from_mapping(options)
    return config.replace(**options) if options else config


def make_server(
    app: Any,
    host: Optional[str] = None,
    port: Optional[int] = None,
    config: Optional[ServerConfig] = None,
    *,
    sockets: Optional[Iterable[socket.socket | Listener]] = None,
    ssl_context: Any = None,
    on_response: Optional[Callable[[ResponseRecord], None]] = None,
    environ_extra: Optional[Mapping[str, Any]] = None,
    server_class: type[Server] = Server,
    **options: Any,
) -> Server:
    """A bound, listening :class:`Server` for ``app``; call ``serve_forever()`` on it.

    ``options`` are :class:`~wsgikit.config.ServerConfig` fields (``threads=16``,
    ``access_log="-"``...), applied over ``config``. Without ``sockets`` (pre-bound listening
    sockets or ``Listener`` objects: inherited, systemd) every ``config.bind_specs()`` entry is
    bound by ``wsgikit.server.listener.bind_listeners``. ``ssl_context`` turns on TLS,
    ``on_response`` receives a record after every response (after the access-log line),
    ``environ_extra`` adds keys to every request's environ. ``server_class`` is a subclass of
    :class:`Server` with its hooks overridden (``make_connection()``...), as in wsgiref.
    """
    return server_class(
        app,
        _build_config(config, host, port, options),
        sockets=sockets,
        ssl_context=ssl_context,
        on_response=on_response,
        environ_extra=environ_extra,
    )


class _Terminate(KeyboardInterrupt):
    """SIGTERM under :func:`serve`: stop like Ctrl-C (graceful)."""


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    raise _Terminate()


def serve(
    app: Any,
    host: Optional[str] = None,
    port: Optional[int] = None,
    config: Optional[ServerConfig] = None,
    **options: Any,
) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM, then shut down gracefully."""
    server = make_server(app, host, port, config, **options)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with server:
            for sock in server.listeners:
                log.info("wsgikit: listening on %s", sock.getsockname())
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                log.info("wsgikit: shutting down (up to %.0f s for in-flight requests)",
                         server.config.graceful_timeout)
                server.drain(server.config.graceful_timeout)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
