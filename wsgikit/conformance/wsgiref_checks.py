"""``wsgiref.validate``'s standalone helpers (``check_environ``, ``check_headers``...): the pure
checks, raising on the first error with wsgiref's text, as wsgiref does.
"""

# ruff: noqa: UP031  (the %-formatted texts are wsgiref.validate's, kept verbatim)
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wsgikit.conformance import pep3333
from wsgikit.conformance.environ_checks import environ_problems, errors_problems, input_problems
from wsgikit.conformance.findings import Finding, Problem, Reporter, WsgirefAssertionError
from wsgikit.conformance.pep3333 import RULES
from wsgikit.conformance.response_checks import (
    exc_info_problems,
    headers_problems,
    no_body_header_problems,
    result_problems,
    status_problems,
)

__all__ = ["assert_", "check_string_type", "check_environ", "check_input", "check_errors",
           "check_status", "check_headers", "check_content_type", "check_exc_info",
           "check_iterator"]  # fmt: skip


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
    _raise_problems(input_problems(wsgi_input), "wsgi.input")


def check_errors(wsgi_errors: Any) -> None:
    _raise_problems(errors_problems(wsgi_errors), "wsgi.errors")


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
        raise WsgirefAssertionError(
            Finding(RULES["A323"], "no Content-Type header", "headers", legacy)
        )
    _raise_problems(problems, "headers")


def check_exc_info(exc_info: Any) -> None:
    _raise_problems(exc_info_problems(exc_info), "exc_info")


def check_iterator(iterator: Any) -> None:
    _raise_problems(
        [p for p in result_problems(iterator) if p.rule == "A402"], "application() result"
    )
