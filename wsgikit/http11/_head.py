"""Request head semantics: the request line, field sections, target forms, body framing.

Pure functions over a head already cut out of the byte stream and decoded as latin-1; the state
machine and buffering live in ``parser.py``. ``body_framing`` is the one place that decides how
a request body is delimited (RFC 9112 §6.3).

Two shortcuts serve the usual request, each accepting a subset of what the full check accepts,
with the same result (``tests/unit/test_http11_fastpaths.py`` compares them): the request line
is checked with string methods before the regular expression (``parse_request_line``), and Host
values HOST_RE has accepted are remembered in a small bounded cache (``_VALID_HOSTS``).
"""

from __future__ import annotations

from typing import Final

from wsgikit.http11.cache import BoundedCache
from wsgikit.http11.errors import (
    BadRequest,
    ContentTooLarge,
    HeaderFieldsTooLarge,
    HTTPVersionNotSupported,
    NotImplementedMethod,
    UnsupportedTransferCoding,
)
from wsgikit.http11.events import Headers, RequestHead
from wsgikit.http11.grammar import (
    ABSOLUTE_FORM_RE,
    AUTHORITY_FORM_RE,
    DIGITS_RE,
    FIELD_LINE_RE,
    HEADER_BLOCK_RE,
    HOST_RE,
    HTTP09_LINE_RE,
    HTTP2_PREFACE_LINE,
    METHODS,
    REQUEST_LINE_RE,
    TOKEN_RE,
)

__all__ = [
    "FORBIDDEN_TRAILERS",
    "KNOWN_CODINGS",
    "body_framing",
    "parse_head",
    "parse_request_line",
    "parse_request_line_full",
    "parse_trailer_fields",
    "shorten",
    "shorten_bytes",
]

#: Transfer codings registered with IANA (RFC 9112 §7, RFC 9110 §8.4.1). Any other name is
#: "not understood" (501); these are understood but not decoded by this server, so only
#: ``chunked`` alone is accepted.
KNOWN_CODINGS: Final = frozenset(
    {"chunked", "gzip", "x-gzip", "deflate", "compress", "x-compress", "identity", "trailers"}
)

#: Fields a client must not put in a trailer section (RFC 9110 §6.5.1: message framing,
#: routing, request modifiers, authentication, and connection control).
FORBIDDEN_TRAILERS: Final = frozenset(
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
FRAMING_FIELDS: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "expect", "content-type"}
)


#: The request-line fast path's methods (tokens, and not CONNECT) and versions (major 1).
COMMON_METHODS: Final = METHODS - {"CONNECT"}
COMMON_VERSIONS: Final = {"HTTP/1.1": "1.1", "HTTP/1.0": "1.0"}


def parse_request_line(line: str) -> tuple[str, str, str]:
    """Validate a request line (RFC 9112 §3); return (method, target, "1.0" or "1.1")."""
    # Fast path for the usual line, cheaper than the regex (docs/server.rst, "Why"). It accepts only
    # what parse_request_line_full accepts, with the same result: three parts means exactly two
    # SPs; a listed method is a token other than CONNECT; a listed version is HTTP/1.0 or 1.1;
    # a non-empty ASCII printable target without SP is 1*VCHAR. Anything else, including every
    # line that is refused, takes the full path (and gets its error messages).
    parts = line.split(" ")
    if len(parts) == 3:
        method, target, version = parts
        if method in COMMON_METHODS and target and target.isascii() and target.isprintable():
            minor = COMMON_VERSIONS.get(version)
            if minor is not None:
                return method, target, minor
    return parse_request_line_full(line)


