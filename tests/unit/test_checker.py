"""``wsgikit check``: the probe battery, the grouped report and the exit status."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import pytest

import sample_apps
from sample_apps import nonconformant
from wsgikit.conformance.pep3333 import RULES
from wsgikit.ops.checker import DEFAULT_HOST, PROBES, probe_environ, run_check
from wsgikit.ops.checkreport import PEP3333_URL, format_html, section_url
from wsgikit.ops.cli import CHECK_DEFAULT_HOST, main
from wsgikit.validate import environ_problems


def test_battery_covers_the_issue_list() -> None:
    names = " ".join(p.name for p in PROBES)
    for word in ("GET", "HEAD", "OPTIONS", "POST empty", "POST 10-byte", "POST 64 KiB",
                 "chunked", "odd query", "non-ASCII"):  # fmt: skip
        assert word in names


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe_environs_come_from_the_server_builder_and_are_clean(probe: Any) -> None:
    environ = probe_environ(probe)
    assert environ["wsgikit.queue_wait"] == 0.0  # built by wsgikit.server.environ.build_environ
    assert environ_problems(environ) == []


def test_chunked_probe_has_terminated_input_without_length() -> None:
    environ = probe_environ(next(p for p in PROBES if "chunked" in p.name))
    assert "CONTENT_LENGTH" not in environ
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.input"].read() == b"name=value&other=thing"


def test_non_ascii_path_is_latin1_bytes_in_str() -> None:
    environ = probe_environ(next(p for p in PROBES if "non-ASCII" in p.name))
    assert environ["PATH_INFO"] == "/caf\xc3\xa9/\xe2\x9c\x93"


def test_non_utf8_probe_is_named_for_what_it_sends() -> None:
    """The request-target is ASCII: bytes that are not UTF-8 go percent-encoded, and the probe
    name says so (it used to be called "latin-1 path bytes" while sending %FF%00)."""
    probe = next(p for p in PROBES if "non-UTF-8" in p.name)
    assert "%FF" in probe.name and b"%FF" in probe.raw()
    environ = probe_environ(probe)
    assert environ["PATH_INFO"] == "/caf\xe9/\xffx"
    with pytest.raises(UnicodeDecodeError):
        environ["PATH_INFO"].encode("latin-1").decode("utf-8")
    nul = next(p for p in PROBES if "NUL" in p.name)
    assert probe_environ(nul)["PATH_INFO"] == "/a\x00b"


def test_probes_send_the_host_given() -> None:
    environ = probe_environ(PROBES[0])
    assert (environ["HTTP_HOST"], environ["SERVER_NAME"], environ["SERVER_PORT"]) == (
        DEFAULT_HOST, "localhost", "80")  # fmt: skip
    environ = probe_environ(PROBES[0], host="example.test:8080")
    assert b"\r\nHost: example.test:8080\r\n" in PROBES[0].raw("example.test:8080")
    assert (environ["HTTP_HOST"], environ["SERVER_NAME"], environ["SERVER_PORT"]) == (
        "example.test:8080", "example.test", "8080")  # fmt: skip
    environ = probe_environ(PROBES[0], host="[::1]:9000")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("[::1]", "9000")


def test_cli_default_host_is_the_checkers() -> None:
    assert CHECK_DEFAULT_HOST == DEFAULT_HOST


@pytest.mark.parametrize("host", ["", "a b", "x:port", "x/y", "x\r\nEvil: 1", "u@x"])
def test_bad_host_is_a_clear_error(host: str) -> None:
    with pytest.raises(ValueError, match="not a valid host"):
        run_check(sample_apps.app, host=host)


# every mounted sample, the nonconformant one included: its page runs the broken app under the
# validator and answers conformantly
CLEAN = [("index", sample_apps.app)] + [(name, app) for name, app, _ in sample_apps.SAMPLES]


@pytest.mark.parametrize("app", [a for _, a in CLEAN], ids=[n for n, _ in CLEAN])
def test_sample_apps_come_out_clean(app: Any) -> None:
    report = run_check(app)
    assert report.problem_count() == 0, report.format()
    assert report.crashes(include_info=True) == []
    assert report.probes == len(PROBES)
    assert not report.error_pages_only
    assert report.exit_status() == 0


def test_nonconformant_sample_is_reported_grouped_by_rule() -> None:
    report = run_check(nonconformant.app)
    assert [r.id for r in report.rules()] == ["A320", "A321", "A327", "A404", "A411"]
    text = report.format()
    assert "A321 hop-by-hop-header [error] (PEP 3333: Other HTTP Features)" in text
    assert f"seen on all {len(PROBES)} probes" in text
    assert "hop-by-hop header Connection: close sent by the app" in text
    assert text.endswith(f"5 problem(s) found in {len(PROBES)} probes")


def test_crashing_app_is_reported_once_with_its_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def crash(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("kaboom")

    report = run_check(crash)
    assert report.problem_count() == sum(1 for p in PROBES if not p.edge)
    assert {r.status for r in report.results} == {"500 Internal Server Error"}
    text = report.format()
    assert text.count("CRASH RuntimeError: kaboom") == 1  # grouped, not once per probe
    assert text.count("Traceback (most recent call last)") == 1
    assert 'raise RuntimeError("kaboom")' in text
    assert capfd.readouterr() == ("", "")  # nothing went to the terminal


def test_exception_on_an_odd_request_is_an_info_note() -> None:
    """An app may refuse a path that is not UTF-8 by raising (Pyramid's URLDecodeError); the
    server answers 500. That is not a PEP 3333 problem, so it counts only with --strict."""

    def strict_utf8(environ: Any, start_response: Any) -> Any:
        environ["PATH_INFO"].encode("latin-1").decode("utf-8")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"ok"]

    report = run_check(strict_utf8)
    assert report.problem_count() == 0
    assert report.problem_count(include_info=True) == 1
    assert report.exit_status() == 0 and report.exit_status(strict=True) == 1
    bad = next(r for r in report.results if r.raised)
    assert "non-UTF-8" in bad.probe.name and bad.code == 500
    assert "UnicodeDecodeError" in report.format(include_info=True)


def test_error_after_headers_keeps_the_status_and_marks_the_body_cut() -> None:
    def late(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        raise RuntimeError("late failure")

    result = run_check(late, PROBES[:1]).results[0]
    assert result.code == 200 and result.aborted and result.raised == "RuntimeError: late failure"


def test_what_the_app_prints_or_logs_goes_into_the_report(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """stdout, stderr, wsgi.errors and a logging handler holding the real stderr (as Django's
    console handler does) are all captured, grouped once per kind, and kept off the terminal."""
    handler = logging.StreamHandler(sys.__stderr__)
    log = logging.getLogger("test_checker.app")
    log.addHandler(handler)
    log.propagate = False

    def chatty(environ: Any, start_response: Any) -> Any:
        print("printed to stdout", environ["PATH_INFO"][:10])
        sys.stderr.write("written to stderr\n")
        environ["wsgi.errors"].write("written to wsgi.errors\n")
        try:
            raise KeyError("boom")
        except KeyError:
            log.exception("Bad thing: %s", environ["PATH_INFO"][:10])
        os.write(2, b"raw fd 2 write\n")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    try:
        report = run_check(chatty)
    finally:
        log.removeHandler(handler)
    assert capfd.readouterr() == ("", "")
    output = report.results[0].output
    for text in ("printed to stdout /", "written to stderr", "written to wsgi.errors",
                 "Bad thing: /", "KeyError: 'boom'", "raw fd 2 write"):  # fmt: skip
        assert text in output
    blocks = report.app_output()
    assert len(blocks) == 1  # the same kind of output on every probe: shown once
    assert len(blocks[0].probes) == len(PROBES)
    assert report.format().count("KeyError: 'boom'") == 2  # the summary line and the block


def test_statuses_are_reported_per_probe() -> None:
    report = run_check(sample_apps.app)
    by_name = {r.probe.name: r.code for r in report.results}
    assert by_name["GET /"] == 200
    assert by_name["GET /missing (404 path)"] == 404
    text = report.format()
    assert "200 OK                         GET /\n" in text
    assert "404 Not Found                  GET /missing (404 path)" in text
    assert report.status_counts()["200"] >= 1


def _host_check(allowed: str) -> Any:
    """An app that refuses every Host but ``allowed`` with 400, logging why (as Django does)."""

    def app(environ: Any, start_response: Any) -> Any:
        if environ["HTTP_HOST"] != allowed:
            print(f"DisallowedHost: Invalid HTTP_HOST header: {environ['HTTP_HOST']!r}")
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"bad host"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def test_only_error_pages_is_a_loud_failure() -> None:
    report = run_check(_host_check("localhost"), host="evil.example")
    assert report.problem_count() == 0  # nothing found... on error pages only
    assert report.error_pages_only
    assert report.exit_status() == 3
    text = report.format()
    assert text.startswith("wsgikit check: 17 probes sent with Host: evil.example\n\nWARNING: the "
                           "check only reached error pages: is the host allowed?")  # fmt: skip
    assert "(400 x17)" in text
    assert "The app said (17 of 17 probes): DisallowedHost: Invalid HTTP_HOST header: " in text
    assert text.endswith("but only error pages were reached: see the WARNING above")
    good = run_check(_host_check("localhost"))
    assert not good.error_pages_only and good.exit_status() == 0


def _https_only(environ: Any, start_response: Any) -> Any:
    """Redirects every plain-http request to https (Django's SECURE_SSL_REDIRECT)."""
    if environ["wsgi.url_scheme"] != "https" or environ.get("HTTPS") != "on":
        location = "https://" + environ["HTTP_HOST"] + environ["PATH_INFO"]
        start_response("301 Moved Permanently", [("Location", location)])
        return []
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"ok"]


def test_only_redirects_is_a_loud_failure_too() -> None:
    report = run_check(_https_only)
    assert report.error_pages_only and report.exit_status() == 3
    reason = report.error_pages_reason()
    assert reason.startswith("WARNING: the check only reached redirects and error pages")
    assert "(301 x17)" in reason
    assert "the app redirected to 'https://localhost/'" in reason
    assert "Pass --scheme https" in reason
    assert report.results[0].location == "https://localhost/"
    https = run_check(_https_only, scheme="https")
    assert not https.error_pages_only and https.exit_status() == 0, https.format()
    first_line = https.format().splitlines()[0]
    assert first_line == "wsgikit check: 17 probes sent with Host: localhost over https"


def test_https_probe_environ() -> None:
    environ = probe_environ(PROBES[0], scheme="https")
    assert (environ["wsgi.url_scheme"], environ["HTTPS"], environ["SERVER_PORT"]) == (
        "https", "on", "443")  # fmt: skip
    assert probe_environ(PROBES[0], host="x:8443", scheme="https")["SERVER_PORT"] == "8443"
    assert "HTTPS" not in probe_environ(PROBES[0])
    with pytest.raises(ValueError, match="scheme must be 'http' or 'https'"):
        probe_environ(PROBES[0], scheme="ftp")


def test_one_real_page_is_enough_to_trust_the_run() -> None:
    def mostly_404(environ: Any, start_response: Any) -> Any:
        ok = environ["PATH_INFO"] == "/" and environ["REQUEST_METHOD"] == "GET"
        start_response("200 OK" if ok else "404 Not Found", [("Content-Type", "text/plain")])
        return [b"x"]

    assert not run_check(mostly_404).error_pages_only


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "sample_apps:app"]) == 0
    out = capsys.readouterr().out
    assert "0 problem(s) found" in out
    assert main(["check", "sample_apps.nonconformant:app"]) == 1
    out = capsys.readouterr().out
    assert "A404 body-not-bytes [error]" in out
    assert main(["check", "sample_apps.hello:app", "--strict"]) == 1  # A414 (info) counts
    assert "A414 body-for-head [info]" in capsys.readouterr().out


