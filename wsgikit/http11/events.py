"""Events the request parser emits: frozen, slotted dataclasses holding ``str`` or ``bytes``.

Strings are native (latin-1) ``str``, as PEP 3333 wants them; bodies are ``bytes``, never
``bytearray`` (so a consumer can keep them without copying and nothing aliases the buffer).
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import Any, Union

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "BodyChunk",
    "ConnectionClosed",
    "EndOfMessage",
    "Event",
    "Headers",
    "RequestHead",
    "Sentinel",
    "Trailers",
]

#: ``slots=True`` needs Python 3.10; on 3.9 the events are frozen but not slotted.
_SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}

#: Header fields in arrival order: (lower-cased name, value with OWS stripped), repeats kept.
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, **_SLOTS)
class RequestHead:
    """A complete, validated request head (request line plus header section)."""

    method: str
    #: The raw request-target as sent (latin-1 str), e.g. ``/a%20b?x=1``.
    target: str
    #: ``"1.0"`` or ``"1.1"``; a higher 1.x minor version is reported as ``"1.1"``.
    http_version: str
    headers: Headers
    #: Raw path of the target, still percent-encoded; ``"*"`` for asterisk-form.
    path: str
    #: Raw query without the ``?`` (``""`` when absent).
    query: str
    #: Host from an absolute-form target, else the Host header (``None`` for HTTP/1.0 without).
    host: str | None
    #: ``"http"``/``"https"`` for an absolute-form target, else ``None``.
    scheme: str | None
    #: The declared body length; ``None`` without a Content-Length (then the body is empty
    #: unless ``chunked``).
    content_length: int | None
    #: The body uses the chunked transfer coding (its length is unknown in advance).
    chunked: bool
    #: Whether the *client* allows reuse of the connection (RFC 9112 §9.3).
    keep_alive: bool
    #: ``Expect: 100-continue`` on an HTTP/1.1 request.
    expect_continue: bool


@dataclass(frozen=True, **_SLOTS)
class BodyChunk:
    """Decoded body bytes (chunked framing already removed)."""

    data: bytes


@dataclass(frozen=True, **_SLOTS)
class Trailers:
    """The trailer section of a chunked body (only emitted when it has fields)."""

    headers: Headers


@dataclass(frozen=True, **_SLOTS)
class EndOfMessage:
    """The request (head and whole body) is complete."""


@dataclass(frozen=True, **_SLOTS)
class ConnectionClosed:
    """The peer closed the connection cleanly between requests."""


class Sentinel(enum.Enum):
    """Non-event answers of ``RequestParser.next_event``."""

    #: Feed more bytes (or EOF) before another event can be produced.
    NEED_DATA = "NEED_DATA"
    #: The current request is complete; call ``start_next()`` once its response is sent.
    PAUSED = "PAUSED"

    def __repr__(self) -> str:
        return self.value


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED

Event = Union[RequestHead, BodyChunk, Trailers, EndOfMessage, ConnectionClosed, Sentinel]
