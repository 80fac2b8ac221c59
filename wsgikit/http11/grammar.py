"""RFC 9110 / RFC 9112 ABNF as compiled regular expressions, each citing its section: the one
definition of the HTTP grammar, which every module that checks a token or a field imports.
Beside it, the few RFC 9110 name sets more than one layer enforces (hop-by-hop fields, statuses
without a body, the common methods): the parser, the writer, ``wsgikit.util``, ``wsgikit.headers``
and the PEP 3333 validator all import them from here, so they cannot disagree.

Two flavours: ``str`` patterns run over a request head decoded once as latin-1 (so every byte is
one character and nothing is lost), ``bytes`` patterns run over the raw buffer while a chunked
body is framed. Every pattern is linear: character classes are disjoint from what follows them,
so no input can make a match backtrack more than a constant per character.
"""

from __future__ import annotations

import re
from typing import Final

# --- RFC 5234 Appendix B.1 core rules ------------------------------------------------------------
#: VCHAR = %x21-7E (visible US-ASCII)
VCHAR = r"\x21-\x7e"

# --- RFC 9110 §5.6.2 tokens ----------------------------------------------------------------------
#: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|"
#:         / "~" / DIGIT / ALPHA
TCHAR = r"\-!#$%&'*+.^_`|~0-9A-Za-z"
#: token = 1*tchar
TOKEN = rf"[{TCHAR}]+"
TOKEN_RE: Final = re.compile(TOKEN)
#: The same tchar set as characters, for scanners that walk a value one character at a time.
TCHARS: Final = frozenset(c for c in map(chr, range(128)) if re.fullmatch(f"[{TCHAR}]", c))


def is_token(value: str) -> bool:
    """True if ``value`` is an RFC 9110 token (1*tchar)."""
    return TOKEN_RE.fullmatch(value) is not None


# --- RFC 9110 §5.6.3 whitespace ------------------------------------------------------------------
#: OWS = *( SP / HTAB ); BWS = OWS
OWS = r"[ \t]*"

# --- RFC 9110 §5.5 field values ------------------------------------------------------------------
#: field-value = *field-content; field-content = field-vchar [ 1*( SP / HTAB / field-vchar )
#: field-vchar ]; field-vchar = VCHAR / obs-text; obs-text = %x80-FF. As a set of characters:
#: HTAB, SP, VCHAR, obs-text. Everything else (CR, LF, NUL, other controls, DEL) is refused.
FIELD_CHARS = rf"\t\x20{VCHAR}\x80-\xff"
FIELD_VALUE_RE: Final = re.compile(rf"[{FIELD_CHARS}]*")
#: One character a field value must not hold: a control other than HTAB, DEL, or (in a
#: ``str``) a code point above U+00FF, which has no latin-1 byte.
NOT_FIELD_CHAR_RE: Final = re.compile(rf"[^{FIELD_CHARS}]")
#: Only the controls (CTL other than HTAB, and DEL): what ``NOT_FIELD_CHAR_RE`` finds within
#: latin-1, for checks that name a non-latin-1 character as a different problem.
FIELD_CONTROL_RE: Final = re.compile(rf"[^{FIELD_CHARS}\u0100-\U0010ffff]")

# --- RFC 9112 §3 request line --------------------------------------------------------------------
#: request-line = method SP request-target SP HTTP-version; method = token (RFC 9110 §9.1);
#: HTTP-version = HTTP-name "/" DIGIT "." DIGIT (RFC 9112 §2.3), HTTP-name case-sensitive.
#: Policy: the request-target is 1*VCHAR here (like h11 and llhttp: real clients send ``|``,
#: ``{``, ``^`` unescaped); its form is checked afterwards. Exactly one SP between the parts.
REQUEST_LINE_RE: Final = re.compile(rf"({TOKEN}) ([{VCHAR}]+) HTTP/([0-9])\.([0-9])")
#: What an HTTP/0.9 simple request looks like (RFC 1945 §4.1): method SP target, no version.
HTTP09_LINE_RE: Final = re.compile(rf"{TOKEN} [{VCHAR}]+")
#: RFC 9113 §3.4: the HTTP/2 connection preface begins with this request line.
HTTP2_PREFACE_LINE: Final = "PRI * HTTP/2.0"

# --- RFC 9112 §5 field lines ---------------------------------------------------------------------
#: field-line = field-name ":" OWS field-value OWS, each ended by CRLF (RFC 9112 §2.1);
#: field-name = token (RFC 9110 §5.1). One match per field line, anchored right after an LF.
#: Used with ``findall`` over a whole header block (the text before it must end with LF), and
#: the block is valid *exactly when the number of matches equals the number of LFs in it*:
#: every match holds exactly one LF (its terminator; neither group admits CR or LF), so if the
#: counts agree every LF ends a match, and as each match starts right after an LF, each match
#: is a whole line. That one count rules out whitespace before the colon (§5.1), obs-fold
#: (§5.2: a line starting with SP/HTAB), bare CR and bare LF, and control characters in values.
#: The value group keeps the surrounding OWS (the parser strips it). Linear: ``[TOKEN]+``
#: cannot match ":" and the value class cannot match CR, so nothing ever backtracks (a value
#: pattern that excludes OWS itself was measured twice as slow; benchmarks/http11_parse.py
#: also times pathological 64 KiB lines).
FIELD_LINE_RE: Final = re.compile(rf"(?<=\n)({TOKEN}):([{FIELD_CHARS}]*)\r\n")
#: The same grammar as one pattern for a whole block, used to find and name a bad line.
HEADER_BLOCK_RE: Final = re.compile(rf"(?:{TOKEN}:[{FIELD_CHARS}]*\r\n)*")

