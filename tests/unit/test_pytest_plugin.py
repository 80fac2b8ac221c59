"""The pytest plugin (``pytest11`` entry point) in a real inner pytest run (pytester)."""

from __future__ import annotations

from importlib.metadata import distributions

import pytest

pytest_plugins = ["pytester"]

BROKEN_APP = """
def hop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [b"ok"]

def good(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def _plugin_args() -> list[str]:
    """Load the plugin with -p only when the entry point is not installed (it normally is)."""
    names = {  # every distribution, as pytest's own loader sees them (no de-duplication)
        ep.value for dist in distributions() for ep in dist.entry_points if ep.group == "pytest11"
    }
    plugin = "wsgikit.conformance.pytest_plugin"
    return [] if plugin in names else ["-p", plugin]


def test_entry_point_is_declared() -> None:
    with open("setup.cfg", encoding="utf-8") as f:
        assert "pytest11 =\n    wsgikit = wsgikit.conformance.pytest_plugin" in f.read()


def test_wsgi_validator_fixture_fails_a_test_naming_the_rule(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(apps=BROKEN_APP)
    pytester.makepyfile(
        test_fixture="""
        from apps import good, hop

        def _call(app):
            body = []
            result = app({"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/",
                          "QUERY_STRING": "", "SERVER_NAME": "t", "SERVER_PORT": "80",
                          "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0),
                          "wsgi.url_scheme": "http", "wsgi.input": __import__("io").BytesIO(),
                          "wsgi.errors": __import__("io").StringIO(), "wsgi.multithread": False,
                          "wsgi.multiprocess": False, "wsgi.run_once": False},
                         lambda s, h, e=None: body.append)
            body.extend(result)
            result.close()
            return body

        def test_good(wsgi_validator):
            assert _call(wsgi_validator(good)) == [b"ok"]

        def test_hop(wsgi_validator):
            assert _call(wsgi_validator(hop)) == [b"ok"]
        """
    )
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*1 PEP 3333 problem(s) found by wsgikit's validator*",
            "*A321 hop-by-hop-header (PEP 3333: Other HTTP Features)*",
        ]
    )


WEBTEST_TESTS = """
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import webtest
from apps import good, hop

def test_good():
    assert webtest.TestApp(good).get("/").body == b"ok"

def test_hop():
    assert webtest.TestApp(hop).get("/").body == b"ok"
"""


def test_without_option_webtest_is_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(apps=BROKEN_APP, test_webtest=WEBTEST_TESTS)
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_option_raise_routes_webtest_through_the_validator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(apps=BROKEN_APP, test_webtest=WEBTEST_TESTS)
    result = pytester.runpytest(*_plugin_args(), "--wsgi-validate")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*WSGIConformanceError: A321 hop-by-hop-header*"])


def test_option_report_fails_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(apps=BROKEN_APP, test_webtest=WEBTEST_TESTS)
    result = pytester.runpytest(*_plugin_args(), "--wsgi-validate=report")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*1 PEP 3333 problem(s) found by --wsgi-validate*"])


def test_option_rejects_unknown_mode(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*_plugin_args(), "--wsgi-validate=loud")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*invalid choice*loud*"])
