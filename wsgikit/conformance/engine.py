"""The validating middleware: :class:`Validator` wraps an application, checks every call in both
directions through the guards, and reports by mode; :func:`validator` is wsgiref's face of it.
"""

# ruff: noqa: UP031  (the %-formatted texts are wsgiref.validate's, kept verbatim)
from __future__ import annotations

from typing import Any, Callable, Optional

from wsgikit.conformance.environ_checks import environ_problems
from wsgikit.conformance.exchange import Exchange
from wsgikit.conformance.findings import MODES, Finding, Problem, Reporter
from wsgikit.conformance.iterable import IteratorWrapper, file_wrapper_guard
from wsgikit.conformance.response_checks import (
    exc_info_problems,
    headers_problems,
    no_body_header_problems,
    result_problems,
    status_problems,
)
from wsgikit.conformance.streams import ErrorWrapper, InputWrapper, WriteWrapper
from wsgikit.http11.grammar import is_digits

__all__ = ["Validator", "validator"]


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
        ex = Exchange(reporter, environ)
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
            lengths = [v for n, v in pairs if n.lower() == "content-length" and is_digits(v)]
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
