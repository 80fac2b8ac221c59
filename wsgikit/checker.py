"""The engine of ``wsgikit check MODULE:APP``: a battery of requests through the validator.

Each probe is a raw HTTP/1.1 request, parsed by :class:`wsgikit.http11.RequestParser` and turned
into an environ by :func:`wsgikit.environ.build_environ`, exactly as the server would. The app
runs under :class:`wsgikit.validate.Validator` in ``report`` mode, the response is drained and
closed as a server would, and the findings are grouped by rule.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from wsgikit.environ import base_environ, build_environ
from wsgikit.http11 import NEED_DATA, BodyChunk, EndOfMessage, RequestHead, RequestParser
from wsgikit.pep3333 import INFO, Rule
from wsgikit.validate import Finding, Validator

__all__ = ["Probe", "PROBES", "CheckReport", "run_check", "probe_environ"]


@dataclass(frozen=True)
class Probe:
    """One request of the battery: a name for the report and the raw request bytes."""

    name: str
    raw: bytes


def _request(method: str, target: str, body: bytes = b"", *, chunked: bool = False) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: check.invalid\r\nUser-Agent: wsgikit-check\r\n"
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


#: The battery: methods, body sizes, a chunked body, odd paths and queries, non-ASCII paths.
PROBES: tuple[Probe, ...] = (
    Probe("GET /", _request("GET", "/")),
    Probe("HEAD /", _request("HEAD", "/")),
    Probe("OPTIONS *", _request("OPTIONS", "*")),
    Probe("OPTIONS /", _request("OPTIONS", "/")),
    Probe("GET /missing (404 path)", _request("GET", "/no/such/path/here")),
    Probe("POST empty body", _request("POST", "/", b"")),
    Probe("POST 10-byte body", _request("POST", "/", b"a=1&b=2345")),
    Probe("POST 64 KiB body", _request("POST", "/", b"x=" + b"y" * 65534)),
    Probe("POST chunked body", _request("POST", "/", b"name=value&other=thing", chunked=True)),
    Probe("PUT body", _request("PUT", "/", b"z" * 300)),
    Probe("DELETE /", _request("DELETE", "/")),
    Probe("GET odd query", _request("GET", "/?a=1&a=2&b=&=c&%zz&q=%E2%9C%93")),
    Probe("GET encoded slash", _request("GET", "/a%2Fb/../c/./d//e")),
    Probe("GET non-ASCII path", _request("GET", "/caf%C3%A9/%E2%9C%93")),
    Probe("GET latin-1 path bytes", _request("GET", "/%FF%00x")),
    Probe("GET long path", _request("GET", "/" + "seg/" * 200)),
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


def probe_environ(probe: Probe, *, errors: Any = None) -> dict[str, Any]:
    """The environ the wsgikit server would build for ``probe`` (body in a BytesIO)."""
    head, body = _parse(probe.raw)
    base = base_environ(
        server_name="check.invalid",
        server_port="80",
        errors=io.StringIO() if errors is None else errors,
        multithread=True,
    )
    return build_environ(
        head, base, wsgi_input=io.BytesIO(body), remote_addr="127.0.0.1", remote_port="50000"
    )


@dataclass
class CheckReport:
    """Findings of a check run, grouped by rule, with the probes each was seen on."""

    by_rule: dict[str, list[tuple[str, Finding]]] = field(default_factory=dict)
    crashes: list[tuple[str, str]] = field(default_factory=list)
    probes: int = 0

    def add(self, probe: str, finding: Finding) -> None:
        self.by_rule.setdefault(finding.rule.id, []).append((probe, finding))

    def rules(self, *, include_info: bool = False) -> list[Rule]:
        found = [items[0][1].rule for items in self.by_rule.values()]
        return sorted((r for r in found if include_info or r.level != INFO), key=lambda r: r.id)

    def problem_count(self, *, include_info: bool = False) -> int:
        return len(self.rules(include_info=include_info)) + len(self.crashes)

    def format(self, *, include_info: bool = False, examples: int = 3) -> str:
        """The text report: one block per rule, its section, and where it happened."""
        lines: list[str] = []
        for r in self.rules(include_info=include_info):
            items = self.by_rule[r.id]
            lines.append(f"{r.id} {r.name} [{r.level}] ({r.section}): {r.title}")
            probes = sorted({p for p, _ in items})
            if len(probes) == self.probes:
                lines.append(f"    seen on all {self.probes} probes")
            else:
                lines.append(
                    f"    seen on {len(probes)} of {self.probes} probes: {', '.join(probes)}"
                )
            for probe, finding in items[:examples]:
                lines.append(f"    - {probe}: {finding.detail} [in {finding.where}]")
        for probe, error in self.crashes:
            lines.append(f"CRASH {probe}: {error}")
        n = self.problem_count()
        notes = len(self.rules(include_info=True)) - len(self.rules())
        tail = f", {notes} info-level note(s)" if notes and include_info else ""
        lines.append(f"{n} problem(s) found in {self.probes} probes{tail}")
        return "\n".join(lines)


def _drive(app: Callable[..., Any], environ: dict[str, Any]) -> None:
    """Call ``app`` as a server does: start_response, drain the iterable, close it."""
    state: dict[str, Any] = {"sent": False}
    body: list[bytes] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        if exc_info is not None and state["sent"]:
            raise exc_info[1].with_traceback(exc_info[2])
        return body.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                state["sent"] = True
            body.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def run_check(app: Callable[..., Any], probes: Iterable[Probe] = PROBES) -> CheckReport:
    """Run every probe through ``app`` under the validator; return the grouped findings."""
    report = CheckReport()
    for probe in probes:
        report.probes += 1
        environ = probe_environ(probe)
        found: list[Finding] = []
        validated = Validator(app, mode="report", on_finding=found.append)
        try:
            _drive(validated, environ)
        except Exception as exc:  # the app crashed: that is a finding too
            report.crashes.append((probe.name, f"{type(exc).__name__}: {exc}"))
        for finding in found:
            report.add(probe.name, finding)
    return report