def test_cli_host_refused_exits_3_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tests.unit.test_checker:HOST_APP", "--host", "other.example"]) == 3
    captured = capsys.readouterr()
    assert "is the host allowed?" in captured.err
    assert "Invalid HTTP_HOST header: 'other.example'" in captured.err
    assert main(["check", "tests.unit.test_checker:HOST_APP"]) == 0
    assert main(["check", "sample_apps:app", "--host", "a b"]) == 2
    assert "--host: not a valid host: 'a b'" in capsys.readouterr().err


HOST_APP = _host_check("localhost")


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "sample_apps.nonconformant:app", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["host"] == "localhost" and doc["exit_status"] == 1
    assert [p["name"] for p in doc["probes"]] == [p.name for p in PROBES]
    assert doc["probes"][0]["status"] == "200 OK" and doc["probes"][0]["code"] == 200
    assert "A321" in doc["probes"][0]["rules"]
    rules = {r["id"]: r for r in doc["rules"]}
    assert set(rules) == {"A320", "A321", "A327", "A404", "A411", "A414"}
    assert rules["A321"]["url"] == "https://peps.python.org/pep-3333/#other-http-features"
    assert rules["A327"]["url"] == "https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3"
    assert len(rules["A321"]["probes"]) == len(PROBES)
    assert doc["problems"] == 5 and doc["error_pages_only"] is False and doc["warning"] is None


