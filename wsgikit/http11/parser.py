"""``RequestParser``: the server side of HTTP/1.1 request framing, bytes in, events out.

Theory of operation
===================

The parser never does I/O. The caller feeds it whatever bytes arrive (``feed(data)``; ``feed(b"")``
is EOF) and pulls events with ``next_event()`` until it says ``NEED_DATA`` (feed more) or
``PAUSED`` (one request is complete). A request is always the same sequence::

    RequestHead  BodyChunk*  Trailers?  EndOfMessage  PAUSED...  start_next()  RequestHead ...

and an idle connection that is closed cleanly ends with ``ConnectionClosed``. ``PAUSED`` makes
pipelining in-order by construction: bytes of the next request may already be buffered
(``has_buffered_data``), but they are not parsed until the server has finished answering the
current request and calls ``start_next()``. Nothing after a request the parser rejects is ever
parsed: every ``ProtocolError`` moves the parser to the terminal ``ERROR`` state, where every
call raises the same error again, and the server answers and closes.

States and transitions
----------------------

One state per thing the parser is waiting for (``_State``). ``_TRANSITIONS`` below is the whole
state machine in one place; ``_goto`` refuses any transition not listed there, so a bug shows up
as a ``RuntimeError`` instead of a silent desync. ``ERROR`` is reachable from every state.
Staying in a state is not a transition: when a whole chunk and its CRLF are already buffered,
``CHUNK_LINE`` returns the chunk's data at once and waits for the next chunk-size line.

Buffering
---------

Received bytes live in one buffer with a read offset (``_pos``). When everything buffered has been
consumed, ``feed`` adopts the new ``bytes`` object as is (no copy: the common case of a whole
request per ``recv``); otherwise it appends to a ``bytearray`` (amortised O(1), and deleting
consumed bytes from the front of a ``bytearray`` is O(1) in CPython). Searches for a terminator
remember how far they got (``_scanned``), so a head arriving one byte at a time costs O(n), not
O(n^2). The head is validated with a handful of regular expressions over the whole head rather
than a loop per byte or per line.

Policies (strict, because leniency is where request smuggling lives)
--------------------------------------------------------------------

* **Line endings**: only CRLF. A bare LF or a bare CR anywhere in the head, a chunk-size line or
  the trailers is a 400. RFC 9112 §2.2 allows a recipient to accept a bare LF; we do not, since
  front-ends that disagree on it were the root of waitress CVE-2019-16785 and friends.
* **Leading empty lines**: CRLFs before a request line are skipped (RFC 9112 §2.2), up to
  ``max_request_line`` bytes of them.
* **Request-target**: any visible ASCII (as h11 and llhttp accept), then one of the four forms of
  RFC 9112 §3.2. A fragment (``#``) or userinfo (``@`` in an absolute-form authority) is a 400.
  ``CONNECT`` and authority-form are 501 (this server is not a proxy).
* **Versions**: ``HTTP/1.0``, ``HTTP/1.1``; ``HTTP/1.2``..``HTTP/1.9`` are processed as 1.1
  (RFC 9110 §2.5); any other major version is 505, including the HTTP/2 connection preface. An
  HTTP/0.9 request line (no version) is a 400.
* **Header fields**: names are tokens, no whitespace before the colon, no obs-fold, no CR, LF,
  NUL, DEL or other control characters except HTAB in values (obs-text bytes are kept). HTTP/1.1
  needs exactly one Host with a valid value; more than one Host, Content-Length with different
  values, or more than one Content-Type is a 400.
* **Framing** (RFC 9112 §6.3, decided in ``_body_framing`` only): see that function.
* **Trailers**: bounded by ``max_trailer_bytes`` (431); fields that must not be sent in a
  trailer (framing, routing, authentication, request modifiers: ``_FORBIDDEN_TRAILERS``) are a 400.
"""

from __future__ import annotations

import enum

from wsgikit.http11._grammar import (
    ABSOLUTE_FORM_RE,
    AUTHORITY_FORM_RE,
    CHUNK_LINE_RE,
    DIGITS_RE,
    FIELD_LINE_RE,
    HEADER_BLOCK_RE,
    HOST_RE,
    HTTP09_LINE_RE,
    HTTP2_PREFACE_LINE,
    REQUEST_LINE_RE,
    TOKEN_RE,
)
from wsgikit.http11.errors import (
    BadRequest,
    ContentTooLarge,
    HeaderFieldsTooLarge,
    HTTPVersionNotSupported,
    NotImplementedMethod,
    ProtocolError,
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
    Trailers,
)

