"""Running wsgikit as a process: the run loop the CLI, the pre-fork arbiter and the reloader share.

::

    listeners = open_listeners(config)            # inherited, systemd, or the one binder
    run_server(app, config, listeners, ssl_ctx)   # the app stack (ops.stack), the server (which
                                                  # writes the access log), signals: SIGTERM ->
                                                  # 503, drain_delay, close, drain, exit

Errors meant for the operator are ``ListenError`` (``wsgikit.server.listener``: an ``OSError``
whose message names the address) so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional

from wsgikit.config import ServerConfig
from wsgikit.ops import systemd
from wsgikit.ops.stack import build_app
from wsgikit.ops.status import ServerState
from wsgikit.server import listener
from wsgikit.server.listener import Listener
from wsgikit.server.server import Server
from wsgikit.types import WSGIApplication

if TYPE_CHECKING:
    import ssl  # annotations only: importing ssl grows every process that never uses TLS

__all__ = ["INHERITED_FDS_ENV", "open_listeners", "run_server"]

log = logging.getLogger("wsgikit")

#: fds a parent process (the reloader) bound for us, comma separated; they win over --bind.
INHERITED_FDS_ENV = "WSGIKIT_INHERITED_FDS"


def open_listeners(
    config: ServerConfig, environ: Optional[dict[str, str]] = None
) -> list[Listener]:
    """This process's listening sockets: inherited ones first (the reloader's, systemd's), else
    ``config``'s, bound by the one binder (``wsgikit.server.listener.bind_listeners``).

    A failure closes what was already bound, then raises ``ListenError``.
    """
    env = os.environ if environ is None else environ
    inherited = env.pop(INHERITED_FDS_ENV, "")
    if inherited:
        return listener.adopt_fds(int(part) for part in inherited.split(",") if part.strip())
    activated = systemd.listen_fds(env)  # type: ignore[arg-type]
    if activated:
        listeners = listener.adopt_fds(activated)
        log.info("using %d socket(s) passed by systemd", len(listeners))
        return listeners
    return listener.bind_listeners(config)


# -- the server ----------------------------------------------------------------------------------


def _count_requests(
    inner: Optional[Callable[[Any], None]], config: ServerConfig, reached: threading.Event
) -> Callable[[Any], None]:
    """An ``on_response`` hook that sets ``reached`` after max_requests (+ jitter) responses."""
    import itertools
    import random

    limit = config.max_requests + random.randint(0, config.max_requests_jitter)
    counter = itertools.count(1)

    def hook(record: Any) -> None:
        if inner is not None:
            inner(record)
        if next(counter) >= limit:
            reached.set()

    return hook


def run_server(
    app: WSGIApplication,
    config: ServerConfig,
    listeners: Sequence[Listener],
    ssl_context: Optional[ssl.SSLContext],
    *,
    ready: Optional[Callable[[], None]] = None,
    notify_systemd: bool = True,
    parent_pid: Optional[int] = None,
    metrics: Optional[Any] = None,
) -> int:
    """Serve until SIGTERM/SIGINT, then stop accepting and drain; return the exit code (0).

    The status path reports draining at once; with ``drain_delay`` the server keeps accepting
    and serving that long first, so load balancers take it out before its listener closes.
    SIGQUIT drains without the delay.

    With ``parent_pid`` (a pre-fork worker) the server also drains when that parent is gone.
    ``metrics`` is this process's ``metrics.Recorder`` (the arbiter gives each worker one slot
    of a shared store); with ``metrics_path`` and none given, the process makes its own.
    """
    state = ServerState()
    state.metrics = metrics
    stack = build_app(app, config, state)
    # The access log is the server's own (config.access_log): the same code as make_server().
    on_response = state.metrics.on_response if state.metrics is not None else None
    recycle = threading.Event()
    if parent_pid is not None and config.max_requests > 0:
        on_response = _count_requests(on_response, config, recycle)
    server = Server(
        stack,
        config,
        sockets=listeners,
        ssl_context=ssl_context,
        on_response=on_response,
        # a callable giving queue depth, busy workers...: in every environ, at no cost
        environ_extra={"wsgikit.stats": state.stats},
    )
    state.stats_source = server.stats
    if state.metrics is not None:
        state.metrics.stats_source = server.stats
    stop_publishing = state.metrics.start_publishing() if state.metrics is not None else None
    stopping = threading.Event()
    stoppers: list[threading.Thread] = []
    serving = threading.Event()
    service_actions = server.service_actions

    def mark_serving() -> None:  # serve_forever calls this from its loop: it is running
        serving.set()
        service_actions()

    server.service_actions = mark_serving  # type: ignore[method-assign]

    hurry = threading.Event()  # SIGQUIT: cut the drain delay short

    def shutdown(reason: str, delay: float) -> None:
        if delay > 0:
            # The status path says 503 already; keep accepting until the balancers have seen
            # it, or new connections would be refused before they stop sending them. Without
            # keep-alive meanwhile, no idle connection is left for the drain to close under
            # a request a proxy is just sending on it (nginx does not replay a POST).
            server.end_keep_alive()
            log.info("%s: not ready; serving %gs more before closing the listener "
                     "(drain_delay; SIGQUIT skips it)", reason, delay)
            hurry.wait(delay)
        log.info("%s: draining (up to %gs), then exiting", reason, config.graceful_timeout)
        # A signal may come before serve_forever() runs; shutting down a server that has not
        # started its pool yet would fail, so wait (bounded) until it serves.
        serving.wait(5.0)
        server.shutdown()

    def stop(reason: str, delay: float = 0.0) -> None:
        # runs in a signal handler: no logging, no blocking here
        if stopping.is_set():
            return
        stopping.set()
        state.start_draining()
        stopper = threading.Thread(
            target=shutdown, args=(reason, delay), name="wsgikit-shutdown", daemon=True
        )
        stoppers.append(stopper)
        stopper.start()

    def on_signal(signum: int, frame: Any) -> None:
        # SIGTERM/SIGINT honour drain_delay (an orchestrator stopping the instance); SIGQUIT
        # drains at once (the arbiter retiring one worker of several, an impatient operator).
        quick = signum == getattr(signal, "SIGQUIT", None)
        if quick:
            hurry.set()
        stop(signal.Signals(signum).name, 0.0 if quick else config.drain_delay)

    for name in ("SIGTERM", "SIGINT", "SIGQUIT", "SIGBREAK"):  # SIGBREAK: Ctrl-Break, Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)
    reloader = None
    watch_stop: Optional[threading.Event] = None
    if ssl_context is not None and config.certfile:
        from wsgikit.server.tls import CertReloader

        reloader = CertReloader(config, server.set_ssl_context)
        if config.tls_reload_interval is not None:
            watch_stop = reloader.start_watching(config.tls_reload_interval)
    if hasattr(signal, "SIGHUP") and (parent_pid is None or reloader is not None):
        # One process has no workers to replace: a hangup (a closed terminal) must not kill
        # the server mid-request; with TLS it reloads the certificate and key (new
        # connections get them, open ones keep theirs). Use --workers for code reloads.
        if reloader is not None:
            tls_reloader = reloader

            def on_hangup(signum: int, frame: Any) -> None:  # no I/O in a signal handler
                threading.Thread(target=tls_reloader.reload, args=("SIGHUP",),
                                 name="wsgikit-tls-reload", daemon=True).start()

            signal.signal(signal.SIGHUP, on_hangup)
        else:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if parent_pid is not None:

        def watch_parent() -> None:
            while not stopping.wait(0.5):
                if os.getppid() != parent_pid:
                    stop("master process is gone")
                elif recycle.is_set():
                    stop(f"served max_requests ({config.max_requests}+); recycling this worker")

        threading.Thread(target=watch_parent, name="wsgikit-parent-watch", daemon=True).start()
    if ready is not None:
        ready()
    if notify_systemd:
        systemd.notify("READY=1")
    try:
        server.serve_forever()
        for stopper in stoppers:  # shutdown() drains after serve_forever() returns: wait for it
            stopper.join(config.graceful_timeout + 5.0)
    finally:
        if watch_stop is not None:
            watch_stop.set()
        if notify_systemd:
            systemd.notify("STOPPING=1")
        if stop_publishing is not None:
            stop_publishing.set()
        server.server_close()
    log.info("stopped")
    return 0
