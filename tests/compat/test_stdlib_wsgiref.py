"""The yardstick: CPython's own test_wsgiref.py must pass against wsgikit's modules.

The file is loaded from the running interpreter's standard library (see yardstick.py), its
``wsgiref`` imports are pointed at wsgikit, and every test in it is run with unittest. Any
failure, error, skip or unexpected success fails this test, with unittest's report attached.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import unittest

import pytest

from tests.compat import yardstick
from tests.conftest import IN_CI

pytestmark = pytest.mark.compat


def _load() -> object:
    try:
        return yardstick.load_test_wsgiref()
    except yardstick.TestSuiteMissing as exc:
        message = f"{exc} (make test installs libpython3.X-testsuite with apt-get)"
        if IN_CI:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    except ImportError as exc:
        pytest.fail(
            f"a wsgikit module that test_wsgiref needs cannot be imported ({exc}); "
            "the yardstick never falls back to the standard library's wsgiref",
            pytrace=False,
        )


def test_aliases_point_at_wsgikit() -> None:
    """The loaded module's names are wsgikit's objects, not the standard library's."""
    import wsgikit.handlers
    import wsgikit.headers
    import wsgikit.simple_server
    import wsgikit.util
    import wsgikit.validate

    module = _load()
    expected = {
        "make_server": wsgikit.simple_server.make_server,
        "WSGIServer": wsgikit.simple_server.WSGIServer,
        "WSGIRequestHandler": wsgikit.simple_server.WSGIRequestHandler,
        "Headers": wsgikit.headers.Headers,
        "BaseHandler": wsgikit.handlers.BaseHandler,
        "BaseCGIHandler": wsgikit.handlers.BaseCGIHandler,
        "SimpleHandler": wsgikit.handlers.SimpleHandler,
        "setup_testing_defaults": wsgikit.util.setup_testing_defaults,
        "util": wsgikit.util,
        "validator": wsgikit.validate.validator,
    }
    for name, obj in expected.items():
        assert getattr(module, name) is obj, f"test_wsgiref's {name} is not wsgikit's"


def test_missing_target_module_fails_instead_of_falling_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If a wsgikit module cannot be imported, loading fails; the stdlib is never used."""
    monkeypatch.setitem(yardstick.ALIASES, "wsgiref.util", "wsgikit._no_such_module")
    with pytest.raises(ImportError, match="wsgikit._no_such_module"):
        yardstick.load_test_wsgiref()
    assert "wsgikit._no_such_module" not in sys.modules
    assert sys.modules.get("wsgiref") is None or sys.modules["wsgiref"].__file__


def test_missing_test_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Lib/test (Debian's libpython3.X-testsuite) the loader says so by name."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(yardstick.TestSuiteMissing, match="test_wsgiref"):
        yardstick.find_test_wsgiref()


def test_stdlib_test_wsgiref_passes_on_wsgikit() -> None:
    """Run every test of CPython's test_wsgiref; all must pass."""
    module = _load()
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)  # type: ignore[arg-type]
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=2, warnings="error").run(suite)
    report = stream.getvalue()
    problems = (
        len(result.failures) + len(result.errors) + len(result.skipped)
        + len(result.unexpectedSuccesses) + len(result.expectedFailures)
    )  # fmt: skip
    assert result.testsRun > 0, "test_wsgiref ran no tests\n" + report
    assert problems == 0, (
        f"test_wsgiref on wsgikit: {result.testsRun} run, {len(result.failures)} failed, "
        f"{len(result.errors)} errors, {len(result.skipped)} skipped\n{report}"
    )
    line = f"test_wsgiref: {result.testsRun} tests passed (CPython's Lib/test/test_wsgiref.py)"
    yardstick.RESULTS.append(line)
    print(line)
