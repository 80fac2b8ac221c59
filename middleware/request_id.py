"""Give every request an id (X-Request-ID) and a W3C trace context (traceparent)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Callable, Optional

from middleware._wsgi import HeaderList, intercept_start_response
from wsgikit.headers import Headers
from wsgikit.server.accesslog import REQUEST_ID_KEY
from wsgikit.server.environ import cgi_key
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

#: Environ keys this middleware writes.
TRACEPARENT_KEY = "wsgikit.traceparent"
TRACE_ID_KEY = "wsgikit.trace_id"
PARENT_ID_KEY = "wsgikit.parent_id"

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:@+=/-]{1,200}\Z")
# Narrower than a token on purpose: the name must map to one unambiguous CGI key (HTTP_X_...).
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9-]+\Z")
_TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\Z")


def parse_traceparent(value: Optional[str]) -> Optional[tuple[str, str, str]]:
    """(trace id, parent id, flags) from a valid W3C ``traceparent``, else None.

    Version ``ff`` and all-zero ids are invalid; future versions may append fields, version 00
    may not (W3C Trace Context section 3.2).
    """
    if not value:
        return None
    match = _TRACEPARENT_RE.match(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id, flags


class RequestIdMiddleware:
    """Propagate or generate a request id and a trace context for every request.

    An incoming ``X-Request-ID`` (``header``) is kept when ``trust_incoming`` and it is 1-200
    characters of ``[A-Za-z0-9._:@+=/-]``; anything else is replaced by a fresh UUID4 hex (or
    ``generator()``). An incoming valid ``traceparent`` keeps its trace id; this hop gets a new
    span id. The id is echoed in the response header.

    Reads HTTP_X_REQUEST_ID (per ``header``) and HTTP_TRACEPARENT. Writes
    ``wsgikit.request_id`` (the access log's ``%L``), ``wsgikit.traceparent`` (this hop's value
    for outgoing calls), ``wsgikit.trace_id``, ``wsgikit.parent_id`` (the caller's span or None),
    and replaces the request header in the environ with the effective id.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        header: str = "X-Request-ID",
        trust_incoming: bool = True,
        generator: Optional[Callable[[], str]] = None,
        response_header: bool = True,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if not isinstance(header, str) or not _HEADER_NAME_RE.match(header):
            raise ValueError(f"header must be a header field name, got {header!r}")
        if generator is not None and not callable(generator):
            raise TypeError("generator must be a callable returning a string")
        self.app = app
        self.header = header
        self.environ_key = cgi_key(header)
        self.trust_incoming = bool(trust_incoming)
        self.generator = generator or (lambda: uuid.uuid4().hex)
        self.response_header = bool(response_header)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        incoming = environ.get(self.environ_key)
        if self.trust_incoming and incoming and _REQUEST_ID_RE.match(incoming):
            request_id = incoming
        else:
            request_id = self.generator()
            if not isinstance(request_id, str) or not _REQUEST_ID_RE.match(request_id):
                raise ValueError(f"request id generator returned an invalid id {request_id!r}")
        environ[REQUEST_ID_KEY] = request_id
        environ[self.environ_key] = request_id

        parsed = parse_traceparent(environ.get("HTTP_TRACEPARENT"))
        span_id = secrets.token_hex(8)
        if parsed is not None:
            trace_id, parent_id, flags = parsed
            environ[PARENT_ID_KEY] = parent_id
        else:
            trace_id, flags = secrets.token_hex(16), "00"
            environ[PARENT_ID_KEY] = None
        environ[TRACE_ID_KEY] = trace_id
        environ[TRACEPARENT_KEY] = f"00-{trace_id}-{span_id}-{flags}"

        if not self.response_header:
            return self.app(environ, start_response)

        def add_id(status: str, headers: HeaderList) -> tuple[str, HeaderList]:
            Headers(headers)[self.header] = request_id  # replaces any the app set, in place
            return status, headers

        return self.app(environ, intercept_start_response(start_response, add_id))
