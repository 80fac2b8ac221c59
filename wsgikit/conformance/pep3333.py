"""PEP 3333's rules as data: one definition shared by the environ builder and the validator.

Each :class:`Rule` has a stable ID (``S...`` for what the server hands the application, ``A...``
for what the application does), the PEP 3333 section (or RFC) it comes from, a level and a title.
The tables below (required keys, key types, forbidden keys, hop-by-hop names...) are what the
validation engine (:mod:`wsgikit.conformance`) checks against and what
:mod:`wsgikit.server.environ` builds to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The HTTP rules the server enforces too live in http11's grammar; re-exported here so the
# validator reads every rule from this one table module.
from wsgikit.http11.grammar import HOP_BY_HOP, NO_BODY_STATUSES, TOKEN_RE, is_token
from wsgikit.http11.grammar import METHODS as KNOWN_METHODS

__all__ = [
    "Rule", "RULES", "rule", "ERROR", "WARNING", "INFO",
    "REQUIRED_KEYS", "NON_EMPTY_KEYS", "OPTIONAL_CGI_KEYS", "FORBIDDEN_KEYS", "WSGI_KEY_TYPES",
    "FLAG_KEYS", "BOOL_KEYS", "HOP_BY_HOP", "KNOWN_METHODS", "INPUT_METHODS", "ERRORS_METHODS",
    "NO_BODY_STATUSES", "NOT_MODIFIED_FORBIDDEN", "TOKEN_RE", "is_native", "is_token",
]  # fmt: skip

ERROR: Final = "error"  # PEP 3333 or RFC "must": raise mode raises
WARNING: Final = "warning"  # "should", or almost certainly a bug: raise mode warns
INFO: Final = "info"  # legal but wasteful or surprising: only reported, never raised or warned


@dataclass(frozen=True)
class Rule:
    """One rule: ``id`` (e.g. ``A306``), ``section`` of PEP 3333 (or an RFC), ``level``."""

    id: str
    name: str
    section: str
    level: str
    title: str

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


_ENV = "PEP 3333: environ Variables"
_INPUT = "PEP 3333: Input and Error Streams"
_SR = "PEP 3333: The start_response() Callable"
_APP = "PEP 3333: The Application/Framework Side"
_SERVER = "PEP 3333: The Server/Gateway Side"
_STR = "PEP 3333: A Note On String Types"
_UNICODE = "PEP 3333: Unicode Issues"
_BUF = "PEP 3333: Buffering and Streaming"
_WRITE = "PEP 3333: The write() Callable"
_CL = "PEP 3333: Handling the Content-Length Header"
_ERR = "PEP 3333: Error Handling"
_FILE = "PEP 3333: Optional Platform-Specific File Handling"
_OTHER = "PEP 3333: Other HTTP Features"
_URL = "PEP 3333: URL Reconstruction"
_SPEC = "PEP 3333: Specification Details"
_RFC_CL = "RFC 9110 §8.6"
_RFC_304 = "RFC 9110 §15.4.5"

_TABLE: tuple[tuple[str, str, str, str, str], ...] = (
    # --- server side: the environ ---
    ("S101", "environ-not-dict", _SPEC, ERROR, "environ must be a builtin dict"),
    ("S102", "environ-missing-key", _ENV, ERROR, "a required environ key is missing"),
    ("S103", "environ-empty-key", _ENV, ERROR, "SERVER_PORT or REQUEST_METHOD is empty"),
    ("S104", "environ-forbidden-key", _ENV, ERROR, "HTTP_CONTENT_TYPE/HTTP_CONTENT_LENGTH present"),
    ("S105", "environ-not-native-string", _STR, ERROR, "a CGI key's value is not a str"),
    ("S106", "environ-not-latin1", _UNICODE, ERROR, "a native string holds a char > U+00FF"),
    ("S107", "query-string-missing", _ENV, WARNING, "QUERY_STRING absent (validator() only)"),
    ("S108", "wsgi-version", _ENV, ERROR, "wsgi.version must be the tuple (1, 0)"),
    ("S109", "url-scheme", _ENV, ERROR, "wsgi.url_scheme must be 'http' or 'https'"),
    ("S110", "wsgi-flag-no-truth-value", _ENV, WARNING, "bool() fails on a wsgi.multi*/run_once"),
    ("S111", "script-name-slash", _URL, ERROR, "SCRIPT_NAME non-empty without a leading '/'"),
    ("S112", "script-name-root", _URL, ERROR, "SCRIPT_NAME is '/' (use '' and PATH_INFO '/')"),
    ("S113", "path-info-slash", _URL, ERROR, "PATH_INFO non-empty without a leading '/'"),
    ("S114", "no-path", _URL, ERROR, "SCRIPT_NAME, PATH_INFO both empty (validator() only)"),
    ("S115", "content-length-invalid", _ENV, ERROR, "CONTENT_LENGTH is not a decimal integer"),
    ("S116", "server-port-invalid", _ENV, ERROR, "SERVER_PORT is not a decimal port number"),
    ("S117", "server-protocol-invalid", _ENV, WARNING, "SERVER_PROTOCOL is not HTTP/x.y"),
    ("S118", "method-not-token", _ENV, ERROR, "REQUEST_METHOD is not an HTTP token"),
    ("S119", "method-unknown", _ENV, INFO, "REQUEST_METHOD is not a common method"),
    ("S120", "input-missing-method", _INPUT, ERROR, "wsgi.input lacks read/readline/..."),
    ("S121", "errors-missing-method", _INPUT, ERROR, "wsgi.errors lacks write/writelines/flush"),
    ("S122", "file-wrapper-not-callable", _FILE, ERROR, "wsgi.file_wrapper is not callable"),
    ("S123", "input-terminated-not-bool", _ENV, WARNING, "wsgi.input_terminated is not a bool"),
    ("S124", "environ-value-control-char", _ENV, ERROR, "an HTTP_* value holds CR, LF or NUL"),
    ("S125", "script-name-trailing-slash", _URL, WARNING, "SCRIPT_NAME ends with '/'"),
    ("S126", "server-name-empty", _URL, WARNING, "SERVER_NAME is empty"),
    # --- server side: streams, start_response, iteration ---
    ("S201", "input-read-not-bytes", _INPUT, ERROR, "wsgi.input returned something not bytes"),
    ("S202", "input-readlines-not-list", _INPUT, ERROR, "readlines() did not return a list"),
    ("S203", "write-not-callable", _SR, ERROR, "start_response did not return a callable"),
    ("S204", "exc-info-not-reraised", _ERR, ERROR, "headers were sent but exc_info not re-raised"),
    ("S205", "close-called-twice", _SERVER, ERROR, "the server called close() more than once"),
    ("S206", "iterated-after-close", _SERVER, ERROR, "the server iterated after close()"),
    ("S207", "close-not-called", _SERVER, ERROR, "the server never called close()"),
    ("S208", "input-over-read", _INPUT, ERROR, "wsgi.input gave more than CONTENT_LENGTH"),
    # --- application side: the call and start_response ---
    ("A301", "app-call-args", _SPEC, ERROR, "the app must be called with two positional args"),
    ("A302", "start-response-args", _SR, ERROR, "start_response takes 2 or 3 positional args"),
    ("A303", "start-response-twice", _SR, ERROR, "start_response called again without exc_info"),
    ("A304", "exc-info-not-tuple", _SR, ERROR, "exc_info must be None or a 3-tuple"),
    ("A305", "status-not-str", _STR, ERROR, "status must be a native str"),
    ("A306", "status-code-digits", _SR, ERROR, "status must start with a three-digit code"),
    ("A307", "status-code-range", _SR, ERROR, "status code must be 100..599"),
    ("A308", "status-no-space", _SR, ERROR, "code and reason must be separated by one space"),
    ("A309", "status-no-reason", _SR, WARNING, "status has no reason phrase"),
    ("A310", "status-bad-char", _SR, ERROR, "status has control chars or surrounding space"),
    ("A311", "headers-not-list", _SR, ERROR, "response_headers must be a builtin list"),
    ("A312", "header-not-tuple", _SR, ERROR, "each header must be a (name, value) tuple"),
    ("A313", "header-name-not-str", _STR, ERROR, "header name must be a native str"),
    ("A314", "header-value-not-str", _STR, ERROR, "header value must be a native str"),
    ("A315", "header-status", _SR, ERROR, "a 'Status' header is forbidden (CGI conflict)"),
    ("A316", "header-name-not-token", _SR, ERROR, "header name is not an RFC 9110 token"),
    ("A317", "header-name-edge", _SR, WARNING, "header name ends in '-' or '_'"),
    ("A318", "header-value-control", _SR, ERROR, "header value has CR, LF, NUL or a control"),
    ("A319", "header-value-not-latin1", _UNICODE, ERROR, "header value is not latin-1"),
    ("A320", "header-value-whitespace", _SR, WARNING, "header value has surrounding spaces"),
    ("A321", "hop-by-hop-header", _OTHER, ERROR, "apps must not send hop-by-hop headers"),
    ("A322", "metadata-on-no-body", _RFC_304, WARNING, "Content-Type etc. on 304 (204: wsgiref)"),
    ("A323", "content-type-missing", _SR, WARNING, "a response with a body lacks Content-Type"),
    ("A324", "content-length-invalid", _CL, ERROR, "Content-Length is not a decimal integer"),
    ("A325", "content-length-conflict", _CL, ERROR, "several differing Content-Length headers"),
    ("A326", "header-name-underscore", _SR, INFO, "header name has '_' (proxies may drop it)"),
    ("A327", "etag-invalid", "RFC 9110 §8.8.3", WARNING, "ETag not a quoted entity-tag"),
    # --- application side: the result and the body ---
    ("A401", "result-none", _APP, ERROR, "the app returned None or False"),
    ("A402", "result-is-string", _BUF, ERROR, "the app returned a str/bytes, not an iterable"),
    ("A403", "result-not-iterable", _APP, ERROR, "the app's result is not iterable"),
    ("A404", "body-not-bytes", _STR, ERROR, "the iterable yielded something not bytes"),
    ("A405", "body-before-start-response", _BUF, ERROR, "a body item before start_response"),
    ("A406", "no-start-response", _APP, ERROR, "the iterable ended, start_response never called"),
    ("A407", "write-not-bytes", _WRITE, ERROR, "write() was given something not bytes"),
    ("A408", "write-after-return", _WRITE, ERROR, "write() used after the iterable was returned"),
    ("A410", "content-length-exceeded", _CL, ERROR, "more bytes than Content-Length"),
    ("A411", "content-length-short", _CL, ERROR, "fewer bytes than Content-Length"),
    ("A412", "body-on-no-body-status", _OTHER, ERROR, "a body on a 1xx, 204 or 304 response"),
    ("A413", "content-length-on-no-body", _RFC_CL, ERROR, "non-zero Content-Length on 1xx/204"),
    ("A414", "body-for-head", _OTHER, INFO, "a body for HEAD (the server discards it)"),
    ("A415", "result-close-raised", _APP, ERROR, "the iterable's close() raised"),
    # --- application side: the streams ---
    ("A501", "input-read-no-size", _INPUT, ERROR, "read() without a size (validator() only)"),
    ("A502", "input-bad-args", _INPUT, ERROR, "wrong arguments to read/readline/readlines"),
    ("A503", "input-read-past-length", _INPUT, WARNING, "read past CONTENT_LENGTH"),
    ("A504", "input-read-no-length", _INPUT, WARNING, "read with no CONTENT_LENGTH, unterminated"),
    ("A505", "input-closed", _INPUT, ERROR, "the app closed wsgi.input"),
    ("A506", "errors-closed", _INPUT, ERROR, "the app closed wsgi.errors"),
    ("A507", "errors-not-str", _INPUT, ERROR, "wsgi.errors.write() given something not str"),
    ("A508", "file-wrapper-bad-file", _FILE, ERROR, "wsgi.file_wrapper given no file-like"),
    ("A509", "file-wrapper-not-returned", _FILE, INFO, "file_wrapper result not returned as is"),
    ("A510", "input-read-negative", _INPUT, ERROR, "read(-1) or read(None) (validator() only)"),
)

#: Every rule by ID.
RULES: Final[dict[str, Rule]] = {row[0]: Rule(*row) for row in _TABLE}


def rule(rule_id: str) -> Rule:
    """The rule with this ID (KeyError names it if unknown)."""
    return RULES[rule_id]


#: Keys that must be present in every environ, with the type each must have (PEP 3333,
#: "environ Variables": only SCRIPT_NAME, PATH_INFO, QUERY_STRING, CONTENT_* may be omitted).
REQUIRED_KEYS: Final[dict[str, type]] = {
    "REQUEST_METHOD": str,
    "SERVER_NAME": str,
    "SERVER_PORT": str,
    "SERVER_PROTOCOL": str,
    "wsgi.version": tuple,
    "wsgi.url_scheme": str,
    "wsgi.input": object,
    "wsgi.errors": object,
    "wsgi.multithread": object,  # any value that evaluates true or false (FLAG_KEYS)
    "wsgi.multiprocess": object,
    "wsgi.run_once": object,
}

#: Required keys that can never be empty.
NON_EMPTY_KEYS: Final = ("REQUEST_METHOD", "SERVER_PORT")

#: CGI keys that may be empty or absent.
OPTIONAL_CGI_KEYS: Final = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
                            "CONTENT_LENGTH")  # fmt: skip

#: Keys a server must never set, with the key to use instead.
FORBIDDEN_KEYS: Final[dict[str, str]] = {
    "HTTP_CONTENT_TYPE": "CONTENT_TYPE",
    "HTTP_CONTENT_LENGTH": "CONTENT_LENGTH",
}

#: Optional ``wsgi.*`` keys and the type their value must have.
WSGI_KEY_TYPES: Final[dict[str, type]] = {"wsgi.input_terminated": bool}

#: Flags PEP 3333 says "should evaluate true" (or false): any value with a truth value will do.
FLAG_KEYS: Final = ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once")
#: The old name of :data:`FLAG_KEYS` (they never had to be bools), kept for importers.
BOOL_KEYS: Final = FLAG_KEYS

INPUT_METHODS: Final = ("read", "readline", "readlines", "__iter__")
ERRORS_METHODS: Final = ("flush", "write", "writelines")

#: Representation metadata a 304 should not carry (RFC 9110 §15.4.5); Content-Length may be
#: sent (§8.6) and Content-Type is checked for 204 and 304 alike.
NOT_MODIFIED_FORBIDDEN: Final = frozenset({
    "content-encoding", "content-language", "content-range", "content-md5",
})  # fmt: skip


def is_native(value: object) -> bool:
    """True if ``value`` is a PEP 3333 native string: a ``str`` holding only latin-1 code points."""
    if type(value) is not str:
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
