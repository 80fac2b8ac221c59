"""The engine of ``wsgikit check MODULE:APP``: a battery of requests through the validator.

Each probe is a raw HTTP/1.1 request, parsed by :class:`wsgikit.http11.RequestParser` and
turned into an environ by :func:`~wsgikit.server.environ.build_environ`, exactly as the server
would. The app runs under :class:`~wsgikit.conformance.engine.Validator` in ``report`` mode,
the response is drained and closed as a server would, and the findings are grouped by rule.
What the app prints or logs while a probe runs (tracebacks included) is captured into the
report, never left on the terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from wsgikit.conformance.engine import Validator
from wsgikit.conformance.findings import Finding
from wsgikit.conformance.pep3333 import INFO, Rule
from wsgikit.http11 import NEED_DATA, BodyChunk, EndOfMessage, RequestHead, RequestParser
from wsgikit.http11.errors import ProtocolError
from wsgikit.http11.grammar import is_digits
from wsgikit.server.environ import base_environ, build_environ

__all__ = [
    "Probe", "PROBES", "DEFAULT_HOST", "ProbeResult", "AppOutput", "CheckReport", "run_check",
    "probe_environ", "probe_request", "Response", "drive",
]  # fmt: skip

#: The Host the probes send unless told otherwise: one that frameworks accept in development
#: (Django's empty ALLOWED_HOSTS with DEBUG, Flask's and Pyramid's defaults all take it).
DEFAULT_HOST = "localhost"


@dataclass(frozen=True)
class Probe:
    """One request of the battery: a name for the report and what to send.

    ``edge`` marks a request that is hostile or odd on purpose (an undecodable path, a NUL byte):
    an app may refuse it by raising, which the server turns into a 500, so an exception there is
    reported as an info note rather than a problem.
    """

    name: str
    method: str
    target: str
    body: bytes = b""
    chunked: bool = False
    edge: bool = False

    def raw(self, host: str = DEFAULT_HOST) -> bytes:
        """The request bytes, sent with ``Host: host``."""
        return probe_request(self.method, self.target, self.body, chunked=self.chunked, host=host)


def probe_request(
    method: str, target: str, body: bytes = b"", *, chunked: bool = False, host: str = DEFAULT_HOST
) -> bytes:
    """Raw HTTP/1.1 request bytes: ``Content-Length`` or chunked framing for ``body``."""
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wsgikit-check\r\n"
    if chunked:
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7])
            for i in range(0, len(body), 7)
        )
        return (
            (
                head
                + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode("latin-1")
            + chunks
            + b"0\r\n\r\n"
        )
    if body or method in ("POST", "PUT"):
        head += (
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        )
    return (head + "\r\n").encode("latin-1") + body


#: The battery: methods, body sizes, a chunked body, odd paths and queries, non-UTF-8 paths.
#: A request-target is ASCII (RFC 9112 §3.2; wsgikit answers raw non-ASCII bytes with 400), so
#: bytes that are not UTF-8 reach an app percent-encoded and arrive in PATH_INFO as latin-1.
PROBES: tuple[Probe, ...] = (
    Probe("GET /", "GET", "/"),
    Probe("HEAD /", "HEAD", "/"),
    Probe("OPTIONS *", "OPTIONS", "*"),
    Probe("OPTIONS /", "OPTIONS", "/"),
    Probe("GET /missing (404 path)", "GET", "/no/such/path/here"),
    Probe("POST empty body", "POST", "/", b""),
    Probe("POST 10-byte body", "POST", "/", b"a=1&b=2345"),
    Probe("POST 64 KiB body", "POST", "/", b"x=" + b"y" * 65534),
    Probe("POST chunked body", "POST", "/", b"name=value&other=thing", chunked=True),
    Probe("PUT body", "PUT", "/", b"z" * 300),
    Probe("DELETE /", "DELETE", "/"),
    Probe("GET odd query", "GET", "/?a=1&a=2&b=&=c&%zz&q=%E2%9C%93", edge=True),
    Probe("GET encoded slash", "GET", "/a%2Fb/../c/./d//e", edge=True),
    Probe("GET non-ASCII path (UTF-8, %C3%A9)", "GET", "/caf%C3%A9/%E2%9C%93"),
    Probe("GET non-UTF-8 path (%FF, latin-1 in PATH_INFO)", "GET", "/caf%E9/%FFx", edge=True),
    Probe("GET NUL in path (%00)", "GET", "/a%00b", edge=True),
    Probe("GET long path", "GET", "/" + "seg/" * 200, edge=True),
)


def _parse(raw: bytes) -> tuple[RequestHead, bytes]:
    parser = RequestParser()
    parser.feed(raw)
    head: Optional[RequestHead] = None
    body = bytearray()
    while True:
        event = parser.next_event()
        if isinstance(event, RequestHead):
            head = event
        elif isinstance(event, BodyChunk):
            body += event.data
        elif isinstance(event, EndOfMessage) or event is NEED_DATA:
            break
    if head is None:
        raise ValueError(f"probe did not parse: {raw[:60]!r}")
    return head, bytes(body)


def _server_name_port(host: str, default_port: int = 80) -> tuple[str, str]:
    """``SERVER_NAME`` and ``SERVER_PORT`` for ``Host: host`` (the scheme's when it names none)."""
    try:
        parts = urlsplit("//" + host)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid host: {host!r} ({exc})") from None
    name = host.rsplit(":", 1)[0] if port is not None else host
    if not name or parts.path or parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"not a valid host: {host!r} (expected NAME or NAME:PORT)")
    return name, str(port or default_port)


