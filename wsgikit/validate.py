"""PEP 3333 conformance checking: pure checks, guard wrappers, and a ``wsgiref.validate`` twin.

``validator(app)`` behaves like ``wsgiref.validate.validator`` (same public names, the same
``AssertionError`` text for every check wsgiref makes) and checks much more. :class:`Validator`
is the engine behind it with three modes: ``raise`` (errors raise :class:`WSGIConformanceError`,
warnings go to :mod:`warnings`), ``warn`` (everything goes to :mod:`warnings`) and ``report``
(findings are only collected). Every finding names its rule ID, its PEP 3333 section and what
happened. The rules themselves live in :mod:`wsgikit.conformance.pep3333`.
"""

# ruff: noqa: UP031  (the %-formatted texts are wsgiref.validate's, kept verbatim)
from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

from wsgikit.conformance import pep3333
from wsgikit.conformance.pep3333 import ERROR, INFO, RULES, Rule

__all__ = [
    "validator",
    "Validator",
    "WSGIWarning",
    "WSGIConformanceError",
    "Finding",
    "Problem",
    "Reporter",
    "MODES",
    "environ_problems",
    "status_problems",
    "headers_problems",
    "exc_info_problems",
    "result_problems",
    "check_environ",
    "check_input",
    "check_errors",
    "check_status",
    "check_headers",
    "check_content_type",
    "check_exc_info",
    "check_iterator",
    "check_string_type",
    "assert_",
    "InputWrapper",
    "ErrorWrapper",
    "WriteWrapper",
    "PartialIteratorWrapper",
    "IteratorWrapper",
    "FileWrapperGuard",
]

MODES = ("raise", "warn", "report")