__all__ = ["RequestParser"]


class _State(enum.Enum):
    """What the parser is waiting for."""

    # Members are singletons compared by identity; hashing by identity keeps the transition
    # check cheap (Enum's own __hash__ is a Python-level call).
    __hash__ = object.__hash__

    HEAD = "waiting for a request head"
    BODY_LENGTH = "reading a Content-Length body"
    CHUNK_LINE = "waiting for a chunk-size line"
    CHUNK_DATA = "reading chunk data"
    CHUNK_CRLF = "waiting for the CRLF after chunk data"
    TRAILERS = "waiting for the trailer section"
    END = "request complete, EndOfMessage not yet returned"
    PAUSED = "waiting for start_next()"
    CLOSED = "peer closed between requests"
    ERROR = "a protocol error was raised"


#: The whole state machine. ERROR is additionally reachable from every non-terminal state.
_TRANSITIONS: dict[_State, frozenset[_State]] = {
    _State.HEAD: frozenset({_State.BODY_LENGTH, _State.CHUNK_LINE, _State.END, _State.CLOSED}),
    _State.BODY_LENGTH: frozenset({_State.END}),
    _State.CHUNK_LINE: frozenset({_State.CHUNK_DATA, _State.TRAILERS}),
    _State.CHUNK_DATA: frozenset({_State.CHUNK_CRLF}),
    _State.CHUNK_CRLF: frozenset({_State.CHUNK_LINE}),
    _State.TRAILERS: frozenset({_State.END}),
    _State.END: frozenset({_State.PAUSED}),
    _State.PAUSED: frozenset({_State.HEAD}),
    _State.CLOSED: frozenset(),
    _State.ERROR: frozenset(),
}

_END_OF_MESSAGE = EndOfMessage()
_CONNECTION_CLOSED = ConnectionClosed()

#: Transfer codings registered with IANA (RFC 9112 §7, RFC 9110 §8.4.1). Any other name is
#: "not understood" (501); these are understood but not decoded by this server, so only
#: ``chunked`` alone is accepted.
_KNOWN_CODINGS = frozenset(
    {"chunked", "gzip", "x-gzip", "deflate", "compress", "x-compress", "identity", "trailers"}
)

#: Fields a client must not put in a trailer section (RFC 9110 §6.5.1: message framing,
#: routing, request modifiers, authentication, and connection control).
_FORBIDDEN_TRAILERS = frozenset(
    {
        "transfer-encoding",
        "content-length",
        "host",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "max-forwards",
        "content-type",
        "content-encoding",
        "content-range",
        "range",
        "authorization",
        "proxy-authorization",
        "cookie",
        "cache-control",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
    }
)

#: Header fields the parser looks at; everything else is passed through untouched.
_FRAMING_FIELDS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "expect", "content-type"}
)

_CRLF = b"\r\n"
_HEAD_END = b"\r\n\r\n"


