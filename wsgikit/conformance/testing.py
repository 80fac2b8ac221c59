"""``TestApp``: WebTest's ``TestApp`` validating through wsgikit, not webtest.lint.

WebTest is an optional extra (``pip install wsgikit[testing]``); it is imported the first time
``TestApp`` is looked up, so importing this module alone needs only the standard library.
"""

from __future__ import annotations

import warnings
from typing import Any

from wsgikit.conformance.engine import Validator
from wsgikit.conformance.findings import MODES, Finding
from wsgikit.conformance.pep3333 import INFO

__all__ = ["TestApp", "make_test_app_class"]  # noqa: F822 (TestApp is built lazily)


def make_test_app_class() -> type:
    """Build the ``TestApp`` class (a ``webtest.TestApp`` subclass); imports WebTest."""
    try:
        with warnings.catch_warnings():  # webob imports the deprecated cgi module (3.11, 3.12)
            warnings.simplefilter("ignore", DeprecationWarning)
            import webtest
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "wsgikit.conformance.testing.TestApp needs WebTest: pip install 'wsgikit[testing]'"
        ) from exc

    class TestApp(webtest.TestApp):  # type: ignore[misc]
        """A WebTest app whose every request runs through the validator.

        ``validate="raise"`` (default) raises :class:`~wsgikit.validate.WSGIConformanceError`
        on the first error; ``"warn"`` warns; ``"report"`` only collects into ``findings``.
        ``lint`` is always off: wsgikit's validator replaces webtest.lint.
        """

        __test__ = False

        def __init__(self, app: Any, *args: Any, validate: str = "raise", **kwargs: Any) -> None:
            if validate not in MODES:
                raise ValueError(f"validate must be one of {MODES}, not {validate!r}")
            kwargs["lint"] = False
            super().__init__(app, *args, **kwargs)
            self.validate = validate
            self.findings: list[Finding] = []

        def problems(self) -> list[Finding]:
            """Findings above INFO level collected so far."""
            return [f for f in self.findings if f.rule.level != INFO]

        def do_request(self, req: Any, status: Any = None, expect_errors: Any = None) -> Any:
            inner: Any = vars(self)["app"]
            self.app = Validator(inner, mode=self.validate, on_finding=self.findings.append)
            try:
                return super().do_request(req, status, expect_errors)
            finally:
                self.app = inner

    return TestApp


def __getattr__(name: str) -> Any:
    if name == "TestApp":
        cls = make_test_app_class()
        globals()["TestApp"] = cls
        return cls
    raise AttributeError(f"module 'wsgikit.conformance.testing' has no attribute {name!r}")
