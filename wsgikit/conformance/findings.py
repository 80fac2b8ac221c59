"""What a check finds and where it goes: :class:`Problem` (from a pure check), :class:`Finding`
(a reported problem), the :class:`Reporter` that raises, warns or only collects by mode.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

from wsgikit.conformance.pep3333 import ERROR, INFO, RULES, Rule

__all__ = ["MODES", "WSGIWarning", "Problem", "Finding", "WSGIConformanceError",
           "WsgirefAssertionError", "Reporter"]  # fmt: skip

#: How a :class:`Reporter` treats findings: raise errors, warn everything, or only collect.
MODES = ("raise", "warn", "report")


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


class WsgirefAssertionError(WSGIConformanceError):
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
                raise WsgirefAssertionError(finding)
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
