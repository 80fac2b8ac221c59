"""``ResponseWriter``: validate and serialise one response; ``response_framing`` decides framing.

The writer turns the application's status and headers into a response head, frames the body
(Content-Length, chunked, close-delimited, or none) and says whether the connection may be
reused. All framing decisions live in ``response_framing``; nothing else chooses. A head is
validated and serialised once per distinct (status, headers, request shape) and then reused from
a bounded cache, since an application sends the same few heads again and again.
"""

from __future__ import annotations

import re
import time
from http import HTTPStatus
from typing import Final

from wsgikit.http11.cache import BoundedCache
from wsgikit.http11.errors import ProtocolError, ResponseError
from wsgikit.http11.grammar import (
    DAY_NAMES,
    FIELD_CHARS,
    HOP_BY_HOP,
    MONTH_NAMES,
    TCHAR,
    TOKEN_RE,
    forbids_content_length,
    has_no_content,
    is_digits,
)

__all__ = [
    "ResponseWriter",
    "continue_response",
    "error_response",
    "http_date",
    "response_framing",
]

#: status = 3DIGIT SP reason-phrase (RFC 9112 §4; PEP 3333 requires the reason part).
_STATUS_RE: Final = re.compile(rf"([1-5][0-9][0-9]) [{FIELD_CHARS}]*")
#: A whole serialised header block ``Name: value\r\n...``: token names (RFC 9110 §5.1), values
#: of field characters only (§5.5): no CR, LF, NUL or other controls. One regex for all lines.
_HEADER_BLOCK_RE: Final = re.compile(rf"(?:[{TCHAR}]+: [{FIELD_CHARS}]*\r\n)*")

_SPECIAL: Final = HOP_BY_HOP | {"content-length", "date", "server"}

#: Fields that must not appear in a trailer section we send (RFC 9110 §6.5.1).
_FORBIDDEN_TRAILERS: Final = HOP_BY_HOP | {
    "content-length",
    "content-type",
    "content-encoding",
    "content-range",
    "host",
    "set-cookie",
    "date",
    "server",
}

#: This second's Date line (one entry: the clock only moves forward).
_DATES: Final[BoundedCache[int, bytes]] = BoundedCache(1)


def http_date() -> bytes:
    """The ``Date`` field line for now, formatted at most once a second (RFC 9110 §6.6.1)."""
    now = int(time.time())
    cached = _DATES.get(now)
    if cached is not None:
        return cached
    t = time.gmtime(now)
    line = (
        f"Date: {DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {MONTH_NAMES[t.tm_mon - 1]} "
        f"{t.tm_year:04d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT\r\n"
    ).encode("ascii")
    _DATES.put(now, line)
    return line


#: Server header values already validated (a server uses one; bounded all the same).
_VALID_SERVER_HEADERS: Final[BoundedCache[str, bool]] = BoundedCache(64)


