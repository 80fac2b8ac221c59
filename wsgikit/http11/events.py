"""Events the request parser emits: immutable values holding ``str`` or ``bytes``.

Strings are native (latin-1) ``str``, as PEP 3333 wants them; bodies are ``bytes``, never
``bytearray`` (so a consumer can keep them without copying and nothing aliases the buffer).

The events with fields are ``typing.NamedTuple`` classes: created once or more per request, a
tuple is much cheaper to build than a frozen dataclass (whose ``__init__`` calls
``object.__setattr__`` per field; docs/server.rst, "Why it is built this way"), and its fields
cannot be assigned. As with any named tuple,
``_replace()`` returns a modified copy and ``_asdict()`` a dict. The two events without fields
are plain classes equal to their own kind only (two empty tuples would compare equal).
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple, Union

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

#: Header fields in arrival order: (lower-cased name, value with OWS stripped), repeats kept.
Headers = tuple[tuple[str, str], ...]


class RequestHead(NamedTuple):
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


class BodyChunk(NamedTuple):
    """Decoded body bytes (chunked framing already removed)."""

    data: bytes


class Trailers(NamedTuple):
    """The trailer section of a chunked body (only emitted when it has fields)."""

    headers: Headers


class _NoFields:
    """An event without fields: immutable, equal to (and hashed like) any of its own class."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__

    def __hash__(self) -> int:
        return hash(self.__class__)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class EndOfMessage(_NoFields):
    """The request (head and whole body) is complete."""

    __slots__ = ()


class ConnectionClosed(_NoFields):
    """The peer closed the connection cleanly between requests."""

    __slots__ = ()


class Sentinel(enum.Enum):
    """Non-event answers of ``RequestParser.next_event``."""

    #: Feed more bytes (or EOF) before another event can be produced.
    NEED_DATA = "NEED_DATA"
    #: The current request is complete; call ``start_next()`` once its response is sent.
    PAUSED = "PAUSED"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
PAUSED: Final = Sentinel.PAUSED

Event = Union[RequestHead, BodyChunk, Trailers, EndOfMessage, ConnectionClosed, Sentinel]