# --- RFC 9112 §3.2 request-target forms ----------------------------------------------------------
#: absolute-form = absolute-URI (RFC 3986 §4.3) for the http and https schemes (RFC 9110 §4.2):
#: scheme "://" authority path-abempty [ "?" query ]. Fragments are not part of a target.
ABSOLUTE_FORM_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")
#: authority-form = uri-host ":" port (RFC 9112 §3.2.3), only meaningful for CONNECT.
AUTHORITY_FORM_RE: Final = re.compile(r"[^/?#@]+:[0-9]+")

# --- RFC 9110 §7.2 Host, RFC 3986 §3.2.2 ---------------------------------------------------------
#: Host = uri-host [ ":" port ]; uri-host = IP-literal / IPv4address / reg-name;
#: reg-name = *( unreserved / pct-encoded / sub-delims ) (may be empty, RFC 9110 §7.2).
HOST_RE: Final = re.compile(
    r"(?:\[[0-9A-Za-z:.\-_~%!$&'()*+,;=]+\]|[0-9A-Za-z.\-_~%!$&'()*+,;=]*)(?::[0-9]*)?"
)

# --- RFC 3986 §3.2.3 port ----------------------------------------------------------------------
#: port = *DIGIT; TCP and UDP ports are 16-bit (RFC 9293 §3.1), so a port number is 0..MAX_PORT.
MAX_PORT: Final = 65535

# --- RFC 9110 §8.6 Content-Length ----------------------------------------------------------------
#: Content-Length = 1*DIGIT (one value per field line; a comma list is refused).
DIGITS_RE: Final = re.compile(r"[0-9]+")


def is_digits(value: str) -> bool:
    """True if ``value`` is 1*DIGIT: ASCII digits only (``isdigit()`` alone takes any script's)."""
    return value.isascii() and value.isdigit()


# --- RFC 9112 §7.1 chunked transfer coding (bytes) -----------------------------------------------
#: chunk-size = 1*HEXDIG (bounded to 16 digits here: enough for any size a limit allows);
#: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (§7.1.1);
#: chunk-ext-val = token / quoted-string (RFC 9110 §5.6.4). Matched against one line whose
#: CRLF has already been found, so the pattern covers the line up to (not including) CRLF.
_B_TOKEN = TOKEN.encode("ascii")
#: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
_B_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
CHUNK_LINE_RE: Final = re.compile(
    rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[ \t]*"
    + _B_TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _B_TOKEN
    + rb"|"
    + _B_QUOTED
    + rb"))?)*)"
)

# --- RFC 9110 §5.6.7 dates -----------------------------------------------------------------------
#: day-name and month of an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), never the locale's.
DAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # time.struct_time.tm_wday
MONTH_NAMES: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
)  # fmt: skip


# --- RFC 9110 semantics several layers enforce -----------------------------------------------
#: Hop-by-hop (connection-specific) field names a WSGI application must not send (PEP 3333
#: "Other HTTP Features"): RFC 9110 §7.6.1's Connection, Proxy-Connection, Keep-Alive, TE,
#: Transfer-Encoding, Upgrade; RFC 2616 §13.5.1's Proxy-Authenticate, Proxy-Authorization and
#: Trailer, and "trailers" as RFC 2616 (and so wsgiref) spells it. The server refuses them and
#: the validator flags them: one set, so neither lets through what the other flags.
HOP_BY_HOP: Final = frozenset({
    "connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade",
    "proxy-authenticate", "proxy-authorization", "trailer", "trailers",
})  # fmt: skip
#: ``wsgiref.util.is_hop_by_hop``'s set, exactly (RFC 2616 §13.5.1 as written: "trailers", not
#: "trailer", and no Proxy-Connection): CPython's test_wsgiref pins it, so ``wsgikit.util``
#: keeps it for code written against wsgiref. Servers and validators use :data:`HOP_BY_HOP`.
WSGIREF_HOP_BY_HOP: Final = HOP_BY_HOP - {"trailer", "proxy-connection"}

#: Statuses whose response never has content (RFC 9110 §6.4.1, §15.3.5, §15.4.5); 1xx are
#: checked by range (``code < 200``).
NO_BODY_STATUSES: Final = frozenset({204, 304})


def has_no_content(status_code: int) -> bool:
    """True for 1xx, 204 and 304: a response that never has content (RFC 9110 §6.4.1)."""
    return status_code < 200 or status_code in NO_BODY_STATUSES


def forbids_content_length(status_code: int) -> bool:
    """True for 1xx and 204, where Content-Length must not be sent (RFC 9110 §8.6); a 304 may
    carry the length the 200 would have had."""
    return status_code < 200 or status_code == 204


#: The methods RFC 9110 §9 defines, and PATCH (RFC 5789). Others are legal tokens, only rarer.
METHODS: Final = frozenset({
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
})  # fmt: skip