def _check_server_header(value: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a valid field value; remember it if it is."""
    if not _HEADER_BLOCK_RE.fullmatch(f"Server: {value}\r\n"):
        raise ValueError(f"invalid server_header {value!r}")
    _VALID_SERVER_HEADERS.put(value, True)


def response_framing(
    *, request_method: str, http_version: str, status_code: int, has_content_length: bool
) -> str:
    """Decide how the response body is delimited (RFC 9112 §6.1-6.3), the only place that does.

    1. A response to HEAD, and any 1xx, 204 or 304 response, has no body: ``"none"``.
    2. The application declared Content-Length: ``"length"``, honoured exactly.
    3. The request was HTTP/1.1: ``"chunked"``.
    4. Otherwise (HTTP/1.0 without Content-Length): ``"close"``, the body ends when the
       connection does.
    """
    return _framing(request_method, http_version, status_code, has_content_length)


def _framing(
    request_method: str, http_version: str, status_code: int, has_content_length: bool
) -> str:
    """``response_framing`` with positional arguments (the writer calls it per response)."""
    if request_method == "HEAD" or has_no_content(status_code):
        return "none"
    if has_content_length:
        return "length"
    if http_version == "1.1":
        return "chunked"
    return "close"


#: Heads already built by ``ResponseWriter.start``: its inputs -> ``_build_head``'s result.
#: Only heads up to _HEAD_MAX_CACHED bytes, so at most about 1 MiB: header values may carry
#: request data (a Location, a cookie).
_HEADS_MAX: Final = 512
_HEADS: Final[BoundedCache[tuple[object, ...], tuple[bytes, int, str, int | None, bool]]] = (
    BoundedCache(_HEADS_MAX)
)
_HEAD_MAX_CACHED: Final = 2048

#: Status lines already validated -> their code (apps use a handful; bounded all the same).
_STATUS_CODES: Final[BoundedCache[str, int]] = BoundedCache(256)


def _status_code(status: object) -> int:
    """Validate a status line ``NNN Reason`` and return its code; remember valid ones."""
    if type(status) is not str or not _STATUS_RE.fullmatch(status):
        raise ResponseError(f"invalid status line {status!r} (want 'NNN Reason')")
    code = int(status[:3])
    if code < 200:
        # An interim response is never the answer to a request: the client would wait for the
        # real one and take the next response for it (the server sends 100 Continue itself).
        raise ResponseError(f"status {status!r} is a 1xx (interim) status, not a final response")
    _STATUS_CODES.put(status, code)
    return code


class ResponseWriter:
    """Serialise one response to one request; call ``start``, ``body``* and ``end`` in order.

    ``request_keep_alive`` is what the client asked for (``RequestHead.keep_alive``); pass False
    to force a close (server shutting down, unread body). ``keep_alive`` then says whether the
    connection may really be reused after ``end()``.
    """

    __slots__ = (
        "request_method",
        "http_version",
        "request_keep_alive",
        "server_header",
        "date_header",
        "framing",
        "status_code",
        "content_length",
        "body_bytes",
        "overflowed",
        "ended",
        "_started",
    )

    def __init__(
        self,
        *,
        request_method: str,
        http_version: str,
        request_keep_alive: bool,
        server_header: str | None = "wsgikit",
        date_header: bool = True,
    ) -> None:
        if http_version not in ("1.0", "1.1"):
            raise ValueError(f"http_version must be '1.0' or '1.1', got {http_version!r}")
        if server_header is not None and _VALID_SERVER_HEADERS.get(server_header) is None:
            _check_server_header(server_header)
        self.request_method = request_method
        self.http_version = http_version
        self.request_keep_alive = request_keep_alive
        self.server_header = server_header
        self.date_header = date_header
        self.framing = ""
        self.status_code = 0
        self.content_length: int | None = None
        self.body_bytes = 0
        self.overflowed = False
        self.ended = False
        self._started = False

    @property
    def complete(self) -> bool:
        """The body was delimited correctly: all Content-Length bytes written, or ended."""
        if self.framing == "length":
            return self.body_bytes == self.content_length
        return self.ended

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may be reused once this response is finished."""
        if not self.request_keep_alive or self.framing == "close" or self.overflowed:
            return False
        if self.framing == "length":
            return self.body_bytes == self.content_length
        return True

    def count_body(self, n: int) -> None:
        """Count ``n`` body bytes the caller sent around ``body()`` (``sendfile``), so that
        ``complete`` and ``keep_alive`` hold for them; only where the body goes out as it is
        (``"length"``, ``"close"``) and never more than the Content-Length promised."""
        if self.framing not in ("length", "close"):
            raise RuntimeError(f"count_body() with {self.framing or 'no'} framing")
        if self.content_length is not None and self.body_bytes + n > self.content_length:
            raise ValueError("count_body() past the Content-Length")
        self.body_bytes += n

    def start(self, status: str, headers: list[tuple[str, str]]) -> bytes:
        """Validate the status and headers and return the serialised response head.

        Raises ``ResponseError`` for an invalid or 1xx status, an invalid header name or value, a
        header that is not latin-1, a hop-by-hop header, or an invalid Content-Length.
        """
        if self._started:
            raise RuntimeError("start() called twice")
        # An app sends the same few heads again and again: the head for the same inputs is
        # validated and serialised once (the Date line is added on each call).
        key: tuple[object, ...] | None
        try:
            key = (
                status, self.request_method == "HEAD", self.http_version,
                self.request_keep_alive, self.server_header, *headers,
            )
            built = _HEADS.get(key)
        except TypeError:  # unhashable: not (str, str) tuples; _build_head says what is wrong
            key = built = None
        if built is None:
            built = self._build_head(status, headers)
            if key is not None and type(status) is str and len(built[0]) <= _HEAD_MAX_CACHED:
                _HEADS.put(key, built)
        head, code, framing, content_length, has_date = built
        self._started = True
        self.status_code = code
        self.framing = framing
        self.content_length = content_length
        if self.date_header and not has_date:
            return head + http_date() + b"\r\n"
        return head + b"\r\n"

    def _build_head(
        self, status: str, headers: list[tuple[str, str]]
    ) -> tuple[bytes, int, str, int | None, bool]:
        """Validate; return (head without Date and final CRLF, code, framing, length, has_date)."""
        code = _STATUS_CODES.get(status) if type(status) is str else None
        if code is None:
            code = _status_code(status)
        lines = []
        content_length: str | None = None
        has_date = has_server = False
        try:
            for name, value in headers:
                line = name + ": " + value + "\r\n"  # str only: TypeError for anything else
                lname = name.lower()
                if lname in _SPECIAL:
                    if lname == "content-length":
                        if content_length is not None and value != content_length:
                            raise ResponseError("several different Content-Length headers")
                        if not is_digits(value):
                            raise ResponseError(f"invalid Content-Length {value!r}")
                        if content_length is not None:
                            continue  # an identical repeat: send it once
                        content_length = value
                        if forbids_content_length(code):
                            continue  # RFC 9110 §8.6: never on 1xx or 204
                    elif lname == "date":
                        has_date = True
                    elif lname == "server":
                        has_server = True
                    else:
                        raise ResponseError(
                            f"hop-by-hop header {name!r} is set by the server, not the application"
                        )
                lines.append(line)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ResponseError):
                raise
            raise ResponseError(f"headers must be a list of (str, str) tuples: {exc}") from None
        block = "".join(lines)
        # A CRLF inside a value would pass the block pattern as two lines: count them too.
        if not _HEADER_BLOCK_RE.fullmatch(block) or block.count("\r\n") != len(lines):
            raise ResponseError(_explain_bad_header(lines))
        framing = _framing(
            self.request_method, self.http_version, code, content_length is not None
        )
        if framing == "chunked":
            block += "Transfer-Encoding: chunked\r\n"
        if not (self.request_keep_alive and framing != "close"):
            block += "Connection: close\r\n"
        elif self.http_version == "1.0":
            block += "Connection: keep-alive\r\n"
        if self.server_header is not None and not has_server:
            block += "Server: " + self.server_header + "\r\n"
        try:
            head = ("HTTP/1.1 " + status + "\r\n" + block).encode("latin-1")
        except UnicodeEncodeError:
            raise ResponseError(
                "status or header is not latin-1 (PEP 3333 wants native strings)"
            ) from None
        length = None if content_length is None else int(content_length)
        return head, code, framing, length, has_date

    def body(self, data: bytes) -> bytes:
        """Return ``data`` framed for the wire (possibly ``b""``)."""
        if not self._started or self.ended:
            raise RuntimeError("body() outside start()...end()")
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise ResponseError(
                    f"response body chunks must be bytes, not {type(data).__name__}"
                )
        n = len(data)
        framing = self.framing
        if framing == "length":
            left = (self.content_length or 0) - self.body_bytes
            if n > left:
                self.overflowed = True
                data = data[:left]
                n = left
            self.body_bytes += n
            return data
        self.body_bytes += n
        if framing == "chunked":
            if not n:
                return b""  # an empty chunk would end the body
            return b"%x\r\n%b\r\n" % (n, data)
        if framing == "close":
            return data
        return b""  # "none": HEAD, 1xx, 204, 304 carry no body

    def end(self, trailers: list[tuple[str, str]] | None = None) -> bytes:
        """Return the bytes that finish the response (the last chunk and trailers, if chunked)."""
        if not self._started or self.ended:
            raise RuntimeError("end() outside start()...end()")
        self.ended = True
        if self.framing != "chunked":
            return b""
        if not trailers:
            return b"0\r\n\r\n"
        lines = []
        for name, value in trailers:
            if type(name) is not str or type(value) is not str:
                raise ResponseError("trailers must be (str, str) tuples")
            if name.lower() in _FORBIDDEN_TRAILERS:
                raise ResponseError(f"field {name!r} is not allowed in a trailer section")
            lines.append(name + ": " + value + "\r\n")
        block = "".join(lines)
        # A CRLF inside a value would pass the block pattern as two lines: count them too.
        if not _HEADER_BLOCK_RE.fullmatch(block) or block.count("\r\n") != len(lines):
            raise ResponseError(_explain_bad_header(lines))
        try:
            return b"0\r\n" + block.encode("latin-1") + b"\r\n"
        except UnicodeEncodeError:
            raise ResponseError("trailer is not latin-1") from None


