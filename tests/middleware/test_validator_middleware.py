"""ValidatorMiddleware and wsgikit.conformance.testing.TestApp through WebTest."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import webtest

import sample_apps  # noqa: E402
from middleware.validator import ValidatorMiddleware
from sample_apps import hello, nonconformant
from wsgikit.validate import WSGIConformanceError, WSGIWarning


def hop_by_hop(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Keep-Alive", "timeout=5")])
    return [b"ok"]


def padded(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-A", " b")])
    return [b"ok"]


def test_raise_mode_raises_naming_rule_and_section() -> None:
    app = webtest.TestApp(ValidatorMiddleware(hop_by_hop), lint=False)
    with pytest.raises(WSGIConformanceError) as info:
        app.get("/")
    assert info.value.finding.rule.id == "A321"
    assert "PEP 3333: Other HTTP Features" in str(info.value)
    assert "Keep-Alive: timeout=5" in str(info.value)


def test_raise_mode_warns_on_should_rules() -> None:
    app = webtest.TestApp(ValidatorMiddleware(padded), lint=False)
    with pytest.warns(WSGIWarning, match=r"^A320 header-value-whitespace"):
        app.get("/")


def test_warn_mode_warns_and_serves() -> None:
    app = webtest.TestApp(ValidatorMiddleware(hop_by_hop, mode="warn"), lint=False)
    with pytest.warns(WSGIWarning, match=r"^A321 .*Keep-Alive"):
        res = app.get("/")
    assert res.body == b"ok"


def test_report_mode_collects_and_summarises() -> None:
    checked = ValidatorMiddleware(nonconformant.app, mode="report")
    app = webtest.TestApp(checked, lint=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.get("/")
        app.get("/again")
    ids = {f.rule.id for f in checked.problems()}
    assert {"A320", "A321", "A327", "A404", "A411"} <= ids
    assert checked.counts["A321"] == 2  # once per request
    summary = checked.summary()
    assert "A321 hop-by-hop-header [error] (PEP 3333: Other HTTP Features) x2" in summary
    checked.clear()
    assert checked.problems() == [] and checked.summary() == "no PEP 3333 problems found"


def test_report_mode_keeps_at_most_max_findings() -> None:
    checked = ValidatorMiddleware(hop_by_hop, mode="report", max_findings=2)
    app = webtest.TestApp(checked, lint=False)
    for _ in range(5):
        app.get("/")
    assert len(checked.findings) == 2
    assert checked.counts["A321"] == 5


def test_on_finding_callback_sees_every_finding() -> None:
    seen: list[str] = []
    checked = ValidatorMiddleware(hop_by_hop, mode="report", on_finding=lambda f: seen.append(
        f.rule.id))  # fmt: skip
    webtest.TestApp(checked, lint=False).get("/")
    assert seen == ["A321"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"mode": "loud"}, ValueError),
        ({"max_findings": -1}, ValueError),
        ({"max_findings": "3"}, ValueError),
        ({"on_finding": 3}, TypeError),
    ],
)
def test_options_are_validated(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        ValidatorMiddleware(hello.app, **kwargs)


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError):
        ValidatorMiddleware("not an app")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["raise", "warn", "report"])
def test_sample_apps_clean_through_webtest(mode: str) -> None:
    checked = ValidatorMiddleware(sample_apps.app, mode=mode)
    app = webtest.TestApp(checked)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        assert app.get("/").status_int == 200
        assert app.get("/hello/").status_int == 200
        assert app.get("/nope", status=404).status_int == 404
    assert checked.problems() == []


def test_wsgikit_testapp_validates_instead_of_lint() -> None:
    from wsgikit.conformance.testing import TestApp

    assert issubclass(TestApp, webtest.TestApp)
    app = TestApp(hello.app)
    assert app.lint is False
    assert app.get("/").status_int == 200
    with pytest.raises(WSGIConformanceError, match="A321"):
        TestApp(hop_by_hop).get("/")
    reporting = TestApp(nonconformant.app, validate="report")
    reporting.get("/")
    assert "A404" in {f.rule.id for f in reporting.problems()}
    with pytest.raises(ValueError):
        TestApp(hello.app, validate="sometimes")