def probe_environ(
    probe: Probe, *, host: str = DEFAULT_HOST, scheme: str = "http", errors: Any = None
) -> dict[str, Any]:
    """The environ the wsgikit server would build for ``probe`` (body in a BytesIO).

    ``scheme="https"`` gives what wsgikit's TLS listener adds (``wsgi.url_scheme``, ``HTTPS``).
    Raises ``ValueError`` naming the problem when ``host`` or ``scheme`` is not valid.
    """
    if scheme not in ("http", "https"):
        raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
    server_name, server_port = _server_name_port(host, 443 if scheme == "https" else 80)
    try:
        head, body = _parse(probe.raw(host))
    except (ValueError, ProtocolError) as exc:  # only the host can make a probe fail to parse
        raise ValueError(f"not a valid host: {host!r} ({exc})") from None
    base = base_environ(
        server_name=server_name,
        server_port=server_port,
        url_scheme=scheme,
        errors=io.StringIO() if errors is None else errors,
        multithread=True,
        extra={"HTTPS": "on"} if scheme == "https" else None,
    )
    return build_environ(
        head, base, wsgi_input=io.BytesIO(body), remote_addr="127.0.0.1", remote_port="50000"
    )


@dataclass
class ProbeResult:
    """What one probe got: the status the server would send, findings, exception, app output."""

    probe: Probe
    status: Optional[str] = None  # the status line; "500 Internal Server Error" if the app raised
    findings: list[Finding] = field(default_factory=list)
    raised: Optional[str] = None  # "Type: message" of an exception that escaped the app
    traceback: str = ""
    aborted: bool = False  # the app raised after the headers were sent: the server cuts the body
    location: Optional[str] = None  # the Location header of a redirect
    output: str = ""  # what the app wrote to wsgi.errors, stdout, stderr or a logging stream

    @property
    def code(self) -> Optional[int]:
        """The status code, or None if the app never called ``start_response``."""
        head = (self.status or "")[:3]
        return int(head) if is_digits(head) else None


@dataclass(frozen=True)
class AppOutput:
    """One distinct block the app printed or logged, shown once, with the probes it came from."""

    summary: str  # its last line: for a traceback, the exception
    text: str  # the first full copy
    probes: tuple[str, ...]