def parse_request_line_full(line: str) -> tuple[str, str, str]:
    """``parse_request_line`` by the grammar alone: every request line, every error."""
    match = REQUEST_LINE_RE.fullmatch(line)
    if match is None:
        if "\n" in line:
            raise BadRequest("bare LF in the request head (lines must end with CRLF)")
        if "\r" in line:
            raise BadRequest("bare CR in the request line")
        if HTTP09_LINE_RE.fullmatch(line):
            raise BadRequest("HTTP/0.9 request line (no HTTP version) is not supported")
        raise BadRequest(f"malformed request line {shorten(line)}")
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


def parse_head(
    text: str, line_len: int, *, max_header_count: int, max_field_bytes: int, max_body_bytes: int
) -> RequestHead:
    """Parse a complete head: ``text`` is the request line and field lines, each with its CRLF
    (the request line is ``line_len`` characters long)."""
    method, target, version = parse_request_line(text[:line_len])
    block_start = line_len + 2
    raw = FIELD_LINE_RE.findall(text, block_start)
    if len(raw) != text.count("\n", block_start):  # see FIELD_LINE_RE: a line failed
        _diagnose_field_block(text[block_start:])
    if len(raw) > max_header_count:
        raise HeaderFieldsTooLarge(f"more than {max_header_count} header fields")
    if len(text) - block_start > max_field_bytes:
        limit = max_field_bytes
        for line in text[block_start:].split("\r\n"):
            if len(line) > limit:
                raise HeaderFieldsTooLarge(
                    f"header field {shorten(line.partition(':')[0])} longer than {limit} bytes"
                )
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

    # One pass builds the headers and collects the fields that frame and route the request.
    fields: list[tuple[str, str]] = []
    host: str | None = None
    content_lengths: list[str] = []
    codings: list[str] = []
    connection = ""  # Connection field values joined by "," (a list either way)
    expect_continue = False
    host_count = 0
    content_types = 0
    for name, value in raw:
        name = name.lower()
        value = value.strip(" \t")
        fields.append((name, value))
        if name not in FRAMING_FIELDS:
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
    headers: Headers = tuple(fields)
    if host_count > 1:
        raise BadRequest("more than one Host header field")
    if host is not None and _VALID_HOSTS.get(host) is None:
        if HOST_RE.fullmatch(host) is None:
            raise BadRequest(f"invalid Host header value {shorten(host)}")
        _remember_host(host)
    if version == "1.1" and host is None:
        raise BadRequest("HTTP/1.1 request without a Host header field")
    if content_types > 1:
        raise BadRequest("more than one Content-Type header field")
    if uri_host is not None:
        host = uri_host  # RFC 9112 §3.2.2: the target's authority wins over Host
    if content_lengths or codings:
        content_length, chunked = body_framing(version, content_lengths, codings, max_body_bytes)
    else:
        content_length, chunked = None, False  # body_framing's last case, without the call
    # RFC 9112 §9.3: Connection is a token list; "close" anywhere wins; HTTP/1.0 needs
    # "keep-alive" to persist. Expect is an HTTP/1.1 feature (RFC 9110 §10.1.1).
    tokens = _connection_tokens(connection) if connection else _NO_TOKENS
    if version == "1.1":
        keep_alive = "close" not in tokens
    else:
        keep_alive = "keep-alive" in tokens and "close" not in tokens
        expect_continue = False
    # Positional, without the named tuple's Python-level __new__ (once per request); the order
    # of RequestHead's fields is pinned by tests/unit/test_http11_fastpaths.py.
    return _new_head(
        RequestHead,
        (
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
        ),
    )


