"""Running wsgikit as a process: bind listeners, wrap the app, build the server, drain on signals.

The CLI, the pre-fork arbiter and the reloader share these steps::

    listeners = bind_listeners(config)            # tcp v4/v6, unix (perms), fd://N, systemd
    app = build_app(app, config, state)           # status path, watchdog, proxy trust
    run_server(app, config, listeners, ssl_ctx)   # SIGTERM: 503, drain_delay, close, drain, exit

Errors meant for the operator are ``ListenError`` (an ``OSError`` whose message names the
address) so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from wsgikit.config import BindSpec, ServerConfig
from wsgikit.ops import systemd
from wsgikit.ops.status import ServerState, StatusEndpoint
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

if TYPE_CHECKING:
    import ssl  # annotations only: loading ssl costs ~5 MB of RSS

__all__ = [
    "INHERITED_FDS_ENV",
    "Listener",
    "ListenError",
    "bind_listeners",
    "close_listeners",
    "build_app",
    "create_server",
    "run_server",
]

log = logging.getLogger("wsgikit")

#: fds a parent process (the reloader) bound for us, comma separated; they win over --bind.
INHERITED_FDS_ENV = "WSGIKIT_INHERITED_FDS"


class ListenError(OSError):
    """A listening socket cannot be made; the message names the address and the reason."""


@dataclass
class Listener:
    """A bound, listening socket and how to show it to a person."""

    sock: socket.socket
    spec: BindSpec
    owned_path: str = ""  # a Unix socket file we created and must remove

    def url(self, tls: bool = False) -> str:
        if self.spec.kind == "unix":
            return f"unix:{self.spec.path}"
        family = self.sock.family
        if family in (socket.AF_INET, socket.AF_INET6):
            host, port = self.sock.getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            return f"{'https' if tls else 'http'}://{host}:{port}"
        if family == socket.AF_UNIX:
            return f"unix:{self.sock.getsockname()}"
        return str(self.spec)


# -- binding -------------------------------------------------------------------------------------


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (another server is running there?)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (ports below 1024 need privileges; check file permissions)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "address not available on this machine"
    return exc.strerror or str(exc)


def _bind_tcp(spec: BindSpec, config: ServerConfig) -> socket.socket:
    host = spec.host
    try:
        # An ASCII host goes as bytes: a str would load the IDNA codec (about 1 MB of memory).
        name = host.encode("ascii") if host and host.isascii() else host or None
        infos = socket.getaddrinfo(
            name, spec.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {spec}: unknown host ({exc.strerror})") from None
    family, socktype, proto, _, address = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if config.reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # One family per socket, as waitress does: bind 0.0.0.0 separately for IPv4.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(config.backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {spec}: {_reason(exc)}") from None
    return sock


def _bind_unix(spec: BindSpec, config: ServerConfig) -> socket.socket:
    path = spec.path
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = 0
    except OSError as exc:
        raise ListenError(f"cannot listen on {spec}: {_reason(exc)}") from None
    if mode:
        if not stat.S_ISSOCK(mode):
            raise ListenError(f"cannot listen on {spec}: {path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # a stale socket file left by a server that died
        else:
            raise ListenError(f"cannot listen on {spec}: another server is listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o777 & ~config.unix_socket_perms)
    try:
        sock.bind(path)
        os.chmod(path, config.unix_socket_perms)
        sock.listen(config.backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {spec}: {_reason(exc)}") from None
    finally:
        os.umask(old_umask)
    return sock


def _adopt_fd(fd: int, spec: BindSpec) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ListenError(f"cannot use {spec}: {_reason(exc)}") from None
    try:
        accepting = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        accepting = 1
    if sock.type != socket.SOCK_STREAM or not accepting:
        sock.detach()
        raise ListenError(f"cannot use {spec}: fd {fd} is not a listening stream socket")
    sock.set_inheritable(False)
    return sock


def _spec_of(sock: socket.socket, fd: int) -> BindSpec:
    if sock.family == socket.AF_UNIX:
        return BindSpec("unix", path=str(sock.getsockname()))
    return BindSpec("fd", fd=fd)


def bind_listeners(
    config: ServerConfig, environ: Optional[dict[str, str]] = None
) -> list[Listener]:
    """Listening sockets for ``config``: inherited ones first (reloader, systemd), else binds.

    A failure closes what was already bound, then raises ``ListenError``.
    """
    env = os.environ if environ is None else environ
    inherited = env.pop(INHERITED_FDS_ENV, "")
    if inherited:
        fds = [int(part) for part in inherited.split(",") if part.strip()]
        out = []
        for fd in fds:
            sock = _adopt_fd(fd, BindSpec("fd", fd=fd))
            out.append(Listener(sock, _spec_of(sock, fd)))
        return out
    activated = systemd.listen_fds(env)  # type: ignore[arg-type]
    if activated:
        out = []
        for fd in activated:
            sock = _adopt_fd(fd, BindSpec("fd", fd=fd))
            out.append(Listener(sock, _spec_of(sock, fd)))
        log.info("using %d socket(s) passed by systemd", len(out))
        return out
    listeners: list[Listener] = []
    try:
        for spec in config.bind_specs():
            if spec.kind == "tcp":
                listeners.append(Listener(_bind_tcp(spec, config), spec))
            elif spec.kind == "unix":
                listeners.append(Listener(_bind_unix(spec, config), spec, owned_path=spec.path))
            else:
                listeners.append(Listener(_adopt_fd(spec.fd, spec), spec))
    except BaseException:
        close_listeners(listeners)
        raise
    return listeners


def close_listeners(listeners: Iterable[Listener], *, unlink: bool = True) -> None:
    """Close the sockets; remove the Unix socket files this process created."""
    for listener in listeners:
        try:
            listener.sock.close()
        except OSError:
            pass
        if unlink and listener.owned_path:
            try:
                os.unlink(listener.owned_path)
            except OSError:
                pass


# -- the application stack -----------------------------------------------------------------------


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


# -- the server ----------------------------------------------------------------------------------


def create_server(
    app: WSGIApplication,
    config: ServerConfig,
    sockets: Sequence[socket.socket],
    ssl_context: Optional[ssl.SSLContext],
    *,
    on_response: Optional[Callable[[Any], None]] = None,
    environ_extra: Optional[dict[str, Any]] = None,
) -> Any:
    """The server core's server on our pre-bound ``sockets`` (socketserver-style API)."""
    from wsgikit.server import server as core

    kwargs: dict[str, Any] = {"config": config, "sockets": list(sockets)}
    if environ_extra:
        kwargs["environ_extra"] = environ_extra
    if ssl_context is not None:
        kwargs["ssl_context"] = ssl_context
    if on_response is not None:
        kwargs["on_response"] = on_response
    return core.make_server(app, **kwargs)