def _summary_line(text: str) -> str:
    """The line that says what a block of output is: a traceback's exception, else the last."""
    lines = [line for line in text.splitlines() if line.strip()]
    start = max((i for i, line in enumerate(lines) if line.startswith("Traceback (")), default=-1)
    if start >= 0:
        for line in lines[start + 1 :]:
            if not line[:1].isspace():
                return line.strip()
    return lines[-1].strip() if lines else ""


@dataclass
class CheckReport:
    """Findings of a check run, grouped by rule; each probe's status and what the app printed."""

    host: str = DEFAULT_HOST
    scheme: str = "http"
    results: list[ProbeResult] = field(default_factory=list)
    by_rule: dict[str, list[tuple[str, Finding]]] = field(default_factory=dict)

    @property
    def probes(self) -> int:
        return len(self.results)

    def add(self, result: ProbeResult) -> None:
        self.results.append(result)
        for finding in result.findings:
            self.by_rule.setdefault(finding.rule.id, []).append((result.probe.name, finding))

    def rules(self, *, include_info: bool = False) -> list[Rule]:
        found = [items[0][1].rule for items in self.by_rule.values()]
        return sorted((r for r in found if include_info or r.level != INFO), key=lambda r: r.id)

    def crashes(self, *, include_info: bool = False) -> list[ProbeResult]:
        """Probes where an exception escaped the app (on ``edge`` probes: info level)."""
        return [
            r for r in self.results if r.raised and (include_info or not r.probe.edge)
        ]

    def problem_count(self, *, include_info: bool = False) -> int:
        return len(self.rules(include_info=include_info)) + len(
            self.crashes(include_info=include_info)
        )

    @property
    def error_pages_only(self) -> bool:
        """True when no probe got a real page: every answer was a 4xx/5xx or a redirect."""
        codes = [r.code for r in self.results]
        return bool(codes) and all(c is None or c >= 300 for c in codes)

    def status_counts(self) -> dict[str, int]:
        """How many probes got each status code ("none" when start_response was never called)."""
        counts: dict[str, int] = {}
        for r in self.results:
            key = str(r.code) if r.code is not None else "none"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def app_output(self) -> list[AppOutput]:
        """What the app printed or logged, once per kind, with the probes that produced it.

        The kind of a block is the part of its last line before ``": "``: the exception type
        for a traceback, the message for a log line such as ``Not Found: /path``.
        """
        groups: dict[str, tuple[str, str, list[str]]] = {}
        for r in self.results:
            for text in (r.output, r.traceback):
                last = _summary_line(text)
                if not last:
                    continue
                _, summary, probes = groups.setdefault(
                    last.split(": ", 1)[0], (text.rstrip("\n"), last, [])
                )
                if r.probe.name not in probes:
                    probes.append(r.probe.name)
        return [AppOutput(s, t, tuple(p)) for t, s, p in groups.values()]

    def error_pages_reason(self) -> str:
        """The loud warning printed when only error pages were reached, with the app's words."""
        counts = ", ".join(f"{code} x{n}" for code, n in self.status_counts().items())
        redirect = next((r.location for r in self.results if r.location), None)
        if redirect is None:
            text = (
                f"WARNING: the check only reached error pages: is the host allowed? Every one of "
                f"the {self.probes} probes was answered 4xx/5xx ({counts}), so the findings say "
                f"nothing about the app's real pages. The probes sent 'Host: {self.host}'; pass "
                f"--host NAME with a host the app accepts (e.g. one in Django's ALLOWED_HOSTS)."
            )
        else:
            text = (
                f"WARNING: the check only reached redirects and error pages: is the host "
                f"allowed, does the app redirect every request? Every one of the {self.probes} "
                f"probes was answered 3xx/4xx/5xx ({counts}), so the findings say nothing about "
                f"the app's real pages. The probes sent '{self.scheme}://{self.host}'; the app "
                f"redirected to {redirect!r}."
            )
            if self.scheme == "http" and redirect.startswith("https:"):
                text += " Pass --scheme https for an app that only answers https."
        output = self.app_output()
        if output:
            top = max(output, key=lambda o: len(o.probes))
            text += f"\nThe app said ({len(top.probes)} of {self.probes} probes): {top.summary}"
        return text

    def exit_status(self, *, strict: bool = False) -> int:
        """0 clean, 1 problems found, 3 only error pages were reached (the check proved nothing)."""
        if self.error_pages_only:
            return 3
        return 1 if self.problem_count(include_info=strict) else 0

    def format(self, *, include_info: bool = False, examples: int = 3) -> str:
        """The text report: probe statuses, one block per rule, app output once per kind."""
        from wsgikit.ops.checkreport import format_text

        return format_text(self, include_info=include_info, examples=examples)


