"""``ValidatorMiddleware``: PEP 3333 checks on an app and the server calling it, in three modes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any, Callable, Optional

from wsgikit.conformance.pep3333 import INFO
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgikit.validate import MODES, Finding, Validator, WSGIConformanceError, WSGIWarning

__all__ = ["ValidatorMiddleware", "WSGIConformanceError", "WSGIWarning"]


class ValidatorMiddleware:
    """Check every request and response against PEP 3333 (see :mod:`wsgikit.conformance.pep3333`).

    ``mode="raise"``: an error raises :class:`WSGIConformanceError` (an ``AssertionError``),
    lesser findings warn. ``mode="warn"``: every finding is a :class:`WSGIWarning`.
    ``mode="report"``: nothing is raised or warned; findings are kept in ``findings`` (the first
    ``max_findings``) and counted per rule in ``counts``; ``summary()`` formats them.
    ``on_finding`` is called with each finding in every mode.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        mode: str = "raise",
        max_findings: int = 1000,
        on_finding: Optional[Callable[[Finding], None]] = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI callable, not {app!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if type(max_findings) is not int or max_findings < 0:
            raise ValueError(f"max_findings must be an int >= 0, not {max_findings!r}")
        if on_finding is not None and not callable(on_finding):
            raise TypeError(f"on_finding must be callable, not {on_finding!r}")
        self.app = app
        self.mode = mode
        self.max_findings = max_findings
        self.on_finding = on_finding
        self.findings: list[Finding] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._validator = Validator(app, mode=mode, on_finding=self._record)

    def _record(self, finding: Finding) -> None:
        with self._lock:
            self.counts[finding.rule.id] += 1
            if len(self.findings) < self.max_findings:
                self.findings.append(finding)
        if self.on_finding is not None:
            self.on_finding(finding)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        result: Iterable[bytes] = self._validator(environ, start_response)
        return result

    def problems(self, *, include_info: bool = False) -> list[Finding]:
        """Findings kept so far (INFO-level ones only if asked)."""
        with self._lock:
            return [f for f in self.findings if include_info or f.rule.level != INFO]

    def clear(self) -> None:
        """Forget every finding (e.g. between tests)."""
        with self._lock:
            self.findings.clear()
            self.counts.clear()

    def summary(self, *, include_info: bool = False) -> str:
        """One line per rule: ID, name, level, section, count and the first detail."""
        with self._lock:
            first: dict[str, Any] = {}
            for f in self.findings:
                first.setdefault(f.rule.id, f)
            counts = dict(self.counts)
        lines = [
            f"{rid} {f.rule.name} [{f.rule.level}] ({f.rule.section}) x{counts.get(rid, 0)}: "
            f"{f.detail} [in {f.where}]"
            for rid, f in sorted(first.items())
            if include_info or f.rule.level != INFO
        ]
        return "\n".join(lines) if lines else "no PEP 3333 problems found"
