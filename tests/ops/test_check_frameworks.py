"""``wsgikit check`` as a new user runs it, on framework apps nobody here wrote.

A fresh ``django-admin startproject`` (generated per test) must be reached for real with the
default host, and a host Django refuses must fail loudly (exit 3, saying why) instead of a
"clean" report on 400 pages. The Flask, Bottle and Pyramid apps of tests/support/frameworks
go through the same command. Each run is a real ``python -m wsgikit check`` process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_module
from tests.support.frameworks import FACTORIES

ROOT = Path(__file__).resolve().parents[2]


def wsgikit_check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsgikit", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def django_project(tmp_path: Path) -> Path:
    """``django-admin startproject mysite`` in a temporary directory, untouched."""
    require_module("django")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)],
        check=True,
        timeout=60,
    )
    assert (tmp_path / "mysite" / "wsgi.py").exists()
    return tmp_path


def statuses(doc: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["code"] for p in doc["probes"]}


def test_fresh_django_project_is_reached_with_the_default_host(django_project: Path) -> None:
    run = wsgikit_check("mysite.wsgi:application", "--format", "json", cwd=django_project)
    doc = json.loads(run.stdout)
    assert run.returncode == doc["exit_status"] == 0, run.stdout
    assert doc["host"] == "localhost" and not doc["error_pages_only"]
    codes = statuses(doc)
    assert codes["GET /"] == 200  # Django's "install worked" page, not an error page
    assert codes["HEAD /"] == 200
    assert codes["GET /missing (404 path)"] == 404
    # nothing the app logged while probed leaks to the terminal (import-time warnings may)
    assert "Not Found:" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    text = wsgikit_check("mysite.wsgi:application", cwd=django_project)
    assert text.returncode == 0
    assert "200 OK                         GET /\n" in text.stdout
    assert "404 Not Found                  GET /missing (404 path)" in text.stdout
    assert "on 7 of 17 probes: Not Found: /*" in text.stdout  # Django's log lines, once


def test_host_django_refuses_fails_loudly_and_says_why(django_project: Path) -> None:
    run = wsgikit_check("mysite.wsgi:application", "--host", "evil.example", cwd=django_project)
    assert run.returncode == 3, run.stdout
    assert "the check only reached error pages: is the host allowed?" in run.stderr
    assert "DisallowedHost: Invalid HTTP_HOST header: 'evil.example'" in run.stderr
    assert "--host NAME" in run.stderr
    assert run.stdout.count("400 Bad Request") == 17  # every probe's status in the report
    # Django's traceback is in the report once, not printed on the terminal for every probe
    assert run.stdout.count("Traceback (most recent call last)") == 1
    assert "Traceback" not in run.stderr


def test_host_allowed_in_settings_is_reached(django_project: Path) -> None:
    settings = django_project / "mysite" / "settings.py"
    text = settings.read_text()
    settings.write_text(text.replace("ALLOWED_HOSTS = []", "ALLOWED_HOSTS = ['app.example']"))
    run = wsgikit_check("mysite.wsgi:application", "--host", "app.example", cwd=django_project)
    assert run.returncode == 0, run.stdout + run.stderr
    refused = wsgikit_check("mysite.wsgi:application", cwd=django_project)  # localhost now refused
    assert refused.returncode == 3
    assert "Invalid HTTP_HOST header: 'localhost'" in refused.stderr


def test_project_redirecting_to_https_fails_loudly_until_checked_over_https(
    django_project: Path,
) -> None:
    settings = django_project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nSECURE_SSL_REDIRECT = True\n")
    run = wsgikit_check("mysite.wsgi:application", cwd=django_project)
    assert run.returncode == 3, run.stdout
    assert "the check only reached redirects and error pages" in run.stderr
    assert "the app redirected to 'https://localhost/'" in run.stderr
    assert "--scheme https" in run.stderr
    https = wsgikit_check(
        "mysite.wsgi:application", "--scheme", "https", "--format", "json", cwd=django_project
    )
    doc = json.loads(https.stdout)
    assert https.returncode == doc["exit_status"] == 0, https.stdout
    assert statuses(doc)["GET /"] == 200 and doc["scheme"] == "https"


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_framework_apps_are_reached(name: str, tmp_path: Path) -> None:
    require_module(FACTORIES[name][0])
    report = tmp_path / "report.html"
    run = wsgikit_check(
        "--factory", FACTORIES[name][1], "--format", "json", "--html", str(report), cwd=ROOT
    )
    doc = json.loads(run.stdout)
    assert run.returncode == doc["exit_status"], run.stdout
    assert not doc["error_pages_only"]
    codes = statuses(doc)
    assert codes["GET /"] == 200 and codes["HEAD /"] == 200
    assert codes["GET /missing (404 path)"] == 404
    assert "Traceback" not in run.stderr
    # no exception escapes any of them on an ordinary request; Pyramid raises URLDecodeError on
    # the path that is not UTF-8 (its documented behaviour), reported as an info note
    counted = [c for c in doc["crashes"] if c["counted"]]
    assert counted == []
    raised = {p["name"]: p["raised"] for p in doc["probes"] if p["raised"]}
    if name == "pyramid":
        assert list(raised) == ["GET non-UTF-8 path (%FF, latin-1 in PATH_INFO)"]
        assert raised[next(iter(raised))].startswith("URLDecodeError: ")
        assert codes["GET non-UTF-8 path (%FF, latin-1 in PATH_INFO)"] == 500
    else:
        assert raised == {}
    assert report.read_text(encoding="utf-8").startswith("<!doctype html>")