def test_cli_html_to_stdout_and_file(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    target = tmp_path / "report.html"
    assert main(["check", "sample_apps.nonconformant:app", "--html", str(target)]) == 1
    assert "5 problem(s) found" in capsys.readouterr().out  # text on stdout, HTML in the file
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    for rule_id in ("A320", "A321", "A327", "A404", "A411", "A414"):
        assert f'<section class="rule" id="{rule_id}">' in page
    assert '<a href="https://peps.python.org/pep-3333/#a-note-on-string-types">' in page
    assert "<script" not in page and "http-equiv" not in page
    assert main(["check", "sample_apps.nonconformant:app", "--format", "html"]) == 1
    assert capsys.readouterr().out.strip() == page.strip()
    assert main(["check", "sample_apps:app", "--html", str(tmp_path / "no" / "dir.html")]) == 2
    assert "--html: cannot write" in capsys.readouterr().err


def test_html_escapes_what_the_app_says() -> None:
    def shouty(environ: Any, start_response: Any) -> Any:
        print("<script>alert(1)</script>")
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Bad", "<b>\x01")])
        return [b"x"]

    page = format_html(run_check(shouty, PROBES[:2]))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("section", "url"),
    [
        ("PEP 3333: The write() Callable", "https://peps.python.org/pep-3333/#the-write-callable"),
        ("PEP 3333: The start_response() Callable",
         "https://peps.python.org/pep-3333/#the-start-response-callable"),
        ("PEP 3333: The Application/Framework Side",
         "https://peps.python.org/pep-3333/#the-application-framework-side"),
        ("PEP 3333: environ Variables", "https://peps.python.org/pep-3333/#environ-variables"),
        ("RFC 9110 §15.4.5", "https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5"),
    ],
)  # fmt: skip
def test_section_urls(section: str, url: str) -> None:
    assert section_url(section) == url


def test_every_rule_section_has_a_url() -> None:
    for rule in RULES.values():
        assert section_url(rule.section) != PEP3333_URL, rule.section


def test_cli_bad_app_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "no_such_module_xyz:app"]) not in (0, 1)
    assert "no_such_module_xyz" in capsys.readouterr().err