_DEFAULT_ACCESS_LOG_FORMAT = ServerConfig.__dataclass_fields__["access_log_format"].default


def check_access_log(config: ServerConfig) -> None:
    """Raise ``ValueError`` for a bad format and ``ListenError`` for an unwritable log file."""
    if not config.access_log and config.access_log_format == _DEFAULT_ACCESS_LOG_FORMAT:
        return  # nothing to check (and the access-log module's imports are not needed)
    from wsgikit.server import accesslog

    accesslog.make_formatter("json" if config.access_log_json else config.access_log_format)
    if config.access_log and config.access_log != "-":
        try:
            with open(config.access_log, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise ListenError(
                f"cannot open access log {config.access_log!r}: {_reason(exc)}"
            ) from None


def access_logger(
    config: ServerConfig, state: Optional[ServerState] = None
) -> Optional[Callable[[Any], None]]:
    """An ``on_response`` hook writing ``config.access_log`` (None when it is off).

    The format is compiled now, so a bad atom is an error at start-up; the file is opened in
    append mode, line-buffered (workers of one master share it: short appends stay whole).
    """
    if not config.access_log:
        return None
    from datetime import datetime, timezone

    from wsgikit.server import accesslog

    formatter = accesslog.make_formatter(
        "json" if config.access_log_json else config.access_log_format
    )
    if config.access_log == "-":
        stream: Any = sys.stderr
    else:
        try:
            stream = open(config.access_log, "a", buffering=1, encoding="utf-8")
        except OSError as exc:
            raise ListenError(
                f"cannot open access log {config.access_log!r}: {_reason(exc)}"
            ) from None
    lock = threading.Lock()
    fmt = config.access_log_format
    wants_stats = state is not None and ("wsgikit.queue_depth" in fmt or "wsgikit.busy" in fmt)

    def hook(record: Any) -> None:
        env = record.environ or {}
        if wants_stats and state is not None and state.stats_source is not None:
            stats = state.stats_source()  # the pool as this response finished
            env["wsgikit.queue_depth"] = stats.get("queued", "-")
            env["wsgikit.busy_workers"] = stats.get("busy_workers", "-")
        entry = accesslog.AccessRecord(
            remote_addr=str(env.get("REMOTE_ADDR") or record.remote_addr or "-"),
            remote_user=env.get("REMOTE_USER"),
            method=record.method,
            path=str(env.get("SCRIPT_NAME", "")) + str(env.get("PATH_INFO", "")),
            query=str(env.get("QUERY_STRING", "")),
            protocol=f"HTTP/{record.http_version}",
            status=record.status,
            response_bytes=record.body_bytes,
            duration=record.duration,
            time=datetime.fromtimestamp(record.started or time.time(), timezone.utc).astimezone(),
            request_id=env.get(accesslog.REQUEST_ID_KEY),
            request_headers={k: v for k, v in env.items() if k.startswith("HTTP_")}
            or {"HTTP_" + k.upper().replace("-", "_"): v for k, v in record.request_headers},
            response_headers=record.response_headers,
            environ=env,
            request_uri=record.target,
        )
        line = formatter(entry)
        with lock:
            stream.write(line + "\n")

    hook.stream = stream  # type: ignore[attr-defined]
    return hook


def _both(
    first: Optional[Callable[[Any], None]], second: Optional[Callable[[Any], None]]
) -> Optional[Callable[[Any], None]]:
    """One ``on_response`` hook calling ``first`` then ``second`` (either may be None)."""
    if first is None or second is None:
        return first or second
    one, two = first, second

    def hook(record: Any) -> None:
        one(record)
        two(record)

    return hook


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
    on_response = _both(access_logger(config, state),
                        state.metrics.on_response if state.metrics is not None else None)
    recycle = threading.Event()
    if parent_pid is not None and config.max_requests > 0:
        on_response = _count_requests(on_response, config, recycle)
    server = create_server(
        stack,
        config,
        [listener.sock for listener in listeners],
        ssl_context,
        on_response=on_response,
        # a callable giving queue depth, busy workers...: in every environ, at no cost
        environ_extra={"wsgikit.stats": state.stats},
    )
    stats = getattr(server, "stats", None)
    if callable(stats):
        state.stats_source = stats
        if state.metrics is not None:
            state.metrics.stats_source = stats
    stop_publishing = state.metrics.start_publishing() if state.metrics is not None else None
    stopping = threading.Event()
    stoppers: list[threading.Thread] = []
    serving = threading.Event()
    service_actions = server.service_actions

    def mark_serving() -> None:  # serve_forever calls this from its loop: it is running
        serving.set()
        service_actions()

    server.service_actions = mark_serving

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