class Response:
    """The server's side of one call: the status, headers and body chunks the app gave."""

    def __init__(self) -> None:
        self.status: Optional[str] = None
        self.headers: list[Any] = []
        self.chunks: list[Any] = []
        self.sent = False  # body bytes went out: a later exc_info must be re-raised

    def start_response(self, status: str, headers: list[Any], exc_info: Any = None) -> Any:
        if exc_info is not None and self.sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, list(headers)
        return self.write

    def write(self, data: Any) -> None:
        self.chunks.append(data)
        if data:
            self.sent = True


def drive(
    app: Callable[..., Any], environ: dict[str, Any], response: Optional[Response] = None
) -> Response:
    """Call ``app`` as a server does: start_response, drain the iterable, close it.

    Exceptions from the app propagate; pass ``response`` to see how far it got.
    """
    response = Response() if response is None else response
    result = app(environ, response.start_response)
    try:
        for chunk in result:
            response.write(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return response


@contextlib.contextmanager
def _captured_output() -> Iterator[list[str]]:
    """Capture what is written to stdout and stderr, at the Python and the file-descriptor level.

    The descriptor level catches logging handlers that kept a reference to the real
    ``sys.stderr`` (Django's console handler does), which swapping ``sys.stderr`` alone misses.
    The captured text is appended to the yielded list on exit.
    """
    out: list[str] = []
    py_out, py_err = io.StringIO(), io.StringIO()
    saved: list[tuple[int, int]] = []
    streams = [s for s in (sys.__stdout__, sys.__stderr__, sys.stdout, sys.stderr) if s]
    with tempfile.TemporaryFile() as tmp:
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(tmp.fileno(), fd)
            except OSError:  # no such descriptor (e.g. pythonw): the Python level still works
                continue
        try:
            with contextlib.redirect_stdout(py_out), contextlib.redirect_stderr(py_err):
                yield out
        finally:
            for stream in streams:
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))
            out.append(py_out.getvalue())
            out.append(py_err.getvalue())


def run_check(
    app: Callable[..., Any],
    probes: Iterable[Probe] = PROBES,
    *,
    host: str = DEFAULT_HOST,
    scheme: str = "http",
) -> CheckReport:
    """Run every probe through ``app`` under the validator; return the grouped findings.

    Raises ``ValueError`` when ``host`` is not a valid Host header value or ``scheme`` is not
    http or https.
    """
    report = CheckReport(host=host, scheme=scheme)
    for probe in probes:
        errors = io.StringIO()
        environ = probe_environ(probe, host=host, scheme=scheme, errors=errors)
        result = ProbeResult(probe)
        response = Response()
        validated = Validator(app, mode="report", on_finding=result.findings.append)
        with _captured_output() as captured:
            try:
                drive(validated, environ, response)
            except Exception as exc:  # the app raised: the server would answer 500 or cut it
                result.raised = f"{type(exc).__name__}: {exc}"
                result.traceback = traceback.format_exc()
                result.aborted = response.sent
                if not response.sent:
                    response.status = "500 Internal Server Error"
        result.status = response.status
        result.location = next(
            (str(v) for n, v in response.headers if str(n).lower() == "location"), None
        )
        result.output = "".join([errors.getvalue(), *captured])
        report.add(result)
    return report
