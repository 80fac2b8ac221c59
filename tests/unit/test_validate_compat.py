"""wsgikit.validate as wsgiref.validate: same names, same AssertionError texts, same verdicts.

The last test runs CPython's Lib/test/test_wsgiref.py with only ``wsgiref.validate`` pointed at
wsgikit.validate (the rest stays the standard library's), so a failure is the validator's own.
"""

from __future__ import annotations

import io
import pickle
import sys
import traceback
import types
import unittest
import wsgiref.validate as stdlib_validate
from typing import Any

import pytest

import wsgikit.validate as ours
from tests.conftest import require_module
from wsgikit.validate import WSGIConformanceError


def _last_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].rstrip("\n")


def _environ() -> dict[str, Any]:
    env: dict[str, Any] = {}
    from wsgiref.util import setup_testing_defaults

    setup_testing_defaults(env)
    env["QUERY_STRING"] = ""
    return env


def _call(validate: Any, app: Any) -> BaseException:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return lambda data: None

    with pytest.raises(AssertionError) as info:
        result = validate(app)(_environ(), start_response)
        try:
            list(result)
        finally:
            result.close()
    return info.value


def test_public_names_match_wsgiref() -> None:
    names = [n for n in dir(stdlib_validate) if not n.startswith("_")]
    missing = [n for n in names if not hasattr(ours, n) and n not in ("re", "sys", "warnings")]
    assert missing == []
    assert issubclass(WSGIConformanceError, AssertionError)
    assert issubclass(ours.WSGIWarning, Warning)


@pytest.mark.parametrize(
    "app",
    [
        lambda e, s: (s("200 OK", ("Content-Type", "text/plain")), [b"x"])[1],  # headers tuple
        lambda e, s: (s("200 OK", [("Content-Type", "text/plain")]), ["str"])[1],  # str item
        lambda e, s: (e["wsgi.input"].read(), s("200 OK", []), [b""])[2],  # read() no size
        lambda e, s: (e["wsgi.input"].close(), [b""])[1],  # input.close()
        lambda e, s: (s("200 OK", [("Status", "200"), ("Content-Type", "t/p")]), [])[1],
        lambda e, s: (s("99 OK", [("Content-Type", "t/p")]), [])[1],
        lambda e, s: None,
    ],
    ids=["headers-tuple", "str-item", "read-no-size", "input-close", "status-header",
         "status-code", "none"],
)  # fmt: skip
def test_same_exception_text_as_wsgiref(app: Any) -> None:
    """For every check wsgiref makes, the traceback's last line is identical to wsgiref's."""
    theirs = _call(stdlib_validate.validator, app)
    mine = _call(ours.validator, app)
    assert _last_line(mine) == _last_line(theirs)
    assert isinstance(mine, WSGIConformanceError)
    assert mine.finding.rule.id  # the rule is still named on the exception object


def test_legacy_error_pickles_as_conformance_error() -> None:
    err = _call(ours.validator, lambda e, s: None)
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is WSGIConformanceError
    assert clone.finding.rule.id == "A401"


def test_extra_checks_raise_conformance_error_naming_the_rule() -> None:
    err = _call(ours.validator, lambda e, s: (s("200 OK", [("Connection", "close")]), [])[1])
    assert type(err) is WSGIConformanceError
    assert str(err).startswith("A321 hop-by-hop-header (PEP 3333: Other HTTP Features)")


def test_check_functions_raise_like_wsgiref() -> None:
    with pytest.raises(AssertionError, match="Headers"):
        ours.check_headers(("a", "b"))
    with pytest.raises(AssertionError, match="No Content-Type"):
        ours.check_content_type("200 OK", [])
    ours.check_content_type("204 No Content", [])
    ours.check_status("200 OK")
    ours.check_environ(_environ())
    with pytest.raises(AssertionError):
        ours.check_environ({"REQUEST_METHOD": "GET"})
    with pytest.raises(AssertionError, match="exc_info"):
        ours.check_exc_info("bad")
    with pytest.raises(AssertionError):
        ours.check_iterator("a string")
    ours.check_input(io.BytesIO())
    with pytest.raises(AssertionError):
        ours.check_errors(object())


def test_cpython_test_wsgiref_with_only_validate_swapped() -> None:
    require_module("test.test_wsgiref")
    import test.test_wsgiref as original

    with open(original.__file__, encoding="utf-8") as f:
        source = f.read()
    saved = sys.modules.get("wsgiref.validate")
    sys.modules["wsgiref.validate"] = ours
    try:
        module = types.ModuleType("test_wsgiref_validate_swapped")
        module.__file__ = original.__file__
        exec(compile(source, original.__file__, "exec"), module.__dict__)
    finally:
        if saved is not None:
            sys.modules["wsgiref.validate"] = saved
    assert module.validator is ours.validator
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
    assert result.wasSuccessful(), stream.getvalue()
    assert result.testsRun >= 30 and not result.skipped
