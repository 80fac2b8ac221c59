"""Errors of the HTTP/1.1 protocol core; each request error carries the status to answer with.

The parser *raises* these (it never stores them for later), and after one it stays in a terminal
ERROR state. ``reason`` names the problem in plain ASCII, so it is safe to show to the client.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "ContentTooLarge",
    "HTTPVersionNotSupported",
    "HeaderFieldsTooLarge",
    "NotImplementedMethod",
    "ProtocolError",
    "RequestTimeout",
    "ResponseError",
    "URITooLong",
    "UnsupportedTransferCoding",
]


class ProtocolError(Exception):
    """The peer broke HTTP/1.1: answer with ``status`` and ``reason``, then close."""

    status: int = 400
    #: Request errors always end the connection: after a framing doubt nothing that follows on
    #: the connection can be trusted to start a new request (RFC 9112 §11.2).
    close: bool = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.reason!r})"


class BadRequest(ProtocolError):
    """400: malformed syntax or framing (RFC 9110 §15.5.1)."""

    status = 400


class RequestTimeout(ProtocolError):
    """408: the client did not send a whole request in time (raised by the I/O layer)."""

    status = 408


class ContentTooLarge(ProtocolError):
    """413: the declared or received body exceeds the configured limit (RFC 9110 §15.5.14)."""

    status = 413


class URITooLong(ProtocolError):
    """414: the request line exceeds the configured limit (RFC 9110 §15.5.15)."""

    status = 414


class HeaderFieldsTooLarge(ProtocolError):
    """431: too many header fields, or a field line or the head is too large (RFC 6585 §5)."""

    status = 431


class NotImplementedMethod(ProtocolError):
    """501: a method or request form this server does not implement (CONNECT, authority-form)."""

    status = 501


class UnsupportedTransferCoding(ProtocolError):
    """501: a transfer coding this server does not implement (RFC 9112 §6.1)."""

    status = 501


class HTTPVersionNotSupported(ProtocolError):
    """505: an HTTP major version other than 1 (RFC 9110 §15.6.6)."""

    status = 505


class ResponseError(ValueError):
    """The *application* produced an invalid status line, header or body; answer 500."""
