"""Sans-IO HTTP/1.1 for the server side: bytes in, events out; responses out as bytes.

``RequestParser`` turns received bytes into ``RequestHead``, ``BodyChunk``, ``Trailers`` and
``EndOfMessage`` events, strictly (RFC 9110, RFC 9112); ``ResponseWriter`` validates and frames a
response. No sockets, threads or WSGI here: the connection layer feeds and sends.
"""

from __future__ import annotations

from wsgikit.http11.errors import (
    BadRequest,
    ContentTooLarge,
    HeaderFieldsTooLarge,
    HTTPVersionNotSupported,
    NotImplementedMethod,
    ProtocolError,
    RequestTimeout,
    ResponseError,
    UnsupportedTransferCoding,
    URITooLong,
)
from wsgikit.http11.events import (
    NEED_DATA,
    PAUSED,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    Event,
    Headers,
    RequestHead,
    Sentinel,
    Trailers,
)
from wsgikit.http11.grammar import HOP_BY_HOP
from wsgikit.http11.parser import RequestParser
from wsgikit.http11.writer import (
    ResponseWriter,
    continue_response,
    error_response,
    http_date,
    response_framing,
)

__all__ = [
    "HOP_BY_HOP",
    "NEED_DATA",
    "PAUSED",
    "BadRequest",
    "BodyChunk",
    "ConnectionClosed",
    "ContentTooLarge",
    "EndOfMessage",
    "Event",
    "HTTPVersionNotSupported",
    "HeaderFieldsTooLarge",
    "Headers",
    "NotImplementedMethod",
    "ProtocolError",
    "RequestHead",
    "RequestParser",
    "RequestTimeout",
    "ResponseError",
    "ResponseWriter",
    "Sentinel",
    "Trailers",
    "URITooLong",
    "UnsupportedTransferCoding",
    "continue_response",
    "error_response",
    "http_date",
    "response_framing",
]