def _explain_bad_header(lines: list[str]) -> str:
    for line in lines:
        if not _HEADER_BLOCK_RE.fullmatch(line) or line.count("\r\n") != 1:
            name = line.partition(": ")[0]
            if not TOKEN_RE.fullmatch(name):
                return f"invalid header name {name!r}"
            return f"invalid character (CR, LF, NUL or control) in the value of header {name!r}"
    return "invalid header"  # pragma: no cover - some line always fails


#: RFC 9110 §15 reason phrases for the statuses this package answers itself, so the bytes do
#: not change with the Python version (``http.HTTPStatus`` renamed 413 and 414 in 3.13).
_PHRASES = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


def continue_response() -> bytes:
    """The interim ``100 Continue`` response (RFC 9110 §15.2.1)."""
    return b"HTTP/1.1 100 Continue\r\n\r\n"


def error_response(
    error: ProtocolError | int,
    reason: str | None = None,
    *,
    http_version: str = "1.1",
    server_header: str | None = "wsgikit",
    request_method: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> bytes:
    """A complete short ``text/plain`` error response that closes the connection.

    ``error`` is a ``ProtocolError`` (its status and reason are used) or a status code. The
    status line always says HTTP/1.1 (RFC 9110 §2.5: a server sends its own highest 1.x
    version; ``http_version`` is accepted for symmetry with the writer). ``request_method="HEAD"``
    omits the body. ``headers`` adds fields such as ``Retry-After``.
    """
    if isinstance(error, ProtocolError):
        status = error.status
        message = reason if reason is not None else error.reason
    else:
        status = int(error)
    phrase = _PHRASES.get(status)
    if phrase is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
    if reason is not None:
        message = reason
    elif not isinstance(error, ProtocolError):
        message = phrase
    body = (message + "\n").encode("ascii", "backslashreplace")
    writer = ResponseWriter(
        request_method=request_method or "GET",
        http_version="1.1" if http_version != "1.0" else "1.0",
        request_keep_alive=False,
        server_header=server_header,
    )
    head = writer.start(
        f"{status} {phrase}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        + list(headers or ()),
    )
    return head + writer.body(body) + writer.end()
