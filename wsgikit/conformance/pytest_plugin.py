"""pytest plugin (entry point ``pytest11``): the ``wsgi_validator`` fixture, ``--wsgi-validate``.

``wsgi_validator(app)`` wraps an app in wsgikit's validator (report mode); when the test ends,
any finding above INFO level fails it with a report naming each rule and its PEP 3333 section.
``--wsgi-validate[=MODE]`` runs every ``webtest.TestApp`` request of the session through the
validator in MODE (``raise`` by default), replacing webtest.lint.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from wsgikit.conformance.engine import Validator
from wsgikit.conformance.findings import MODES, Finding
from wsgikit.conformance.pep3333 import INFO

__all__ = ["WSGIValidatorFixture", "pytest_addoption", "wsgi_validator"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsgikit")
    group.addoption(
        "--wsgi-validate",
        nargs="?",
        const="raise",
        default=None,
        choices=MODES,
        metavar="MODE",
        help="validate every webtest.TestApp request with wsgikit (raise, warn or report)",
    )


class WSGIValidatorFixture:
    """Wraps apps in the validator and keeps every finding of the test."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def __call__(self, app: Callable[..., Any], *, mode: str = "report") -> Validator:
        return Validator(app, mode=mode, on_finding=self.findings.append)

    def problems(self) -> list[Finding]:
        """Findings above INFO level."""
        return [f for f in self.findings if f.rule.level != INFO]

    def report(self) -> str:
        return "\n".join(str(f) for f in self.problems())


@pytest.fixture
def wsgi_validator() -> Iterator[WSGIValidatorFixture]:
    """``wsgi_validator(app)``: the app, validated; the test fails if any rule was broken."""
    fixture = WSGIValidatorFixture()
    yield fixture
    problems = fixture.problems()
    if problems:
        pytest.fail(
            f"{len(problems)} PEP 3333 problem(s) found by wsgikit's validator:\n"
            + fixture.report(),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _wsgikit_validate_webtest(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``--wsgi-validate``, route every webtest.TestApp request through the validator."""
    mode = request.config.getoption("--wsgi-validate")
    if mode is None:
        yield
        return
    try:
        with warnings.catch_warnings():  # webob imports the deprecated cgi module (3.11, 3.12)
            warnings.simplefilter("ignore", DeprecationWarning)
            import webtest
    except ImportError:
        yield
        return
    findings: list[Finding] = []
    original = webtest.TestApp.do_request

    def do_request(self: Any, req: Any, status: Any = None, expect_errors: Any = None) -> Any:
        inner, lint = self.app, self.lint
        self.app, self.lint = Validator(inner, mode=mode, on_finding=findings.append), False
        try:
            return original(self, req, status, expect_errors)
        finally:
            self.app, self.lint = inner, lint

    webtest.TestApp.do_request = do_request
    try:
        yield
    finally:
        webtest.TestApp.do_request = original
    problems = [f for f in findings if f.rule.level != INFO]
    if problems and mode == "report":
        pytest.fail(
            f"{len(problems)} PEP 3333 problem(s) found by --wsgi-validate:\n"
            + "\n".join(str(f) for f in problems),
            pytrace=False,
        )