class RequestParser:
    """Parse requests arriving on one connection (see the module docstring).

    The limits are explicit and each maps to its status: ``max_request_line`` (414),
    ``max_header_count`` / ``max_field_bytes`` / ``max_header_bytes`` (431, the last one for the
    whole head including the request line), ``max_body_bytes`` (413, checked against a declared
    Content-Length as soon as the head is parsed, and against the running total of chunk sizes),
    ``max_chunk_ext_bytes`` (400 for a longer chunk-size line) and ``max_trailer_bytes`` (431).
    """

    __slots__ = (
        "_buf",
        "_pos",
        "_scanned",
        "_line_start",
        "_state",
        "_eof",
        "_error",
        "_remaining",
        "_body_total",
        "_head",
        "_blank_bytes",
        "max_request_line",
        "max_header_count",
        "max_field_bytes",
        "max_header_bytes",
        "max_body_bytes",
        "max_chunk_ext_bytes",
        "max_trailer_bytes",
    )

    def __init__(
        self,
        *,
        max_request_line: int = 8190,  # gunicorn/Apache: 8 KiB lines fit every real URL
        max_header_count: int = 100,  # http.server, gunicorn, nginx: 100 fields
        max_field_bytes: int = 8190,  # one field line, as gunicorn's limit_request_field_size
        max_header_bytes: int = 65536,  # whole head: cookies plus tokens fit well under 64 KiB
        max_body_bytes: int = 1024**3,  # 1 GiB, as waitress's max_request_body_size
        max_chunk_ext_bytes: int = 4096,  # chunk extensions are unused in practice
        max_trailer_bytes: int = 8192,  # trailers are rare and small
    ) -> None:
        for name, value in (
            ("max_request_line", max_request_line),
            ("max_header_count", max_header_count),
            ("max_field_bytes", max_field_bytes),
            ("max_header_bytes", max_header_bytes),
            ("max_body_bytes", max_body_bytes),
            ("max_chunk_ext_bytes", max_chunk_ext_bytes),
            ("max_trailer_bytes", max_trailer_bytes),
        ):
            if type(value) is not int:
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < (0 if name == "max_body_bytes" else 1):
                raise ValueError(f"{name} must be positive, got {value}")
        self.max_request_line = max_request_line
        self.max_header_count = max_header_count
        self.max_field_bytes = max_field_bytes
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.max_chunk_ext_bytes = max_chunk_ext_bytes
        self.max_trailer_bytes = max_trailer_bytes
        self._buf: bytes | bytearray = b""
        self._pos = 0  # start of the unconsumed bytes in _buf
        self._scanned = 0  # bytes after _pos known not to start a terminator we look for
        self._line_start = 0  # offset (from _pos) of the line being received, for limits
        self._state = _State.HEAD
        self._eof = False
        self._error: ProtocolError | None = None
        self._remaining = 0  # body bytes left: Content-Length or the current chunk
        self._body_total = 0  # chunked: body bytes declared so far, against max_body_bytes
        self._head: RequestHead | None = None
        self._blank_bytes = 0  # empty lines skipped before this request line

    # --- public API ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means the peer closed its side (EOF)."""
        if self._error is not None:
            raise self._error
        if self._eof:
            if data:
                raise RuntimeError("feed() called with data after EOF")
            return
        if not data:
            self._eof = True
            return
        buf = self._buf
        if self._pos >= len(buf):
            # Everything so far was consumed: adopt the new object, no copy.
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = 0
        elif isinstance(buf, bytes):
            grown = bytearray(memoryview(buf)[self._pos :])
            grown += data
            self._buf = grown
            self._pos = 0
        else:
            if self._pos:
                del buf[: self._pos]  # O(1) in CPython: moves the bytearray's start
                self._pos = 0
            buf += data

    def next_event(self) -> Event:
        """Return the next event, ``NEED_DATA`` or ``PAUSED``; raise ``ProtocolError``."""
        state = self._state
        try:
            if state is _State.HEAD:
                return self._next_head()
            if state is _State.BODY_LENGTH:
                return self._next_length_body()
            if state is _State.END:
                self._goto(_State.PAUSED)
                return _END_OF_MESSAGE
            if state is _State.PAUSED:
                return PAUSED
            if state is _State.CHUNK_DATA:
                return self._next_chunk_data()
            if state is _State.CHUNK_LINE:
                return self._next_chunk_line()
            if state is _State.CHUNK_CRLF:
                return self._next_chunk_crlf()
            if state is _State.TRAILERS:
                return self._next_trailers()
            if state is _State.CLOSED:
                return _CONNECTION_CLOSED
        except ProtocolError as exc:
            self._state = _State.ERROR
            self._error = exc
            raise
        # ERROR: terminal; the same error again.
        if self._error is None:  # pragma: no cover - every way into ERROR sets it
            raise RuntimeError("parser in ERROR state without an error")
        raise self._error

    def start_next(self) -> None:
        """The response to the current request is finished: parse the next one."""
        if self._state is _State.ERROR and self._error is not None:
            raise self._error
        if self._state is not _State.PAUSED:
            raise RuntimeError(f"start_next() called while {self._state.value}")
        self._head = None
        self._blank_bytes = 0
        self._goto(_State.HEAD)

    @property
    def has_buffered_data(self) -> bool:
        """Bytes beyond the current message are buffered (a pipelined request)."""
        return len(self._buf) > self._pos

    @property
    def in_message(self) -> bool:
        """A request head or body is partially received (EOF now would be an error)."""
        state = self._state
        if state is _State.HEAD:
            return self._has_request_bytes()
        return state not in (_State.END, _State.PAUSED, _State.CLOSED, _State.ERROR)

    @property
    def eof(self) -> bool:
        """The peer has closed its sending side."""
        return self._eof

    @property
    def state(self) -> str:
        """The state's name, for logs and tests."""
        return self._state.name

    @property
    def current_head(self) -> RequestHead | None:
        """The head of the request being received or answered, if any."""
        return self._head

    # --- state machine ----------------------------------------------------------------------

    def _goto(self, new: _State) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"illegal parser transition {self._state.name} -> {new.name}")
        self._state = new
        self._scanned = 0
        self._line_start = 0

    def _take(self, n: int) -> bytes:
        """Consume and return the next ``n`` buffered bytes as ``bytes``."""
        buf = self._buf
        pos = self._pos
        if type(buf) is bytes:
            data = buf[pos : pos + n]  # whole-object slices of bytes are not copied
        else:
            data = bytes(memoryview(buf)[pos : pos + n])
        self._pos = pos + n
        return data

    def _has_request_bytes(self) -> bool:
        """Whether buffered bytes go beyond leading empty lines (RFC 9112 §2.2)."""
        buf = self._buf
        pos = self._pos
        end = len(buf)
        while pos < end:
            if buf[pos : pos + 2] == _CRLF:
                pos += 2
            elif end - pos == 1 and buf[pos] == 13:
                return False
            else:
                return True
        return False

    # --- request head -----------------------------------------------------------------------

    def _next_head(self) -> Event:
        buf = self._buf
        pos = self._pos
        # Skip empty lines before the request line (RFC 9112 §2.2).
        if buf.startswith(_CRLF, pos):
            start = pos
            while buf.startswith(_CRLF, pos):
                pos += 2
            self._pos = pos
            self._scanned = 0
            self._blank_bytes += pos - start
            if self._blank_bytes > self.max_request_line:
                raise BadRequest("too many empty lines before the request line")
        end = buf.find(_HEAD_END, pos + self._scanned)
        if end < 0:
            return self._incomplete_head()
        line_end = buf.find(_CRLF, pos)
        if line_end - pos > self.max_request_line:
            raise URITooLong(f"request line longer than {self.max_request_line} bytes")
        if end + 4 - pos > self.max_header_bytes:
            raise HeaderFieldsTooLarge(f"request head larger than {self.max_header_bytes} bytes")
        text = buf[pos : end + 2].decode("latin-1")
        self._pos = end + 4
        head = self._parse_head(text, line_end - pos)
        self._head = head
        if head.chunked:
            self._body_total = 0
            self._goto(_State.CHUNK_LINE)
        elif head.content_length:
            self._remaining = head.content_length
            self._goto(_State.BODY_LENGTH)
        else:
            self._goto(_State.END)
        return head

    def _incomplete_head(self) -> Event:
        """No complete head yet: enforce limits early, reject bare LF early, handle EOF."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail == 0 or (avail == 1 and buf[pos] == 13):
            # Nothing, or the first half of an empty line: not a request yet (in_message agrees).
            if self._eof:
                self._goto(_State.CLOSED)
                return _CONNECTION_CLOSED
            return NEED_DATA
        # Scan only the bytes not scanned before (O(n) over a slowly arriving head).
        scan_from = pos + self._scanned
        stop = len(buf)
        while True:
            lf = buf.find(b"\n", scan_from, stop)
            if lf < 0:
                break
            if lf == pos or buf[lf - 1] != 13:
                raise BadRequest("bare LF in the request head (lines must end with CRLF)")
            if self._line_start == 0:
                # The request line is complete: reject a bad one without waiting for more.
                self._check_request_line(buf[pos : lf - 1].decode("latin-1"))
            self._line_start = lf + 1 - pos
            scan_from = lf + 1
        cr = buf.find(b"\r", max(pos + self._scanned, pos), stop - 1)
        while cr >= 0:
            if buf[cr + 1] != 10:
                raise BadRequest("bare CR in the request head")
            cr = buf.find(b"\r", cr + 1, stop - 1)
        # The next search may start 3 bytes back: a terminator can straddle two feeds.
        self._scanned = max(0, avail - 3)
        # A trailing CR may be the start of the CRLF that ends the line: do not count it.
        if self._line_start == 0:
            if avail > self.max_request_line + 1:
                raise URITooLong(f"request line longer than {self.max_request_line} bytes")
        elif avail - self._line_start > self.max_field_bytes + 1:
            raise HeaderFieldsTooLarge(
                f"header field line longer than {self.max_field_bytes} bytes"
            )
        if avail > self.max_header_bytes:
            raise HeaderFieldsTooLarge(f"request head larger than {self.max_header_bytes} bytes")
        if self._eof:
            raise BadRequest("connection closed mid-request-head")
        return NEED_DATA

    def _check_request_line(self, line: str) -> None:
        """Validate a request line early (before the whole head arrived)."""
        if len(line) > self.max_request_line:
            raise URITooLong(f"request line longer than {self.max_request_line} bytes")
        self._parse_request_line(line)

    def _parse_request_line(self, line: str) -> tuple[str, str, str]:
        match = REQUEST_LINE_RE.fullmatch(line)
        if match is None:
            if "\n" in line:
                raise BadRequest("bare LF in the request head (lines must end with CRLF)")
            if "\r" in line:
                raise BadRequest("bare CR in the request line")
            if HTTP09_LINE_RE.fullmatch(line):
                raise BadRequest("HTTP/0.9 request line (no HTTP version) is not supported")
            raise BadRequest(f"malformed request line {_shorten(line)}")
        method, target, major, minor = match.groups()
        if major != "1":
            if line == HTTP2_PREFACE_LINE:
                raise HTTPVersionNotSupported(
                    "HTTP/2 connection preface received; this server speaks HTTP/1.1 only"
                )
            raise HTTPVersionNotSupported(f"HTTP/{major}.{minor} is not supported, only HTTP/1.x")
        if method == "CONNECT":
            raise NotImplementedMethod("CONNECT is not implemented (this server is not a proxy)")
        return method, target, "1.0" if minor == "0" else "1.1"

    def _parse_head(self, text: str, line_len: int) -> RequestHead:
        """Parse a complete head (request line, field lines, each ended by CRLF)."""
        method, target, version = self._parse_request_line(text[:line_len])
        block_start = line_len + 2
        raw = FIELD_LINE_RE.findall(text, block_start)
        if len(raw) != text.count("\n", block_start):  # see FIELD_LINE_RE: a line failed
            _diagnose_header_block(text[block_start:])
        if len(raw) > self.max_header_count:
            raise HeaderFieldsTooLarge(f"more than {self.max_header_count} header fields")
        if len(text) - block_start > self.max_field_bytes:
            limit = self.max_field_bytes
            for line in text[block_start:].split("\r\n"):
                if len(line) > limit:
                    raise HeaderFieldsTooLarge(
                        f"header field {_shorten(line.partition(':')[0])} longer than {limit} bytes"
                    )
        headers: Headers = tuple([(n.lower(), v.strip(" \t")) for n, v in raw])

        # Request-target forms, RFC 9112 §3.2.
        scheme: str | None = None
        uri_host: str | None = None
        if target[0] == "/":
            path, sep, query = target.partition("?")
            if "#" in target:
                raise BadRequest("a request-target must not contain a fragment ('#')")
        elif target == "*":
            if method != "OPTIONS":
                raise BadRequest("asterisk-form request-target is only allowed with OPTIONS")
            path, query = "*", ""
        else:
            path, query, scheme, uri_host = _absolute_form(target)

        host: str | None = None
        content_lengths: list[str] = []
        codings: list[str] = []
        connection = ""  # Connection field values joined by "," (a list either way)
        expect_continue = False
        host_count = 0
        content_types = 0
        for name, value in headers:
            if name not in _FRAMING_FIELDS:
                continue
            if name == "host":
                host_count += 1
                host = value
            elif name == "connection":
                connection = f"{connection},{value}" if connection else value
            elif name == "content-length":
                content_lengths.append(value)
            elif name == "transfer-encoding":
                codings.extend(_token_list(value, "Transfer-Encoding"))
            elif name == "expect":
                expect_continue = value.lower() == "100-continue"
            else:
                content_types += 1
        if host_count > 1:
            raise BadRequest("more than one Host header field")
        if host is not None and HOST_RE.fullmatch(host) is None:
            raise BadRequest(f"invalid Host header value {_shorten(host)}")
        if version == "1.1" and host is None:
            raise BadRequest("HTTP/1.1 request without a Host header field")
        if content_types > 1:
            raise BadRequest("more than one Content-Type header field")
        if uri_host is not None:
            host = uri_host  # RFC 9112 §3.2.2: the target's authority wins over Host
        content_length, chunked = self._body_framing(version, content_lengths, codings)
        # RFC 9112 §9.3: Connection is a token list; "close" anywhere wins; HTTP/1.0 needs
        # "keep-alive" to persist. Expect is an HTTP/1.1 feature (RFC 9110 §10.1.1).
        tokens = _connection_tokens(connection) if connection else _NO_TOKENS
        if version == "1.1":
            keep_alive = "close" not in tokens
        else:
            keep_alive = "keep-alive" in tokens and "close" not in tokens
            expect_continue = False
        return RequestHead(
            method,
            target,
            version,
            headers,
            path,
            query,
            host,
            scheme,
            content_length,
            chunked,
            keep_alive,
            expect_continue,
        )

    def _body_framing(
        self, version: str, content_lengths: list[str], codings: list[str]
    ) -> tuple[int | None, bool]:
        """Decide the request body's length: the one place for RFC 9112 §6.3.

        Returns ``(content_length, chunked)``:

        1. Transfer-Encoding in an HTTP/1.0 request: 400 (RFC 9112 §6.1: a 1.0 intermediary
           would not understand it, so the framing is ambiguous).
        2. Transfer-Encoding together with Content-Length: 400 (§6.1 allows "handle as
           smuggling"; we refuse instead of guessing, and close).
        3. Transfer-Encoding with a coding we do not know: 501 (§6.1).
        4. Transfer-Encoding whose last coding is not ``chunked``, or ``chunked`` twice: 400
           (§6.3 item 4: the length cannot be determined).
        5. Any coding besides ``chunked`` (``gzip, chunked``): 501, we decode only chunked.
        6. ``chunked`` alone: a chunked body, ``(None, True)``.
        7. Content-Length: digits only (a comma list is refused), every field line identical,
           else 400; above ``max_body_bytes``: 413 now, before any body byte is read.
        8. Neither: no body, ``(None, False)`` (§6.3 item 7: a request has no body by default).
        """
        if codings:
            if version == "1.0":
                raise BadRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request")
            if content_lengths:
                raise BadRequest("both Transfer-Encoding and Content-Length (request smuggling?)")
            for coding in codings:
                if coding not in _KNOWN_CODINGS:
                    raise UnsupportedTransferCoding(f"unknown transfer coding {_shorten(coding)}")
            if codings[-1] != "chunked" or codings.count("chunked") > 1:
                raise BadRequest("Transfer-Encoding must end with a single 'chunked'")
            if len(codings) > 1:
                raise UnsupportedTransferCoding(
                    f"transfer coding {_shorten(codings[0])} is not implemented"
                )
            return None, True
        if content_lengths:
            first = content_lengths[0]
            for value in content_lengths:
                if DIGITS_RE.fullmatch(value) is None:
                    raise BadRequest(f"invalid Content-Length {_shorten(value)}")
                if value != first:
                    raise BadRequest("several Content-Length fields with different values")
            digits = first.lstrip("0") or "0"
            if len(digits) > 19 or int(digits) > self.max_body_bytes:
                raise ContentTooLarge(
                    f"Content-Length {_shorten(first)} exceeds the {self.max_body_bytes}-byte limit"
                )
            return int(digits), False
        return None, False

    # --- bodies -------------------------------------------------------------------------------

    def _next_length_body(self) -> Event:
        avail = len(self._buf) - self._pos
        if avail == 0:
            if self._eof:
                raise BadRequest("connection closed mid-body")
            return NEED_DATA
        n = self._remaining if avail > self._remaining else avail
        data = self._take(n)
        self._remaining -= n
        if self._remaining == 0:
            self._goto(_State.END)
        return BodyChunk(data)

    def _next_chunk_line(self) -> Event:
        buf = self._buf
        pos = self._pos
        limit = self.max_chunk_ext_bytes + 18  # 16 hex digits plus CRLF
        line_end = buf.find(_CRLF, pos + self._scanned, pos + limit + 1)
        if line_end < 0:
            avail = len(buf) - pos
            if avail >= limit:
                raise BadRequest(f"chunk-size line longer than {limit} bytes")
            if buf.find(b"\n", pos + self._scanned) >= 0:
                raise BadRequest("bare LF in a chunk-size line")
            if self._eof:
                raise BadRequest("connection closed mid-body (in a chunk-size line)")
            self._scanned = max(0, avail - 1)
            return NEED_DATA
        match = CHUNK_LINE_RE.fullmatch(buf, pos, line_end)
        if match is None:
            raise BadRequest(f"invalid chunk-size line {_shorten_bytes(buf[pos:line_end])}")
        size = int(match.group(1), 16)
        self._pos = line_end + 2
        self._body_total += size
        if self._body_total > self.max_body_bytes:
            raise ContentTooLarge(f"chunked body exceeds the {self.max_body_bytes}-byte limit")
        if size == 0:
            self._goto(_State.TRAILERS)
            return self._next_trailers()
        start = line_end + 2
        end = start + size
        if len(buf) >= end + 2 and buf[end] == 13 and buf[end + 1] == 10:
            # Fast path: the whole chunk and its CRLF are here; stay in CHUNK_LINE. (Without the
            # CRLF, the slow path below hands out the data first, then refuses: the same events
            # however the bytes arrived.)
            if type(buf) is bytes:
                data = buf[start:end]
            else:
                data = bytes(memoryview(buf)[start:end])
            self._pos = end + 2
            self._scanned = 0
            return BodyChunk(data)
        self._remaining = size
        self._goto(_State.CHUNK_DATA)
        return self._next_chunk_data()

    def _next_chunk_data(self) -> Event:
        avail = len(self._buf) - self._pos
        if avail == 0:
            if self._eof:
                raise BadRequest("connection closed mid-body (in chunk data)")
            return NEED_DATA
        n = self._remaining if avail > self._remaining else avail
        data = self._take(n)
        self._remaining -= n
        if self._remaining == 0:
            self._goto(_State.CHUNK_CRLF)
        return BodyChunk(data)

    def _next_chunk_crlf(self) -> Event:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail >= 2 or (avail == 1 and buf[pos] != 13):
            if not buf.startswith(_CRLF, pos):
                raise BadRequest("missing CRLF after chunk data")
            self._pos = pos + 2
            self._goto(_State.CHUNK_LINE)
            return self._next_chunk_line()
        if self._eof:
            raise BadRequest("connection closed mid-body (after chunk data)")
        return NEED_DATA

    def _next_trailers(self) -> Event:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail >= 2 and buf.startswith(_CRLF, pos):  # no trailer fields (the usual case)
            self._pos = pos + 2
            self._goto(_State.END)
            self._goto(_State.PAUSED)
            return _END_OF_MESSAGE
        end = buf.find(_HEAD_END, pos + self._scanned, pos + self.max_trailer_bytes)
        if end < 0:
            if avail >= self.max_trailer_bytes:
                raise HeaderFieldsTooLarge(
                    f"trailer section larger than {self.max_trailer_bytes} bytes"
                )
            lf = buf.find(b"\n", pos + self._scanned)
            while lf >= 0:
                if lf == pos or buf[lf - 1] != 13:
                    raise BadRequest("bare LF in the trailer section (lines must end with CRLF)")
                lf = buf.find(b"\n", lf + 1)
            if self._eof:
                raise BadRequest("connection closed mid-body (in the trailer section)")
            self._scanned = max(0, avail - 3)
            return NEED_DATA
        # FIELD_LINE_RE matches right after an LF: give the first line one to follow.
        text = "\n" + buf[pos : end + 2].decode("latin-1")
        raw = FIELD_LINE_RE.findall(text, 1)
        if len(raw) != text.count("\n", 1):
            _diagnose_header_block(text[1:], what="trailer")
        self._pos = end + 4
        fields = tuple([(n.lower(), v.strip(" \t")) for n, v in raw])
        if len(fields) > self.max_header_count:
            raise HeaderFieldsTooLarge(f"more than {self.max_header_count} trailer fields")
        for name, _ in fields:
            if name in _FORBIDDEN_TRAILERS:
                raise BadRequest(f"field {name!r} is not allowed in a trailer section")
        self._goto(_State.END)
        return Trailers(fields)


# --- helpers ----------------------------------------------------------------------------------


def _absolute_form(target: str) -> tuple[str, str, str, str]:
    """Split an absolute-form target: (path, query, scheme, host), RFC 9112 §3.2.2."""
    match = ABSOLUTE_FORM_RE.fullmatch(target)
    if match is None:
        if AUTHORITY_FORM_RE.fullmatch(target):
            raise NotImplementedMethod(
                "authority-form request-target is only for CONNECT, which is not implemented"
            )
        raise BadRequest(f"invalid request-target {_shorten(target)}")
    scheme, authority, path, query = match.groups()
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise BadRequest(f"absolute-form request-target with unsupported scheme {scheme!r}")
    if "@" in authority:
        raise BadRequest("userinfo in the request-target's authority is not allowed")
    if not authority or HOST_RE.fullmatch(authority) is None or authority[0] == ":":
        raise BadRequest(f"invalid authority in request-target {_shorten(target)}")
    return path or "/", query or "", scheme, authority


_NO_TOKENS: frozenset[str] = frozenset()
_COMMON_CONNECTION = {
    "keep-alive": frozenset({"keep-alive"}),
    "close": frozenset({"close"}),
    "Keep-Alive": frozenset({"keep-alive"}),
    "Close": frozenset({"close"}),
}


def _connection_tokens(value: str) -> frozenset[str]:
    """The lower-cased options of a Connection field value (RFC 9110 §7.6.1)."""
    common = _COMMON_CONNECTION.get(value)
    if common is not None:
        return common
    return frozenset(item.strip(" \t").lower() for item in value.split(","))


def _token_list(value: str, field: str) -> list[str]:
    """Parse ``#token`` (RFC 9110 §5.6.1), lower-cased; empty elements are ignored."""
    items = []
    for item in value.split(","):
        item = item.strip(" \t")
        if not item:
            continue
        if TOKEN_RE.fullmatch(item) is None:
            raise BadRequest(f"invalid {field} value {_shorten(value)}")
        items.append(item.lower())
    if not items:
        raise BadRequest(f"empty {field} value")
    return items


def _diagnose_header_block(block: str, what: str = "header") -> None:
    """Raise a BadRequest naming what is wrong with a block HEADER_BLOCK_RE refused."""
    for line in block.split("\r\n")[:-1]:
        if HEADER_BLOCK_RE.fullmatch(line + "\r\n"):
            continue
        if "\n" in line:
            raise BadRequest(f"bare LF in the {what} section (lines must end with CRLF)")
        if "\r" in line:
            raise BadRequest(f"bare CR in the {what} section")
        if line[:1] in (" ", "\t"):
            raise BadRequest(f"obs-fold (line folding) in the {what} section is not allowed")
        name, colon, value = line.partition(":")
        if not colon:
            raise BadRequest(f"{what} field line without a colon: {_shorten(line)}")
        if name != name.rstrip(" \t"):
            raise BadRequest(f"whitespace before the colon in {what} field {_shorten(name)}")
        if TOKEN_RE.fullmatch(name) is None:
            raise BadRequest(f"invalid {what} field name {_shorten(name)}")
        raise BadRequest(f"invalid character in the value of {what} field {_shorten(name)}")
    raise BadRequest(f"malformed {what} section")  # pragma: no cover - a line always fails


def _shorten(text: str, limit: int = 60) -> str:
    """repr() of at most ``limit`` characters, ASCII only: safe to show and to log."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return ascii(text)


def _shorten_bytes(data: bytes | bytearray, limit: int = 60) -> str:
    return _shorten(bytes(data).decode("latin-1"), limit)
