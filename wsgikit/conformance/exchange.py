"""The state of one request/response passing through the validator, shared by its guards, and
the checks that need the whole exchange (body length against Content-Length, close()).
"""

# ruff: noqa: UP031  (the %-formatted texts are wsgiref.validate's, kept verbatim)
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from wsgikit.conformance.findings import Problem, Reporter
from wsgikit.http11.grammar import has_no_content, is_digits

__all__ = ["Exchange"]


class Exchange:
    """The state of one request/response passing through the validator."""

    def __init__(self, reporter: Reporter, environ: Any) -> None:
        self.reporter = reporter
        get = environ.get if isinstance(environ, Mapping) else (lambda key, default=None: default)
        self.method = get("REQUEST_METHOD", "")
        length = get("CONTENT_LENGTH", "")
        self.content_length: Optional[int] = (
            int(length) if type(length) is str and is_digits(length) else None
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
    def standalone(cls) -> Exchange:
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
        if code >= 100 and has_no_content(code):  # below 100 is A307's, not this
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
        bodiless = self.method == "HEAD" or has_no_content(code)
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
