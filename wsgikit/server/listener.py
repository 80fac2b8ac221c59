"""The one binder: listening sockets for ``config.bind_specs()``, the same from Python and the CLI.

``make_server()``/``serve()`` (through ``Server.server_bind()``) and ``wsgikit serve`` (through
``wsgikit.ops.run.open_listeners``) both bind here, so a socket gets the same options whichever
way the server was started:

* ``HOST:PORT`` and ``[V6]:PORT``: resolved with ``getaddrinfo`` (names, scope ids),
  ``SO_REUSEADDR``, ``SO_REUSEPORT`` with ``reuse_port``, and ``IPV6_V6ONLY`` on IPv6 sockets
  (one family per socket, as waitress does: bind ``0.0.0.0:P`` and ``[::]:P`` for both).
* ``unix:/PATH``: a stale socket file nobody listens on is replaced, anything else is refused;
  created under a umask so it is never more open than ``unix_socket_perms``, even for a moment.
* ``fd://N``: an inherited socket, adopted only if it is a listening stream socket.

Errors meant for the operator are :class:`ListenError` (an ``OSError`` whose message names the
address and the reason), so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from wsgikit.config import BindSpec, ServerConfig

__all__ = ["ListenError", "Listener", "bind_listeners", "adopt_fds", "close_listeners"]

#: Connections accepted from one listener per readiness event before looking at the others.
ACCEPT_BATCH = 64


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


def reason(exc: OSError) -> str:
    """A person's explanation of a failed bind or open."""
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
        # An ASCII host goes as bytes: a str would load the IDNA codec into every process.
        name = host.encode("ascii") if host and host.isascii() else host or None
        infos = socket.getaddrinfo(
            name, spec.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {spec}: unknown host ({exc.strerror})") from None
    # A name with both families (localhost on many systems lists ::1 first) binds IPv4, as
    # wsgiref and gunicorn do, so make_server("localhost", ...) answers on 127.0.0.1; an IPv6
    # literal resolves to IPv6 only, and [::] is how to listen on IPv6.
    family, socktype, proto, _, address = min(infos, key=lambda info: info[0] != socket.AF_INET)
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if config.reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(config.backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {spec}: {reason(exc)}") from None
    return sock


def _bind_unix(spec: BindSpec, config: ServerConfig) -> socket.socket:
    path = spec.path
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = 0
    except OSError as exc:
        raise ListenError(f"cannot listen on {spec}: {reason(exc)}") from None
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
        raise ListenError(f"cannot listen on {spec}: {reason(exc)}") from None
    finally:
        os.umask(old_umask)
    return sock


def _adopt_fd(fd: int, spec: BindSpec) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ListenError(f"cannot use {spec}: {reason(exc)}") from None
    try:
        accepting = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        accepting = 1
    if sock.type != socket.SOCK_STREAM or not accepting:
        sock.detach()
        raise ListenError(f"cannot use {spec}: fd {fd} is not a listening stream socket")
    sock.set_inheritable(False)
    return sock


def bind_listeners(config: ServerConfig) -> list[Listener]:
    """One listening socket per ``config.bind_specs()`` entry (tcp v4/v6, unix, fd://N).

    A failure closes what was already bound, then raises :class:`ListenError`.
    """
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


def adopt_fds(fds: Iterable[int]) -> list[Listener]:
    """Listeners for already listening inherited fds (the reloader's, systemd's)."""
    listeners: list[Listener] = []
    try:
        for fd in fds:
            sock = _adopt_fd(fd, BindSpec("fd", fd=fd))
            spec = (BindSpec("unix", path=str(sock.getsockname()))
                    if sock.family == socket.AF_UNIX else BindSpec("fd", fd=fd))
            listeners.append(Listener(sock, spec))
    except BaseException:
        close_listeners(listeners, unlink=False)
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
