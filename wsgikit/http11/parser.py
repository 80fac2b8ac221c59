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
as a ``RuntimeError`` instead of a silent desync. ``ERROR`` is reachable from every state. The
transitions every request makes (``HEAD`` to ``END`` or a body state, ``END`` to ``PAUSED``,
``PAUSED`` to ``HEAD``) are assigned directly, right after the current state was tested; the test
suite runs the parser with every assignment to the state checked against the table.
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
than a loop per byte or per line; the usual request line (a common method, a plain target,
HTTP/1.0 or 1.1) is checked with string methods instead, and anything else goes through the
regular expression (``_head.parse_request_line``).

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
* **Framing** (RFC 9112 §6.3, decided in ``_head.body_framing`` only): see that function.
* **Trailers**: bounded by ``max_trailer_bytes`` (431); fields that must not be sent in a
  trailer (framing, routing, authentication, request modifiers:
  ``_head.FORBIDDEN_TRAILERS``) are a 400.
"""

from __future__ import annotations

import enum
from typing import Final

from wsgikit.http11 import limits
from wsgikit.http11._head import (
    parse_head,
    parse_request_line,
    parse_trailer_fields,
    shorten_bytes,
)
from wsgikit.http11.errors import (
    BadRequest,
    ContentTooLarge,
    HeaderFieldsTooLarge,
    ProtocolError,
    URITooLong,
)
from wsgikit.http11.events import (
    NEED_DATA,
    PAUSED,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    Event,
    RequestHead,
    Trailers,
)
from wsgikit.http11.grammar import CHUNK_LINE_RE

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

# The states as module constants for the methods below: states are compared several times per
# event, and a global costs almost nothing where ``_State.HEAD`` is an attribute lookup.
_HEAD: Final = _State.HEAD
_BODY_LENGTH: Final = _State.BODY_LENGTH
_CHUNK_LINE: Final = _State.CHUNK_LINE
_CHUNK_DATA: Final = _State.CHUNK_DATA
_CHUNK_CRLF: Final = _State.CHUNK_CRLF
_TRAILERS: Final = _State.TRAILERS
_END: Final = _State.END
_PAUSED: Final = _State.PAUSED
_CLOSED: Final = _State.CLOSED
_ERROR: Final = _State.ERROR

_END_OF_MESSAGE: Final = EndOfMessage()
_CONNECTION_CLOSED: Final = ConnectionClosed()

_CRLF: Final = b"\r\n"
_HEAD_END: Final = b"\r\n\r\n"


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
        max_request_line: int = limits.MAX_REQUEST_LINE,  # each default's reason: limits.py
        max_header_count: int = limits.MAX_HEADER_COUNT,
        max_field_bytes: int = limits.MAX_FIELD_BYTES,
        max_header_bytes: int = limits.MAX_HEADER_BYTES,
        max_body_bytes: int = limits.MAX_BODY_BYTES,
        max_chunk_ext_bytes: int = limits.MAX_CHUNK_EXT_BYTES,
        max_trailer_bytes: int = limits.MAX_TRAILER_BYTES,
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
        self._state = _HEAD
        self._eof = False
        self._error: ProtocolError | None = None
        self._remaining = 0  # body bytes left: Content-Length or the current chunk
        self._body_total = 0  # chunked: body bytes declared so far, against max_body_bytes
        self._head: RequestHead | None = None
        self._blank_bytes = 0  # empty lines skipped before this request line

    # --- public API ------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
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
            if state is _HEAD:
                return self._next_head()
            if state is _BODY_LENGTH:
                return self._next_length_body()
            if state is _END:
                self._state = _PAUSED  # END -> PAUSED, without _goto: see _goto
                return _END_OF_MESSAGE
            if state is _PAUSED:
                return PAUSED
            if state is _CHUNK_DATA:
                return self._next_chunk_data()
            if state is _CHUNK_LINE:
                return self._next_chunk_line()
            if state is _CHUNK_CRLF:
                return self._next_chunk_crlf()
            if state is _TRAILERS:
                return self._next_trailers()
            if state is _CLOSED:
                return _CONNECTION_CLOSED
        except ProtocolError as exc:
            self._state = _ERROR
            self._error = exc
            raise
        # ERROR: terminal; the same error again.
        if self._error is None:  # pragma: no cover - every way into ERROR sets it
            raise RuntimeError("parser in ERROR state without an error")
        raise self._error

    def start_next(self) -> None:
        """The response to the current request is finished: parse the next one."""
        if self._state is _ERROR and self._error is not None:
            raise self._error
        if self._state is not _PAUSED:
            raise RuntimeError(f"start_next() called while {self._state.value}")
        self._head = None
        self._blank_bytes = 0
        # PAUSED -> HEAD, without _goto (see _goto).
        self._state = _HEAD
        self._scanned = 0
        self._line_start = 0

    @property
    def has_buffered_data(self) -> bool:
        """Bytes beyond the current message are buffered (a pipelined request)."""
        return len(self._buf) > self._pos

    @property
    def in_message(self) -> bool:
        """A request head or body is partially received (EOF now would be an error)."""
        state = self._state
        if state is _HEAD:
            return self._has_request_bytes()
        return state not in (_END, _PAUSED, _CLOSED, _ERROR)

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
        """Move to ``new``; a transition ``_TRANSITIONS`` does not list is a RuntimeError.

        The transitions of every request (HEAD -> END or a body state, END -> PAUSED,
        PAUSED -> HEAD) assign ``_state`` directly instead, each right where the current state
        has just been tested (this call and its table lookup, three times per request, were a
        visible part of a small request's parse); the tests run the parser with every assignment to
        ``_state`` checked against the table (``CheckedParser`` in ``tests/support/feed.py``).
        """
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
        end = buf.find(_HEAD_END, pos + self._scanned)
        line_end = buf.find(_CRLF, pos) if end >= 0 else -1
        if end < 0 or line_end == pos:
            # Not the usual case of a whole head starting with its request line.
            if buf.startswith(_CRLF, pos):
                # Skip empty lines before the request line (RFC 9112 §2.2).
                start = pos
                while buf.startswith(_CRLF, pos):
                    pos += 2
                self._pos = pos
                self._scanned = 0
                self._blank_bytes += pos - start
                if self._blank_bytes > self.max_request_line:
                    raise BadRequest("too many empty lines before the request line")
                end = buf.find(_HEAD_END, pos)
            if end < 0:
                return self._incomplete_head()
            line_end = buf.find(_CRLF, pos)
        if line_end - pos > self.max_request_line:
            raise URITooLong(f"request line longer than {self.max_request_line} bytes")
        if end + 4 - pos > self.max_header_bytes:
            raise HeaderFieldsTooLarge(f"request head larger than {self.max_header_bytes} bytes")
        text = buf[pos : end + 2].decode("latin-1")
        self._pos = end + 4
        head = parse_head(
            text,
            line_end - pos,
            max_header_count=self.max_header_count,
            max_field_bytes=self.max_field_bytes,
            max_body_bytes=self.max_body_bytes,
        )
        self._head = head
        # HEAD -> CHUNK_LINE, BODY_LENGTH or END, without _goto (see _goto).
        self._scanned = 0
        self._line_start = 0
        if head.chunked:
            self._body_total = 0
            self._state = _CHUNK_LINE
        elif head.content_length:
            self._remaining = head.content_length
            self._state = _BODY_LENGTH
        else:
            self._state = _END
        return head

    def _incomplete_head(self) -> Event:
        """No complete head yet: enforce limits early, reject bare LF early, handle EOF."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail == 0 or (avail == 1 and buf[pos] == 13):
            # Nothing, or the first half of an empty line: not a request yet (in_message agrees).
            if self._eof:
                self._goto(_CLOSED)
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
        parse_request_line(line)

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
            self._goto(_END)
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
            raise BadRequest(f"invalid chunk-size line {shorten_bytes(buf[pos:line_end])}")
        size = int(match.group(1), 16)
        self._pos = line_end + 2
        self._body_total += size
        if self._body_total > self.max_body_bytes:
            raise ContentTooLarge(f"chunked body exceeds the {self.max_body_bytes}-byte limit")
        if size == 0:
            self._goto(_TRAILERS)
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
        self._goto(_CHUNK_DATA)
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
            self._goto(_CHUNK_CRLF)
        return BodyChunk(data)

    def _next_chunk_crlf(self) -> Event:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail >= 2 or (avail == 1 and buf[pos] != 13):
            if not buf.startswith(_CRLF, pos):
                raise BadRequest("missing CRLF after chunk data")
            self._pos = pos + 2
            self._goto(_CHUNK_LINE)
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
            self._goto(_END)
            self._goto(_PAUSED)
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
        fields = parse_trailer_fields(
            "\n" + buf[pos : end + 2].decode("latin-1"), self.max_header_count
        )
        self._pos = end + 4
        self._goto(_END)
        return Trailers(fields)
