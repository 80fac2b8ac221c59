"""``wsgikit check``: the probe battery, the grouped report and the exit status."""

from __future__ import annotations

from typing import Any

import pytest

import sample_apps
from sample_apps import nonconformant
from wsgikit.checker import PROBES, probe_environ, run_check
from wsgikit.cli import main
from wsgikit.validate import environ_problems


def test_battery_covers_the_issue_list() -> None:
    names = " ".join(p.name for p in PROBES)
    for word in ("GET", "HEAD", "OPTIONS", "POST empty", "POST 10-byte", "POST 64 KiB",
                 "chunked", "odd query", "non-ASCII"):  # fmt: skip
        assert word in names


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe_environs_come_from_the_server_builder_and_are_clean(probe: Any) -> None:
    environ = probe_environ(probe)
    assert environ["wsgikit.queue_wait"] == 0.0  # built by wsgikit.environ.build_environ
    assert environ_problems(environ) == []


def test_chunked_probe_has_terminated_input_without_length() -> None:
    environ = probe_environ(next(p for p in PROBES if "chunked" in p.name))
    assert "CONTENT_LENGTH" not in environ
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.input"].read() == b"name=value&other=thing"


def test_non_ascii_path_is_latin1_bytes_in_str() -> None:
    environ = probe_environ(next(p for p in PROBES if "non-ASCII" in p.name))
    assert environ["PATH_INFO"] == "/caf\xc3\xa9/\xe2\x9c\x93"


CLEAN = [("index", sample_apps.app)] + [
    (name, app) for name, app, _ in sample_apps.SAMPLES if name != "nonconformant"
]


@pytest.mark.parametrize("app", [a for _, a in CLEAN], ids=[n for n, _ in CLEAN])
def test_sample_apps_come_out_clean(app: Any) -> None:
    report = run_check(app)
    assert report.problem_count() == 0, report.format()
    assert report.crashes == []
    assert report.probes == len(PROBES)


def test_nonconformant_sample_is_reported_grouped_by_rule() -> None:
    report = run_check(nonconformant.app)
    assert [r.id for r in report.rules()] == ["A320", "A321", "A327", "A404", "A411"]
    text = report.format()
    assert "A321 hop-by-hop-header [error] (PEP 3333: Other HTTP Features)" in text
    assert f"seen on all {len(PROBES)} probes" in text
    assert "hop-by-hop header Connection: close sent by the app" in text
    assert text.endswith(f"5 problem(s) found in {len(PROBES)} probes")


def test_crashing_app_is_reported() -> None:
    def crash(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("kaboom")

    report = run_check(crash)
    assert report.problem_count() == len(PROBES)
    assert "CRASH GET /: RuntimeError: kaboom" in report.format()


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "sample_apps:app"]) == 0
    out = capsys.readouterr().out
    assert "0 problem(s) found" in out
    assert main(["check", "sample_apps.nonconformant:app"]) == 1
    out = capsys.readouterr().out
    assert "A404 body-not-bytes [error]" in out
    assert main(["check", "sample_apps.hello:app", "--strict"]) == 1  # A414 (info) counts
    assert "A414 body-for-head [info]" in capsys.readouterr().out


def test_cli_bad_app_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "no_such_module_xyz:app"]) not in (0, 1)
    assert "no_such_module_xyz" in capsys.readouterr().err