# wsgiref.validate's module-level regexes, kept for code that imports them.
header_re = re.compile(r"^[a-zA-Z][a-zA-Z0-9\-_]*$")
bad_header_value_re = re.compile(r"[\000-\037]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls except HTAB (RFC 9110 §5.5)
_ETAG_RE = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')


class WSGIWarning(Warning):
    """Raised in response to WSGI-spec-related warnings."""


class Problem(NamedTuple):
    """One broken rule found by a pure check: rule ID, what happened, wsgiref's text if any."""

    rule: str
    detail: str
    legacy: Optional[str] = None


@dataclass(frozen=True)
class Finding:
    """A reported problem: the rule, what happened, and which call it happened in."""

    rule: Rule
    detail: str
    where: str
    legacy: Optional[str] = None

    def __str__(self) -> str:
        r = self.rule
        return f"{r.id} {r.name} ({r.section}): {self.detail} [in {self.where}]"


class WSGIConformanceError(AssertionError):
    """A PEP 3333 rule was broken; ``.finding`` has the rule, its section and what happened."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(str(finding))
        self.finding = finding
        self.rule = finding.rule

    def __reduce__(self) -> tuple[Any, ...]:
        return (WSGIConformanceError, (self.finding,))


class _WsgirefAssertionError(WSGIConformanceError):
    """What ``validator()`` raises for a check wsgiref also makes: wsgiref's exact text.

    Tracebacks show it as ``AssertionError: <wsgiref's message>`` so code (and CPython's
    test_wsgiref) matching wsgiref's output keeps working; ``.finding`` still names the rule.
    """

    __module__ = "builtins"
    __qualname__ = "AssertionError"

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding)
        self.args = (finding.legacy,) if finding.legacy else ()

    def __str__(self) -> str:
        return self.finding.legacy or ""


class Reporter:
    """Routes findings by mode; remembers them; reports each rule once per request.

    In raise mode a server's error (an ``S`` rule) is warned, not raised: the application being
    checked did nothing wrong, and raising would turn a server's quirk into a 500 on every
    request (werkzeug's dev server hands ``REMOTE_PORT`` as an int). ``raise_server_errors``
    is for the ``check_*`` functions and wsgiref's standalone wrappers, which raise like wsgiref.
    """

    def __init__(
        self,
        mode: str = "raise",
        *,
        legacy: bool = False,
        on_finding: Optional[Callable[[Finding], None]] = None,
        raise_server_errors: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.legacy = legacy
        self.on_finding = on_finding
        self.raise_server_errors = raise_server_errors
        self.findings: list[Finding] = []
        self._seen: set[str] = set()

    def report(self, problem: Problem, where: str, *, deferred: bool = False) -> None:
        """Record one problem; raise or warn as the mode says (never raise when ``deferred``)."""
        if problem.rule in self._seen:
            return
        self._seen.add(problem.rule)
        finding = Finding(RULES[problem.rule], problem.detail, where, problem.legacy)
        self.findings.append(finding)
        if self.on_finding is not None:
            self.on_finding(finding)
        level = finding.rule.level
        if self.mode == "report" or level == INFO:
            return
        server_fault = finding.rule.id.startswith("S") and not self.raise_server_errors
        if self.mode == "raise" and level == ERROR and not server_fault:
            if deferred:
                sys.stderr.write(f"{finding}\n")
                return
            if self.legacy and finding.legacy is not None:
                raise _WsgirefAssertionError(finding)
            raise WSGIConformanceError(finding)
        if self.legacy and finding.legacy is None:
            # validator() warns only where wsgiref does; its extra "should" findings are printed
            sys.stderr.write(f"WSGIWarning: {finding}\n")
            return
        if deferred:
            try:
                warnings.warn(str(finding), WSGIWarning, stacklevel=2)
            except Exception:  # warnings as errors cannot propagate out of __del__
                sys.stderr.write(f"{finding}\n")
            return
        warnings.warn(str(finding), WSGIWarning, stacklevel=4)

    def report_all(self, problems: Iterable[Problem], where: str) -> None:
        for problem in problems:
            self.report(problem, where)


# --------------------------------------------------------------------------- pure checks


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def environ_problems(environ: Any, *, wsgiref: bool = False) -> list[Problem]:
    """Everything wrong with an environ as the server hands it to the application.

    ``wsgiref=True`` adds the checks ``wsgiref.validate`` makes beyond PEP 3333 (``S107``
    QUERY_STRING absent, ``S114`` SCRIPT_NAME and PATH_INFO both empty): ``validator()`` and
    the ``check_*`` functions keep them, the PEP-faithful engine does not.
    """
    out: list[Problem] = []
    if type(environ) is not dict:
        out.append(
            Problem(
                "S101",
                f"environ is a {type(environ).__name__}, not a dict",
                "Environment is not of the right type: %r (environment: %r)"
                % (type(environ), environ),
            )
        )
        if not isinstance(environ, Mapping):
            return out
    for key in pep3333.REQUIRED_KEYS:
        if key not in environ:
            out.append(
                Problem(
                    "S102", f"{key!r} is missing", "Environment missing required key: %r" % (key,)
                )
            )
    for key, instead in pep3333.FORBIDDEN_KEYS.items():
        if key in environ:
            out.append(
                Problem(
                    "S104",
                    f"{key!r} is present; the server must use {instead!r}",
                    "Environment should not have the key: %s (use %s instead)" % (key, instead),
                )
            )
    if wsgiref and "QUERY_STRING" not in environ:  # PEP 3333: "may be empty or absent"
        out.append(
            Problem(
                "S107",
                "QUERY_STRING is absent; cgi-style code falls back to argv",
                "QUERY_STRING is not in the WSGI environment; the cgi module will use "
                "sys.argv when this variable is missing, so application errors are more likely",
            )
        )
    for key, value in environ.items():
        if not isinstance(key, str) or "." in key:
            continue
        if type(value) is not str:
            out.append(
                Problem(
                    "S105",
                    f"{key} is {value!r} ({type(value).__name__}), not str",
                    "Environmental variable %s is not a string: %r (value: %r)"
                    % (key, type(value), value),
                )
            )
        elif not pep3333.is_native(value):
            out.append(Problem("S106", f"{key}={value!r} has characters above U+00FF"))
        elif key.startswith("HTTP_") and ("\r" in value or "\n" in value or "\0" in value):
            out.append(Problem("S124", f"{key}={value!r} holds CR, LF or NUL"))
    for key in pep3333.NON_EMPTY_KEYS:
        if environ.get(key) == "":
            out.append(Problem("S103", f"{key} is empty"))
    if environ.get("SERVER_NAME") == "":
        out.append(Problem("S126", "SERVER_NAME is empty (PEP 3333: it can never be empty)"))
    version = environ.get("wsgi.version", (1, 0))
    if type(version) is not tuple:
        out.append(
            Problem(
                "S108",
                f"wsgi.version is {version!r}, not the tuple (1, 0)",
                "wsgi.version should be a tuple (%r)" % (version,),
            )
        )
    elif version != (1, 0):
        out.append(Problem("S108", f"wsgi.version is {version!r}, not (1, 0)"))
    scheme = environ.get("wsgi.url_scheme", "http")
    if scheme not in ("http", "https"):
        out.append(
            Problem(
                "S109", f"wsgi.url_scheme is {scheme!r}", "wsgi.url_scheme unknown: %r" % (scheme,)
            )
        )
    for key in pep3333.FLAG_KEYS:  # PEP 3333: "should evaluate true"; 1 and 0 do
        if key in environ:
            try:
                bool(environ[key])
            except Exception as exc:
                out.append(Problem("S110", f"{key} is {environ[key]!r}: bool() raised {exc!r}"))
    if "wsgi.input" in environ:
        out.extend(_input_problems(environ["wsgi.input"]))
    if "wsgi.errors" in environ:
        out.extend(_errors_problems(environ["wsgi.errors"]))
    if "wsgi.file_wrapper" in environ and not callable(environ["wsgi.file_wrapper"]):
        out.append(Problem("S122", f"wsgi.file_wrapper is {environ['wsgi.file_wrapper']!r}"))
    for key, kind in pep3333.WSGI_KEY_TYPES.items():
        if key in environ and type(environ[key]) is not kind:
            out.append(Problem("S123", f"{key} is {environ[key]!r}, not a {kind.__name__}"))
    method = environ.get("REQUEST_METHOD")
    if type(method) is str and method:
        if not pep3333.is_token(method):
            out.append(Problem("S118", f"REQUEST_METHOD={method!r} is not a token"))
        elif method not in pep3333.KNOWN_METHODS:
            out.append(Problem("S119", f"REQUEST_METHOD={method!r} is not a common method"))
    script = environ.get("SCRIPT_NAME")
    path = environ.get("PATH_INFO")
    if type(script) is str and script and not script.startswith("/"):
        out.append(
            Problem(
                "S111",
                f"SCRIPT_NAME={script!r} does not start with '/'",
                "SCRIPT_NAME doesn't start with /: %r" % (script,),
            )
        )
    asterisk = path == "*" and environ.get("REQUEST_METHOD") == "OPTIONS"  # OPTIONS * HTTP/1.1
    if type(path) is str and path and not path.startswith("/") and not asterisk:
        out.append(
            Problem(
                "S113",
                f"PATH_INFO={path!r} does not start with '/'",
                "PATH_INFO doesn't start with /: %r" % (path,),
            )
        )
    length = environ.get("CONTENT_LENGTH")
    if type(length) is str and length and not _is_digits(length):
        out.append(
            Problem(
                "S115",
                f"CONTENT_LENGTH={length!r} is not a decimal integer",
                "Invalid CONTENT_LENGTH: %r" % (length,),
            )
        )
    # PEP 3333 lets both be empty (the application root without a trailing slash); wsgiref
    # asserts one of them is non-empty.
    if wsgiref and not script and not path:
        out.append(
            Problem(
                "S114",
                "SCRIPT_NAME and PATH_INFO are both empty or missing",
                "One of SCRIPT_NAME or PATH_INFO are required (PATH_INFO should at "
                "least be '/' if SCRIPT_NAME is empty)",
            )
        )
    if script == "/":
        out.append(
            Problem(
                "S112",
                "SCRIPT_NAME is '/'; use '' with PATH_INFO '/'",
                "SCRIPT_NAME cannot be '/'; it should instead be '', and PATH_INFO should be '/'",
            )
        )
    elif type(script) is str and len(script) > 1 and script.endswith("/"):
        out.append(Problem("S125", f"SCRIPT_NAME={script!r} ends with '/'"))
    port = environ.get("SERVER_PORT")
    if type(port) is str and port and not (_is_digits(port) and int(port) <= 65535):
        out.append(Problem("S116", f"SERVER_PORT={port!r} is not a port number"))
    protocol = environ.get("SERVER_PROTOCOL")
    if type(protocol) is str and not re.fullmatch(r"HTTP/\d(\.\d)?|INCLUDED", protocol):
        out.append(Problem("S117", f"SERVER_PROTOCOL={protocol!r} is not HTTP/x.y"))
    return out


def _input_problems(wsgi_input: Any) -> list[Problem]:
    return [
        Problem(
            "S120",
            f"wsgi.input ({wsgi_input!r}) has no {attr}()",
            "wsgi.input (%r) doesn't have the attribute %s" % (wsgi_input, attr),
        )
        for attr in pep3333.INPUT_METHODS
        if not hasattr(wsgi_input, attr)
    ]


def _errors_problems(wsgi_errors: Any) -> list[Problem]:
    return [
        Problem(
            "S121",
            f"wsgi.errors ({wsgi_errors!r}) has no {attr}()",
            "wsgi.errors (%r) doesn't have the attribute %s" % (wsgi_errors, attr),
        )
        for attr in pep3333.ERRORS_METHODS
        if not hasattr(wsgi_errors, attr)
    ]


def status_problems(status: Any) -> tuple[Optional[int], list[Problem]]:
    """(status code or None, problems) for a ``start_response`` status."""
    if type(status) is not str:
        return None, [
            Problem(
                "A305",
                f"status is {status!r} ({type(status).__name__}), not str",
                "Status must be of type str (got %r)" % (status,),
            )
        ]
    out: list[Problem] = []
    code_text = status[:3]
    if len(code_text) != 3 or not _is_digits(code_text):
        word = status.split(None, 1)[0] if status.split() else status
        out.append(
            Problem(
                "A306",
                f"status {status!r} does not start with a three-digit code",
                "Status codes must be three characters: %r" % word,
            )
        )
        return None, out
    code = int(code_text)
    if status != status.strip() or _CONTROL_RE.search(status) or "\t" in status:
        out.append(Problem("A310", f"status {status!r} has surrounding spaces or control chars"))
    if not 100 <= code <= 599:
        out.append(
            Problem(
                "A307",
                f"status code {code} is outside 100..599",
                "Status code is invalid: %r" % code if code < 100 else None,
            )
        )
    if len(status) > 3 and status[3] != " ":
        out.append(Problem("A308", f"status {status!r} has no space after the code"))
    elif not status[4:].strip():
        out.append(Problem("A309", f"status {status!r} has no reason phrase"))
    return code, out


def headers_problems(headers: Any) -> tuple[list[tuple[str, str]], list[Problem]]:
    """(the well-formed (name, value) pairs, problems) for ``start_response`` headers."""
    out: list[Problem] = []
    pairs: list[tuple[str, str]] = []
    if type(headers) is not list:
        out.append(
            Problem(
                "A311",
                f"headers are a {type(headers).__name__}, not a list",
                "Headers (%r) must be of type list: %r" % (headers, type(headers)),
            )
        )
        if not isinstance(headers, (list, tuple)):
            return pairs, out
    lengths: set[str] = set()
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            out.append(
                Problem(
                    "A312",
                    f"header {item!r} is not a (name, value) tuple",
                    "Individual headers (%r) must be of type tuple: %r" % (item, type(item)),
                )
            )
            continue
        name, value = item
        if type(name) is not str:
            out.append(
                Problem(
                    "A313",
                    f"header name {name!r} is not a str",
                    "Header name must be of type str (got %r)" % (name,),
                )
            )
            continue
        if type(value) is not str:
            out.append(
                Problem(
                    "A314",
                    f"header {name!r} has value {value!r}, not a str",
                    "Header value must be of type str (got %r)" % (value,),
                )
            )
            continue
        pairs.append((name, value))
        lower = name.lower()
        if lower == "status":
            out.append(
                Problem(
                    "A315",
                    f"a Status header ({value!r}) was sent",
                    "The Status header cannot be used; it conflicts with CGI script, "
                    "and HTTP status is not given through headers (value: %r)." % (value,),
                )
            )
        if not pep3333.is_token(name):
            out.append(
                Problem(
                    "A316", f"header name {name!r} is not a token", "Bad header name: %r" % (name,)
                )
            )
        elif name.endswith(("-", "_")):
            out.append(
                Problem(
                    "A317",
                    f"header name {name!r} ends in '-' or '_'",
                    "Names may not end in '-' or '_': %r" % (name,),
                )
            )
        elif "_" in name:
            out.append(Problem("A326", f"header name {name!r} contains '_'"))
        bad = _CONTROL_RE.search(value)
        if bad:
            out.append(
                Problem(
                    "A318",
                    f"header {name!r} value {value!r} has {bad.group(0)!r}",
                    "Bad header value: %r (bad char: %r)" % (value, bad.group(0)),
                )
            )
        elif not pep3333.is_native(value):
            out.append(Problem("A319", f"header {name!r} value {value!r} is not latin-1"))
        elif value != value.strip(" \t"):
            out.append(Problem("A320", f"header {name!r} value {value!r} has outer whitespace"))
        if lower in pep3333.HOP_BY_HOP:
            out.append(Problem("A321", f"hop-by-hop header {name}: {value} sent by the app"))
        if lower == "content-length":
            if not _is_digits(value):
                out.append(Problem("A324", f"Content-Length {value!r} is not a decimal integer"))
            lengths.add(value)
        if lower == "etag" and not _ETAG_RE.fullmatch(value):
            out.append(Problem("A327", f"ETag {value!r} is not a quoted entity-tag"))
    if len(lengths) > 1:
        out.append(Problem("A325", f"Content-Length headers disagree: {sorted(lengths)}"))
    return pairs, out


def no_body_header_problems(
    code: int, pairs: list[tuple[str, str]], *, wsgiref: bool = False
) -> list[Problem]:
    """Header problems that depend on the status: metadata on 304, lengths on 1xx/204.

    RFC 9110 §15.4.5 asks a 304 not to carry representation metadata such as Content-Type;
    nothing forbids Content-Type on a 204 (Django and Flask send one by default), so only
    ``wsgiref=True`` (wsgiref's assertion, kept by ``validator()``) flags it there.
    """
    out: list[Problem] = []
    for name, value in pairs:
        lower = name.lower()
        if lower == "content-type" and (code == 304 or (wsgiref and code == 204)):
            out.append(
                Problem(
                    "A322",
                    f"Content-Type {value!r} on a {code} response",
                    "Content-Type header found in a %s response, which must not "
                    "return content." % code,
                )
            )
        if code == 304 and lower in pep3333.NOT_MODIFIED_FORBIDDEN:
            out.append(Problem("A322", f"{name} {value!r} on a 304 response"))
        # RFC 9110 §8.6: never on 1xx/204; a 304 may carry the 200's length. "0" is tolerated:
        # it cannot mislead a client (RFC 9112 §6.3 reads no body on 1xx/204 whatever it says).
        if lower == "content-length" and (code < 200 or code == 204) and value.strip() != "0":
            out.append(Problem("A413", f"Content-Length {value} on a {code} response"))
    return out


def exc_info_problems(exc_info: Any) -> list[Problem]:
    """``exc_info`` must be None or ``sys.exc_info()``'s 3-tuple."""
    if exc_info is None or (type(exc_info) is tuple and len(exc_info) == 3):
        return []
    return [
        Problem(
            "A304",
            f"exc_info is {exc_info!r}, not None or a 3-tuple",
            "exc_info (%r) is not a tuple: %r" % (exc_info, type(exc_info)),
        )
    ]


def result_problems(result: Any) -> list[Problem]:
    """What is wrong with the object the application returned."""
    if result is None or result is False:
        return [
            Problem(
                "A401",
                f"the application returned {result!r}",
                "The application must return an iterator, if only an empty list",
            )
        ]
    if isinstance(result, (str, bytes)):
        return [
            Problem(
                "A402",
                f"the application returned a {type(result).__name__} "
                f"({result[:20]!r}...) instead of an iterable of bytes",
                "You should not return a string as your application iterator, instead "
                "return a single-item list containing a bytestring.",
            )
        ]
    try:
        iter(result)
    except TypeError:
        return [Problem("A403", f"the application returned {result!r}, which is not iterable")]
    return []


# --------------------------------------------------------------------------- one request


class _Exchange:
    """The state of one request/response passing through the validator."""

    def __init__(self, reporter: Reporter, environ: Any) -> None:
        self.reporter = reporter
        get = environ.get if isinstance(environ, Mapping) else (lambda key, default=None: default)
        self.method = get("REQUEST_METHOD", "")
        length = get("CONTENT_LENGTH", "")
        self.content_length: Optional[int] = (
            int(length) if type(length) is str and _is_digits(length) else None
        )
        self.terminated = get("wsgi.input_terminated", False) is True
        self.input_read = 0
        self.started = False
        self.code: Optional[int] = None
        self.headers: list[tuple[str, str]] = []
        self.response_length: Optional[int] = None
        self.headers_sent = False
        self.returned = False
        self.exhausted = False
        self.body = 0
        self.wrappers: list[Any] = []
        self.result: Any = None

    @classmethod
    def standalone(cls) -> _Exchange:
        return cls(Reporter("raise", legacy=True, raise_server_errors=True), {})

    def report(self, problem: Problem, where: str, *, deferred: bool = False) -> None:
        self.reporter.report(problem, where, deferred=deferred)

    def body_bytes(self, size: int, where: str) -> None:
        """Account for ``size`` body bytes passed to the server."""
        if not size:
            return
        self.body += size
        self.headers_sent = True
        code = self.code or 200
        if 100 <= code < 200 or code in pep3333.NO_BODY_STATUSES:
            self.report(Problem("A412", f"{size} body bytes on a {code} response"), where)
        if self.method == "HEAD":
            self.report(Problem("A414", f"{size} body bytes for a HEAD request"), where)
        if self.response_length is not None and self.body > self.response_length:
            self.report(
                Problem(
                    "A410", f"{self.body} bytes produced, Content-Length is {self.response_length}"
                ),
                where,
            )

    def finish(self) -> None:
        """Checks once the server has closed the iterable."""
        if self.exhausted and not self.started:
            self.report(
                Problem(
                    "A406",
                    "the iterable ended and start_response was never called",
                    "The application returns and we started iterating over its "
                    "body, but start_response has not yet been called",
                ),
                "close()",
            )
        if not self.started:
            return
        code = self.code or 200
        bodiless = self.method == "HEAD" or code < 200 or code in pep3333.NO_BODY_STATUSES
        short = self.response_length is not None and self.body < self.response_length
        if self.exhausted and short and not bodiless:
            self.report(
                Problem(
                    "A411", f"{self.body} bytes produced, Content-Length is {self.response_length}"
                ),
                "close()",
            )
        if (
            self.body
            and not bodiless
            and not any(n.lower() == "content-type" for n, _ in self.headers)
        ):
            self.report(
                Problem(
                    "A323",
                    f"{self.body} body bytes and no Content-Type",
                    "No Content-Type header found in headers (%s)" % self.headers,
                ),
                "close()",
            )
        for wrapper in self.wrappers:
            # HEAD, 1xx, 204 and 304 have no body to send, so nothing was lost by not returning
            # the wrapper (Flask's and Pyramid's send_file make one before they know that); a
            # 206 must send a part of the file, which a file_wrapper cannot say (werkzeug and
            # WebOb wrap it in a range iterator): no better way exists, so nothing to report.
            if wrapper is not self.result and not bodiless and code != 206:
                self.report(
                    Problem(
                        "A509",
                        f"{wrapper!r} was made by wsgi.file_wrapper but "
                        "the application returned something else",
                    ),
                    "close()",
                )


# --------------------------------------------------------------------------- guard wrappers


class InputWrapper:
    """Guards ``wsgi.input``: argument rules, reads past CONTENT_LENGTH, result types."""

    def __init__(self, wsgi_input: Any) -> None:
        self.input = wsgi_input
        self._exchange = _Exchange.standalone()

    def _check_size(self, name: str, args: tuple[Any, ...], required: bool) -> None:
        ex = self._exchange
        where = f"wsgi.input.{name}{args!r}"
        if len(args) > 1:
            ex.report(Problem("A502", f"{name}() called with {len(args)} arguments", ""), where)
            return
        size = args[0] if args else None
        if size is not None and type(size) is not int:
            ex.report(Problem("A502", f"{name}() size is {size!r}, not an int", ""), where)
            return
        # PEP 3333: "A server should allow read() to be called without an argument": only the
        # wsgiref-compatible validator() keeps wsgiref's assertion that read() has a size.
        if required and not ex.terminated and ex.reporter.legacy:
            if not args:
                ex.report(
                    Problem(
                        "A501",
                        f"{name}() without a size and wsgi.input_terminated "
                        "is not true: it may block forever",
                        "",
                    ),
                    where,
                )
            elif size is None or size < 0:
                ex.report(
                    Problem(
                        "A510",
                        f"{name}({size!r}) reads to EOF and wsgi.input_terminated is not true",
                    ),
                    where,
                )
        if ex.terminated:
            return
        if size == 0:
            return  # read(0) never blocks and never reads
        if required and (size is None or size < 0) and not ex.reporter.legacy:
            return  # read() asks for "the entire remainder", never more than there is
        if ex.content_length is None:
            ex.report(Problem("A504", f"{name}() with no CONTENT_LENGTH"), where)
        elif ex.input_read >= ex.content_length:
            ex.report(
                Problem(
                    "A503",
                    f"{name}() after all {ex.content_length} bytes of CONTENT_LENGTH were read",
                ),
                where,
            )

    def _got(self, name: str, data: Any) -> Any:
        ex = self._exchange
        if type(data) is not bytes:
            ex.report(
                Problem("S201", f"wsgi.input.{name}() returned {data!r}", ""),
                f"wsgi.input.{name}()",
            )
            return data
        ex.input_read += len(data)
        if ex.content_length is not None and ex.input_read > ex.content_length:
            ex.report(
                Problem(
                    "S208",
                    f"wsgi.input gave {ex.input_read} bytes, CONTENT_LENGTH is {ex.content_length}",
                ),
                f"wsgi.input.{name}()",
            )
        return data

    def read(self, *args: Any) -> Any:
        self._check_size("read", args, required=True)
        return self._got("read", self.input.read(*args))

    def readline(self, *args: Any) -> Any:
        self._check_size("readline", args, required=False)
        return self._got("readline", self.input.readline(*args))

    def readlines(self, *args: Any) -> Any:
        self._check_size("readlines", args, required=False)
        lines = self.input.readlines(*args)
        if type(lines) is not list:
            self._exchange.report(
                Problem("S202", f"readlines() returned {lines!r}", ""), "wsgi.input.readlines()"
            )
            return lines
        for line in lines:
            self._got("readlines", line)
        return lines

    def __iter__(self) -> Iterator[Any]:
        ex = self._exchange
        while True:
            if (
                not ex.terminated
                and ex.content_length is not None
                and ex.input_read >= ex.content_length
            ):
                return
            line = self._got("__iter__", self.input.readline())
            if not line:
                return
            yield line

    def close(self) -> None:
        self._exchange.report(
            Problem(
                "A505",
                "the application called wsgi.input.close()",
                "input.close() must not be called",
            ),
            "wsgi.input.close()",
        )


class ErrorWrapper:
    """Guards ``wsgi.errors``: text only, never closed by the application."""

    def __init__(self, wsgi_errors: Any) -> None:
        self.errors = wsgi_errors
        self._exchange = _Exchange.standalone()

    def write(self, s: Any) -> None:
        if type(s) is not str:
            self._exchange.report(
                Problem("A507", f"wsgi.errors.write({s!r}): not a str", ""), "wsgi.errors.write()"
            )
        self.errors.write(s)

    def flush(self) -> None:
        self.errors.flush()

    def writelines(self, seq: Iterable[Any]) -> None:
        for line in seq:
            self.write(line)

    def close(self) -> None:
        self._exchange.report(
            Problem(
                "A506",
                "the application called wsgi.errors.close()",
                "errors.close() must not be called",
            ),
            "wsgi.errors.close()",
        )


class WriteWrapper:
    """Guards the ``write()`` callable: bytes only, only before the iterable is returned."""

    def __init__(self, wsgi_writer: Any) -> None:
        self.writer = wsgi_writer
        self._exchange = _Exchange.standalone()

    def __call__(self, s: Any) -> None:
        ex = self._exchange
        if type(s) is not bytes:
            ex.report(Problem("A407", f"write({s!r}): not bytes", ""), "write()")
        elif ex.returned:
            ex.report(
                Problem("A408", "write() called after the application returned its iterable"),
                "write()",
            )
        if type(s) is bytes:
            ex.body_bytes(len(s), "write()")
        self.writer(s)


class PartialIteratorWrapper:
    """wsgiref's wrapper that checks ``__iter__`` is called (kept for compatibility)."""

    def __init__(self, wsgi_iterator: Any) -> None:
        self.iterator = wsgi_iterator

    def __iter__(self) -> IteratorWrapper:
        return IteratorWrapper(self.iterator, None)


class IteratorWrapper:
    """Guards the returned iterable: bytes items, start_response first, Content-Length, close()."""

    def __init__(self, wsgi_iterator: Any, check_start_response: Any) -> None:
        self.original_iterator = wsgi_iterator
        self.iterator = iter(wsgi_iterator)
        self.closed = False
        self.check_start_response = check_start_response
        self._exchange = _Exchange.standalone()
        self._legacy_standalone = True

    def __iter__(self) -> IteratorWrapper:
        return self

    def __next__(self) -> Any:
        ex = self._exchange
        if self.closed:
            ex.report(
                Problem(
                    "S206",
                    "the server iterated after calling close()",
                    "Iterator read after closed",
                ),
                "__next__()",
            )
        try:
            value = next(self.iterator)
        except StopIteration:
            ex.exhausted = True
            raise
        if type(value) is not bytes and "A402" not in ex.reporter._seen:
            ex.report(
                Problem(
                    "A404",
                    f"the iterable yielded {value!r}, not bytes",
                    "Iterator yielded non-bytestring (%r)" % (value,),
                ),
                "__next__()",
            )
        started = ex.started if not self._legacy_standalone else bool(self.check_start_response)
        if not started and self.check_start_response is not None:
            ex.report(
                Problem(
                    "A405",
                    "a body item came before start_response was called",
                    "The application returns and we started iterating over its "
                    "body, but start_response has not yet been called",
                ),
                "__next__()",
            )
        self.check_start_response = None
        if type(value) is bytes:
            ex.body_bytes(len(value), "__next__()")
        return value

    def close(self) -> None:
        ex = self._exchange
        if self.closed:
            ex.report(Problem("S205", "the server called close() a second time"), "close()")
            return
        self.closed = True
        close = getattr(self.original_iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                ex.report(Problem("A415", f"the iterable's close() raised {exc!r}"), "close()")
                raise
        ex.finish()

    def __del__(self) -> None:
        if not getattr(self, "closed", True):
            self._exchange.report(
                Problem(
                    "S207",
                    "the iterable was garbage collected without close()",
                    "Iterator garbage collected without being closed",
                ),
                "__del__()",
                deferred=True,
            )


class _FileWrapperMeta(type):
    """``isinstance(x, stand_in)`` answers for what the stand-in made (and, when the server's
    own ``wsgi.file_wrapper`` is a class, for its instances), as the server's class would."""

    _wrapper: Callable[..., Any]
    _exchange: _Exchange

    def __instancecheck__(cls, obj: Any) -> bool:
        if any(obj is made for made in cls._exchange.wrappers):
            return True
        wrapper = cls._wrapper
        return isinstance(wrapper, type) and isinstance(obj, wrapper)


class FileWrapperGuard(metaclass=_FileWrapperMeta):
    """Stands in for the server's ``wsgi.file_wrapper``: checks the file, remembers what it made.

    It is a class, not an instance: servers test ``isinstance(result, environ[
    "wsgi.file_wrapper"])`` after the application returns (gunicorn does), and that needs a
    class. :func:`file_wrapper_guard` makes one subclass per request; calling it returns the
    server's own wrapper object, never an instance of the guard.
    """

    __slots__ = ()

    def __new__(cls, filelike: Any, *args: Any) -> Any:
        if not hasattr(filelike, "read"):
            cls._exchange.report(
                Problem("A508", f"wsgi.file_wrapper({filelike!r}): no read()"),
                "wsgi.file_wrapper()",
            )
        made = cls._wrapper(filelike, *args)
        cls._exchange.wrappers.append(made)
        return made


def file_wrapper_guard(wrapper: Callable[..., Any], exchange: _Exchange) -> type:
    """A :class:`FileWrapperGuard` subclass calling ``wrapper`` for one request."""
    attrs = {"_wrapper": wrapper, "_exchange": exchange, "__slots__": (), "__module__": __name__}
    return _FileWrapperMeta("FileWrapperGuard", (FileWrapperGuard,), attrs)


# --------------------------------------------------------------------------- the middleware


class Validator:
    """Checks one WSGI application and the server calling it, per ``mode``.

    ``on_finding`` is called with each :class:`Finding` (after de-duplication per request).
    """

    def __init__(
        self,
        application: Callable[..., Any],
        *,
        mode: str = "raise",
        legacy: bool = False,
        on_finding: Optional[Callable[[Finding], None]] = None,
    ) -> None:
        if not callable(application):
            raise TypeError(f"application must be callable, not {application!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.application = application
        self.mode = mode
        self.legacy = legacy
        self.on_finding = on_finding

    def __call__(self, *args: Any, **kw: Any) -> Any:
        reporter = Reporter(self.mode, legacy=self.legacy, on_finding=self.on_finding)
        if len(args) != 2:
            reporter.report(
                Problem(
                    "A301",
                    f"the application got {len(args)} positional arguments",
                    "Two arguments required",
                ),
                "application()",
            )
        if kw:
            reporter.report(
                Problem(
                    "A301",
                    f"the application got keywords {sorted(kw)}",
                    "No keyword arguments allowed",
                ),
                "application()",
            )
        params = [*args, *kw.values()]
        if len(params) < 2:
            raise TypeError(f"a WSGI application takes (environ, start_response), got {params!r}")
        environ, start_response = params[0], params[1]
        ex = _Exchange(reporter, environ)
        reporter.report_all(environ_problems(environ, wsgiref=self.legacy), "environ")
        if isinstance(environ, dict):
            if "wsgi.input" in environ:
                guard = InputWrapper(environ["wsgi.input"])
                guard._exchange = ex
                environ["wsgi.input"] = guard
            if "wsgi.errors" in environ:
                errors = ErrorWrapper(environ["wsgi.errors"])
                errors._exchange = ex
                environ["wsgi.errors"] = errors
            if callable(environ.get("wsgi.file_wrapper")):
                environ["wsgi.file_wrapper"] = file_wrapper_guard(environ["wsgi.file_wrapper"], ex)

        def start_response_wrapper(*args: Any, **kw: Any) -> Any:
            where = "start_response()"
            if len(args) not in (2, 3):
                reporter.report(
                    Problem(
                        "A302",
                        f"start_response got {len(args)} arguments",
                        "Invalid number of arguments: %s" % (args,),
                    ),
                    where,
                )
            if kw:
                reporter.report(
                    Problem(
                        "A302",
                        f"start_response got keywords {sorted(kw)}",
                        "No keyword arguments allowed",
                    ),
                    where,
                )
            status = args[0] if args else None
            headers = args[1] if len(args) > 1 else []
            exc_info = args[2] if len(args) > 2 else kw.get("exc_info")
            where = f"start_response({status!r}, ...)"
            code, problems = status_problems(status)
            pairs, header_problems = headers_problems(headers)
            problems += header_problems
            if code is not None:
                problems += no_body_header_problems(code, pairs, wsgiref=self.legacy)
            problems += exc_info_problems(exc_info)
            if ex.started and exc_info is None:
                problems.append(
                    Problem("A303", "start_response called a second time without exc_info")
                )
            reporter.report_all(problems, where)
            sent_before = ex.headers_sent
            write = start_response(*args, **kw)
            if exc_info is not None and sent_before:
                reporter.report(
                    Problem(
                        "S204",
                        "start_response(..., exc_info) returned after "
                        "headers were sent instead of re-raising",
                    ),
                    where,
                )
            if not callable(write):
                reporter.report(Problem("S203", f"start_response returned {write!r}"), where)
            ex.started = True
            ex.code = code
            ex.headers = pairs
            lengths = [v for n, v in pairs if n.lower() == "content-length" and _is_digits(v)]
            ex.response_length = int(lengths[0]) if lengths else None
            guard = WriteWrapper(write)
            guard._exchange = ex
            return guard

        result = self.application(environ, start_response_wrapper)
        ex.returned = True
        ex.result = result
        problems = result_problems(result)
        reporter.report_all(problems, "application() result")
        if any(p.rule in ("A401", "A403") for p in problems):
            return result
        wrapped = IteratorWrapper(result, True)
        wrapped._exchange = ex
        wrapped._legacy_standalone = False
        return wrapped


def validator(application: Any) -> Any:
    """Wrap ``application`` like ``wsgiref.validate.validator``: raise on the first error.

    Checks wsgiref also makes raise ``AssertionError`` (a :class:`WSGIConformanceError`) with
    wsgiref's text; the rest raise :class:`WSGIConformanceError` naming the rule.
    """
    return Validator(application, mode="raise", legacy=True)


# --------------------------------------------------------------------------- wsgiref's API


def assert_(cond: Any, *args: Any) -> None:
    """wsgiref's helper: raise AssertionError(*args) unless ``cond``."""
    if not cond:
        raise AssertionError(*args)


def check_string_type(value: Any, title: str) -> str:
    """Return ``value`` if it is a ``str``; raise AssertionError naming ``title`` otherwise."""
    if type(value) is str:
        return value
    raise AssertionError(f"{title} must be of type str (got {value!r})")


def _raise_problems(problems: Iterable[Problem], where: str) -> None:
    Reporter("raise", legacy=True, raise_server_errors=True).report_all(problems, where)


def check_environ(environ: Any) -> None:
    """Raise on the first error in ``environ``; warn (WSGIWarning) on lesser problems."""
    _raise_problems(environ_problems(environ, wsgiref=True), "environ")


def check_input(wsgi_input: Any) -> None:
    _raise_problems(_input_problems(wsgi_input), "wsgi.input")


def check_errors(wsgi_errors: Any) -> None:
    _raise_problems(_errors_problems(wsgi_errors), "wsgi.errors")


def check_status(status: Any) -> None:
    _raise_problems(status_problems(status)[1], "status")


def check_headers(headers: Any) -> None:
    _raise_problems(headers_problems(headers)[1], "headers")


def check_content_type(status: Any, headers: Any) -> None:
    """Like wsgiref: Content-Type required, except on 204/304 where it is refused."""
    code, _ = status_problems(status)
    pairs, _ = headers_problems(headers)
    if code is None:
        return
    problems = no_body_header_problems(code, pairs, wsgiref=True)
    has_type = any(n.lower() == "content-type" for n, _ in pairs)
    if not has_type and code not in pep3333.NO_BODY_STATUSES:
        # wsgiref refuses a missing Content-Type outright; the engine only warns (A323)
        legacy = "No Content-Type header found in headers (%s)" % (headers,)
        raise _WsgirefAssertionError(
            Finding(RULES["A323"], "no Content-Type header", "headers", legacy)
        )
    _raise_problems(problems, "headers")


def check_exc_info(exc_info: Any) -> None:
    _raise_problems(exc_info_problems(exc_info), "exc_info")


def check_iterator(iterator: Any) -> None:
    _raise_problems(
        [p for p in result_problems(iterator) if p.rule == "A402"], "application() result"
    )
