"""systemd integration without libsystemd: socket activation and ``sd_notify``.

Socket activation (``sd_listen_fds(3)``): systemd passes listening sockets as fds 3, 4, ... and
sets ``LISTEN_FDS`` and ``LISTEN_PID`` (our pid, so a child does not take its parent's sockets).
``sd_notify(3)``: a datagram such as ``READY=1`` sent to the Unix socket named by
``NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace). Both do nothing outside systemd.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping
from typing import Optional

__all__ = ["SD_LISTEN_FDS_START", "listen_fds", "inherited_sockets", "notify"]

SD_LISTEN_FDS_START = 3


def listen_fds(
    environ: Optional[MutableMapping[str, str]] = None, *, unset: bool = True
) -> list[int]:
    """The fds systemd passed us (empty when not socket-activated).

    With ``unset`` the variables are removed, as ``sd_listen_fds(1)`` does, so processes we
    start later do not think the sockets are theirs.
    """
    env = os.environ if environ is None else environ
    try:
        pid = int(env.get("LISTEN_PID", ""))
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    if pid != os.getpid() or count <= 0:
        return []
    if unset:
        for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(key, None)
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))


def inherited_sockets(environ: Optional[MutableMapping[str, str]] = None) -> list[socket.socket]:
    """Socket objects for the fds systemd passed us, each checked to be a listening stream
    socket and set non-inheritable (``wsgikit.server.listener.adopt_fds``, as for ``fd://N``)."""
    from wsgikit.server.listener import adopt_fds

    return [adopted.sock for adopted in adopt_fds(listen_fds(environ))]


def notify(state: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Send ``state`` (e.g. ``READY=1``) to ``$NOTIFY_SOCKET``; False when there is none.

    Errors are swallowed on purpose: a lost notification must never stop the server.
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or not (address.startswith("/") or address.startswith("@")):
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2.0)
            sock.connect(target)
            sock.sendall(state.encode("utf-8"))
    except OSError:
        return False
    return True
