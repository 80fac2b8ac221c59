"""``--proxy-protocol``: read each new connection's PROXY header in a selector thread.

The thin I/O layer over the sans-IO :mod:`wsgikit.server.proxy_protocol`. Like the TLS handshakes
(``tls.Handshaker``), the header is read without holding a worker: a balancer's connection that
sends nothing costs a registration in a selector, not a thread. Bytes are taken from the socket
only while they certainly belong to the header (the rest is peeked at), so what follows it, a TLS
ClientHello or an HTTP request, stays in the socket for the next stage. A header that is
malformed, too long, or not complete within the header timeout closes the connection without a
response, counted as a client error.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Callable, Optional

from wsgikit.server.keepalive import KeepAliveParker
from wsgikit.server.proxy_protocol import (
    MAX_V2_LENGTH,
    PP2_TYPE_AUTHORITY,
    PP2_TYPE_SSL,
    ProxyHeader,
    ProxyProtocolError,
    parse,
)

__all__ = ["ProxyHeaderReader", "proxy_environ"]

log = logging.getLogger("wsgikit")

#: PP2_TYPE_SSL's first byte: the client connected to the balancer over TLS.
PP2_CLIENT_SSL = 0x01


class _Pending:
    """An accepted socket whose PROXY header is not complete yet."""

    __slots__ = ("sock", "address", "listener", "accepted_at", "buffer")

    def __init__(self, sock: socket.socket, address: Any, listener: Any,
                 accepted_at: float) -> None:
        self.sock = sock
        self.address = address
        self.listener = listener
        self.accepted_at = accepted_at
        self.buffer = b""

    def fileno(self) -> int:
        return self.sock.fileno()

    def peer(self) -> str:
        return str(self.address[0]) if isinstance(self.address, tuple) and self.address else ""


class ProxyHeaderReader:
    """Reads PROXY headers; ``on_done(sock, address, listener, accepted_at, header)`` gets the
    connection with the client's address (the balancer's for LOCAL and UNKNOWN)."""

    def __init__(
        self,
        on_done: Callable[[socket.socket, Any, Any, float, ProxyHeader], None],
        timeout: float,
        record_error: Callable[[str, str, str], None],
    ) -> None:
        self._on_done = on_done
        self.timeout = timeout
        self._record_error = record_error
        self._parker = KeepAliveParker(self._ready, self._expired, name="wsgikit-proxy")
        self.received = 0
        self.refused = 0

    def start(self) -> None:
        self._parker.start()

    def stop(self) -> list[socket.socket]:
        """Stop the thread; return the sockets still waiting for a header (the caller closes)."""
        return [pending.sock for pending in self._parker.stop()]

    def __len__(self) -> int:
        return len(self._parker)

    def stats(self) -> dict[str, int]:
        return {"proxy_headers": self.received, "proxy_headers_refused": self.refused,
                "proxy_header_pending": len(self._parker)}

    def add(self, sock: socket.socket, address: Any, listener: Any, accepted_at: float) -> bool:
        """Read ``sock``'s header once bytes come; False if stopped (the caller closes it)."""
        sock.setblocking(False)
        return self._parker.park(_Pending(sock, address, listener, accepted_at),
                                 accepted_at + self.timeout)

    def _ready(self, pending: _Pending) -> None:
        sock = pending.sock
        try:
            peeked = sock.recv(MAX_V2_LENGTH, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            self._wait(pending)
            return
        except OSError as exc:
            self._close(pending, "reset", f"PROXY protocol: {exc}")
            return
        if not peeked:
            self._close(pending, "reset", "PROXY protocol: closed before the header")
            return
        data = pending.buffer + peeked
        try:
            result = parse(data)
        except ProxyProtocolError as exc:
            self.refused += 1
            self._close(pending, "malformed", f"PROXY protocol: {exc}")
            return
        # parse() needs more: every byte seen is header. Done: the header ends within them.
        take = len(peeked) if result is None else result[1] - len(pending.buffer)
        try:
            pending.buffer += sock.recv(take)  # already in the kernel's buffer: no wait
        except OSError as exc:
            self._close(pending, "reset", f"PROXY protocol: {exc}")
            return
        if result is None:
            self._wait(pending)
            return
        header = result[0]
        self.received += 1
        address = pending.address
        if header.command == "PROXY" and header.source is not None:
            address = header.source
        self._on_done(sock, address, pending.listener, pending.accepted_at, header)

    def _wait(self, pending: _Pending) -> None:
        if not self._parker.park(pending, pending.accepted_at + self.timeout):
            pending.sock.close()  # stopping

    def _expired(self, pending: _Pending) -> None:
        self.refused += 1
        self._close(pending, "timeout", f"PROXY protocol: no complete header within "
                                        f"{self.timeout:g} s")

    def _close(self, pending: _Pending, kind: str, detail: str) -> None:
        self._record_error(kind, pending.peer(), detail)
        try:
            pending.sock.close()
        except OSError:
            pass


def proxy_environ(header: ProxyHeader) -> dict[str, Any]:
    """The environ keys a PROXY header sets beyond REMOTE_ADDR/REMOTE_PORT (the connection's
    address): the port the client reached, the TLS server name and scheme the balancer saw."""
    environ: dict[str, Any] = {"wsgikit.proxy_protocol": header}
    if header.command != "PROXY" or header.destination is None:
        return environ
    environ["SERVER_PORT"] = str(header.destination[1])
    authority: Optional[bytes] = header.tlv(PP2_TYPE_AUTHORITY)
    if authority:
        try:
            environ["SERVER_NAME"] = authority.decode("ascii")
        except UnicodeDecodeError:
            pass
    ssl_tlv = header.tlv(PP2_TYPE_SSL)
    if ssl_tlv and ssl_tlv[0] & PP2_CLIENT_SSL:
        environ["wsgi.url_scheme"] = "https"
        environ["HTTPS"] = "on"
    return environ