def body_framing(
    version: str, content_lengths: list[str], codings: list[str], max_body_bytes: int
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
            if coding not in KNOWN_CODINGS:
                raise UnsupportedTransferCoding(f"unknown transfer coding {shorten(coding)}")
        if codings[-1] != "chunked" or codings.count("chunked") > 1:
            raise BadRequest("Transfer-Encoding must end with a single 'chunked'")
        if len(codings) > 1:
            raise UnsupportedTransferCoding(
                f"transfer coding {shorten(codings[0])} is not implemented"
            )
        return None, True
    if content_lengths:
        first = content_lengths[0]
        for value in content_lengths:
            if DIGITS_RE.fullmatch(value) is None:
                raise BadRequest(f"invalid Content-Length {shorten(value)}")
            if value != first:
                raise BadRequest("several Content-Length fields with different values")
        digits = first.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > max_body_bytes:
            raise ContentTooLarge(
                f"Content-Length {shorten(first)} exceeds the {max_body_bytes}-byte limit"
            )
        return int(digits), False
    return None, False


def parse_trailer_fields(text: str, max_count: int) -> Headers:
    """Parse a trailer section; ``text`` is "\\n" plus its field lines, each with its CRLF."""
    raw = FIELD_LINE_RE.findall(text, 1)
    if len(raw) != text.count("\n", 1):
        _diagnose_field_block(text[1:], what="trailer")
    fields = tuple([(n.lower(), v.strip(" \t")) for n, v in raw])
    if len(fields) > max_count:
        raise HeaderFieldsTooLarge(f"more than {max_count} trailer fields")
    for name, _ in fields:
        if name in FORBIDDEN_TRAILERS:
            raise BadRequest(f"field {name!r} is not allowed in a trailer section")
    return fields


# --- helpers ----------------------------------------------------------------------------------


def _absolute_form(target: str) -> tuple[str, str, str, str]:
    """Split an absolute-form target: (path, query, scheme, host), RFC 9112 §3.2.2."""
    match = ABSOLUTE_FORM_RE.fullmatch(target)
    if match is None:
        if AUTHORITY_FORM_RE.fullmatch(target):
            raise NotImplementedMethod(
                "authority-form request-target is only for CONNECT, which is not implemented"
            )
        raise BadRequest(f"invalid request-target {shorten(target)}")
    scheme, authority, path, query = match.groups()
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise BadRequest(f"absolute-form request-target with unsupported scheme {scheme!r}")
    if "@" in authority:
        raise BadRequest("userinfo in the request-target's authority is not allowed")
    if not authority or HOST_RE.fullmatch(authority) is None or authority[0] == ":":
        raise BadRequest(f"invalid authority in request-target {shorten(target)}")
    return path or "/", query or "", scheme, authority


_new_head = tuple.__new__

#: Host values HOST_RE has accepted. The regex is the costliest single check of a small request
#: and a server sees the same few values all day; only short values are kept, at most
#: _MAX_VALID_HOSTS of them, so it stays a few KiB.
_MAX_VALID_HOSTS: Final = 64
_VALID_HOSTS: Final[BoundedCache[str, bool]] = BoundedCache(_MAX_VALID_HOSTS)


def _remember_host(host: str) -> None:
    if len(host) <= 100:
        _VALID_HOSTS.put(host, True)


_NO_TOKENS: Final[frozenset[str]] = frozenset()
_COMMON_CONNECTION: Final = {
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
            raise BadRequest(f"invalid {field} value {shorten(value)}")
        items.append(item.lower())
    if not items:
        raise BadRequest(f"empty {field} value")
    return items


def _diagnose_field_block(block: str, what: str = "header") -> None:
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
            raise BadRequest(f"{what} field line without a colon: {shorten(line)}")
        if name != name.rstrip(" \t"):
            raise BadRequest(f"whitespace before the colon in {what} field {shorten(name)}")
        if TOKEN_RE.fullmatch(name) is None:
            raise BadRequest(f"invalid {what} field name {shorten(name)}")
        raise BadRequest(f"invalid character in the value of {what} field {shorten(name)}")
    raise BadRequest(f"malformed {what} section")  # pragma: no cover - a line always fails


def shorten(text: str, limit: int = 60) -> str:
    """repr() of at most ``limit`` characters, ASCII only: safe to show and to log."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return ascii(text)


def shorten_bytes(data: bytes | bytearray, limit: int = 60) -> str:
    return shorten(bytes(data).decode("latin-1"), limit)
