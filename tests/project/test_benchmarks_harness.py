"""The benchmark harness logic that needs no load: ratio math, target verdicts, wrk parsing,
the scenario table and each server's command line. No server is started and wrk never runs."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from benchmarks import apps, report
from benchmarks.__main__ import parse_servers, plan
from benchmarks.runner import Cell, fill_from_wrk, parse_wrk, wrk_command, wrk_script
from benchmarks.scenarios import SCENARIOS, SCENARIOS_BY_NAME, TARGETS, Target, select
from benchmarks.servers import SERVERS, LaunchOptions, pinned, server_command

WRK_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "wrk"


def cell(scenario: str, server: str, good_rps: float, **extra: Any) -> dict[str, Any]:
    data = {"scenario": scenario, "server": server, "status": "ok", "reason": "",
            "good_rps": good_rps, "rps": good_rps, "requests": int(good_rps * 5),
            "new_connections": 10, "p50_ms": 1.0, "p99_ms": 5.0, "peak_rss_mib": 20.0,
            "errors": {}, "keep_alive": True}
    data.update(extra)
    return data


# --- ratio math and verdicts ---------------------------------------------------------------------


def test_ratio_divides_and_refuses_missing_or_zero_denominators() -> None:
    assert report.ratio(3000.0, 1000.0) == pytest.approx(3.0)
    assert report.ratio(None, 1000.0) is None
    assert report.ratio(1000.0, None) is None
    assert report.ratio(1000.0, 0.0) is None


def test_ratio_target_passes_at_threshold_and_fails_just_below() -> None:
    target = Target("hello-10", "ratio", 3.0, "waitress")
    passing = [cell("hello-10", "wsgikit", 3000), cell("hello-10", "waitress", 1000)]
    failing = [cell("hello-10", "wsgikit", 2990), cell("hello-10", "waitress", 1000)]
    verdict = report.evaluate(target, passing)
    assert verdict.passed is True and verdict.value == pytest.approx(3.0)
    assert verdict.peer == "waitress"
    assert report.evaluate(target, failing).passed is False


def test_best_peer_is_the_fastest_usable_peer_never_wsgikit_or_an_invalid_cell() -> None:
    cells = [
        cell("body-1m", "wsgikit", 9000),
        cell("body-1m", "cheroot", 2000),
        cell("body-1m", "gunicorn-gthread", 2500),
        cell("body-1m", "waitress", 8000, status="invalid", reason="wrong body"),
        cell("body-1m", "werkzeug", 2400, status="errors", reason="3% failed"),
    ]
    best = report.best_peer(cells, "body-1m")
    assert best is not None and best["server"] == "gunicorn-gthread"
    verdict = report.evaluate(Target("body-1m", "ratio", 1.5, "best-pure-python"), cells)
    assert verdict.peer == "gunicorn-gthread"
    assert verdict.value == pytest.approx(9000 / 2500)


def test_wsgikit_with_errors_never_wins() -> None:
    cells = [
        cell("hello-10", "wsgikit", 90000, status="errors", reason="40% of requests failed"),
        cell("hello-10", "waitress", 1000),
    ]
    verdict = report.evaluate(Target("hello-10", "ratio", 3.0, "waitress"), cells)
    assert verdict.passed is False
    assert "errors" in verdict.note


def test_target_without_cells_is_not_applicable_rather_than_passed() -> None:
    verdict = report.evaluate(Target("post-64k", "ratio", 2.0, "cheroot"), [])
    assert verdict.passed is None
    only_mine = [cell("post-64k", "wsgikit", 5000)]
    assert report.evaluate(Target("post-64k", "ratio", 2.0, "cheroot"), only_mine).passed is None


def test_p99_target_fails_when_wsgikit_does_not_keep_connections_alive() -> None:
    target = Target("hello-100", "p99", 50.0)
    kept = [cell("hello-100", "wsgikit", 1000, p99_ms=12.0, requests=5000, new_connections=100)]
    closed = [cell("hello-100", "wsgikit", 1000, p99_ms=12.0, requests=5000,
                   new_connections=5000)]
    slow = [cell("hello-100", "wsgikit", 1000, p99_ms=51.0)]
    assert report.evaluate(target, kept).passed is True
    assert report.evaluate(target, closed).passed is False
    assert report.evaluate(target, slow).passed is False


def test_p99_target_against_a_peer_compares_their_p99() -> None:
    target = Target("hello-100", "p99", 1.0, "waitress")
    assert "waitress" in target.describe()
    better = [cell("hello-100", "wsgikit", 1000, p99_ms=9.0),
              cell("hello-100", "waitress", 500, p99_ms=12.0)]
    worse = [cell("hello-100", "wsgikit", 1000, p99_ms=21.9),
             cell("hello-100", "waitress", 500, p99_ms=11.7)]
    verdict = report.evaluate(target, better)
    assert verdict.passed is True and verdict.value == pytest.approx(0.75)
    assert report.evaluate(target, worse).passed is False
    assert report.evaluate(target, worse[:1]).passed is None  # no waitress cell: not judged


def test_ratio_target_reports_the_spread_of_repeats() -> None:
    target = Target("body-1m", "ratio", 1.5, "cheroot")
    mine = cell("body-1m", "wsgikit", 1500)
    mine["repeats_rps"] = [1500.0, 1100.0]
    verdict = report.evaluate(target, [mine, cell("body-1m", "cheroot", 1000)])
    assert verdict.passed is True and verdict.note == "repeats 1.10-1.50x"


def test_rss_target_compares_peak_memory() -> None:
    target = Target("hello-100", "rss", 1.0, "waitress")
    lower = [cell("hello-100", "wsgikit", 1, peak_rss_mib=15.0),
             cell("hello-100", "waitress", 1, peak_rss_mib=16.0)]
    higher = [cell("hello-100", "wsgikit", 1, peak_rss_mib=17.0),
              cell("hello-100", "waitress", 1, peak_rss_mib=16.0)]
    assert report.evaluate(target, lower).passed is True
    assert report.evaluate(target, higher).passed is False


# --- wrk output ----------------------------------------------------------------------------------

WRK_LINE = (
    'WRKJSON {"duration_us": 5000000, "requests": 50000, "bytes": 6500000, "connect": 0, '
    '"read": 0, "write": 0, "status": %d, "timeout": 0, "p50_us": 900, "p90_us": 2000, '
    '"p99_us": 4500, "max_us": 9000, "mean_us": 1000.5}'
)


def test_parse_wrk_reads_the_summary_line_among_wrk_output() -> None:
    data = parse_wrk("Running 5s test @ http://127.0.0.1:1/\n" + WRK_LINE % 0 + "\n")
    assert data["requests"] == 50000 and data["p99_us"] == 4500


def test_parse_wrk_without_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="WRKJSON"):
        parse_wrk("Running 5s test\n  10 threads and 100 connections\n")


def test_good_requests_exclude_error_statuses_and_errors_over_one_percent_flag_the_cell() -> None:
    clean = Cell("hello-10", "waitress")
    fill_from_wrk(clean, parse_wrk(WRK_LINE % 100))  # 0.2 % non-2xx
    assert clean.status == "ok"
    assert clean.rps == pytest.approx(10000)
    assert clean.good_rps == pytest.approx((50000 - 100) / 5)
    assert clean.p99_ms == pytest.approx(4.5)
    broken = Cell("hello-10", "waitress")
    fill_from_wrk(broken, parse_wrk(WRK_LINE % 5000))  # 10 % non-2xx
    assert broken.status == "errors"
    assert "10.0%" in broken.reason


# --- the scenario table --------------------------------------------------------------------------


def call(app_name: str, body: bytes | None = None) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    if body is not None:
        environ.update(REQUEST_METHOD="POST", CONTENT_LENGTH=str(len(body)),
                       **{"wsgi.input": io.BytesIO(body)})
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    result = b"".join(getattr(apps, app_name)(environ, start_response))
    return seen["status"], seen["headers"], result


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_each_scenario_app_returns_the_body_the_check_expects(scenario: Any) -> None:
    status, headers, body = call(scenario.app, scenario.request_body)
    assert status == "200 OK"
    assert body == scenario.expected_body
    assert headers["Content-Length"] == str(len(body))


def test_scenario_table_is_consistent_with_targets_and_servers() -> None:
    assert len(SCENARIOS_BY_NAME) == len(SCENARIOS)
    for scenario in SCENARIOS:
        assert set(scenario.servers) <= set(SERVERS)
        assert "wsgikit" in scenario.servers
        if scenario.lua:
            assert (WRK_DIR / scenario.lua).is_file()
    for target in TARGETS:
        assert target.scenario in SCENARIOS_BY_NAME
        assert target.kind in ("ratio", "p99", "rss")
        assert target.peer in (None, "best", "best-pure-python", *SERVERS)
    assert len({t.describe() for t in TARGETS}) == len(TARGETS)


def test_post_script_sends_exactly_the_body_the_echo_check_expects() -> None:
    lua = (WRK_DIR / "post_64k.lua").read_text()
    match = re.search(r'string\.sub\(string\.rep\("([a-z]+)", (\d+)\), 1, (\d+)\)', lua)
    assert match is not None
    text, times, length = match.group(1), int(match.group(2)), int(match.group(3))
    assert (text * times).encode()[:length] == apps.POST_BODY
    assert len(apps.POST_BODY) == 64 * 1024


def test_select_and_parse_servers_reject_unknown_names() -> None:
    assert [s.name for s in select("hello-10,post-64k")] == ["hello-10", "post-64k"]
    assert select(None) == SCENARIOS
    with pytest.raises(ValueError, match="nope"):
        select("hello-10,nope")
    assert parse_servers("wsgikit,waitress") == ["wsgikit", "waitress"]
    with pytest.raises(ValueError, match="tornado"):
        parse_servers("wsgikit,tornado")


def test_plan_skips_the_workers_scenario_until_wsgikit_has_workers() -> None:
    workers = [SCENARIOS_BY_NAME["workers-2"]]
    todo, skipped = plan(workers, None, wsgikit_workers=False)
    assert todo == [] and {c["server"] for c in skipped} == {"wsgikit", "gunicorn-gthread"}
    todo, skipped = plan(workers, ["wsgikit"], wsgikit_workers=True)
    assert [server for _, server in todo] == ["wsgikit"] and skipped == []


# --- command lines -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SERVERS))
def test_each_server_command_names_the_port_the_app_and_python(name: str) -> None:
    opts = LaunchOptions(port=43210, app="benchmarks.apps:hello", threads=6, python="/py")
    argv = server_command(name, opts, cpu=None)
    assert argv[0] == "/py" and argv[1] == "-m"
    assert all(isinstance(arg, str) for arg in argv)
    assert "benchmarks.apps:hello" in argv
    assert any("43210" in arg for arg in argv)
    if name not in ("werkzeug", "wsgiref", "gunicorn-sync"):  # no thread pool to size
        assert any(arg.endswith("6") for arg in argv if "43210" not in arg)


def test_wsgikit_command_is_accepted_by_the_wsgikit_cli_parser() -> None:
    from wsgikit.ops.cli import build_parser

    argv = server_command("wsgikit", LaunchOptions(port=43210, app="benchmarks.apps:hello"),
                          cpu=None)
    args = build_parser().parse_args(argv[3:])
    assert args.app == "benchmarks.apps:hello"
    assert str(args.port) == "43210" and str(args.threads) == "8"


def test_compiled_wsgikit_runs_the_compiled_modules_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import servers

    opts = LaunchOptions(port=43210, app="benchmarks.apps:hello", python="/py",
                         wsgikit_build="compiled")
    monkeypatch.setattr(servers, "COMPILED_DIR", tmp_path / "missing")
    with pytest.raises(ValueError, match="make compiled"):
        server_command("wsgikit", opts, cpu=None)
    monkeypatch.setattr(servers, "COMPILED_DIR", tmp_path)
    argv = server_command("wsgikit", opts, cpu=None)
    assert argv[:2] == ["env", f"PYTHONPATH={tmp_path}{os.pathsep}{servers.REPO_ROOT}"]
    assert argv[2:6] == ["/py", "-P", "-m", "wsgikit"]  # -P: no source tree on sys.path[0]
    with pytest.raises(ValueError, match="unknown wsgikit build"):
        server_command("wsgikit", LaunchOptions(port=1, app="a:b", wsgikit_build="pypy"), cpu=None)


def test_worker_processes_only_for_servers_that_have_them() -> None:
    opts = LaunchOptions(port=1, app="benchmarks.apps:hello", workers=2)
    assert server_command("wsgikit", opts, cpu=None)[-3:] == ["--workers", "2",
                                                              "benchmarks.apps:hello"]
    gthread = server_command("gunicorn-gthread", opts, cpu=None)
    assert gthread[gthread.index("--workers") + 1] == "2"
    with pytest.raises(ValueError, match="waitress"):
        server_command("waitress", opts, cpu=None)
    with pytest.raises(ValueError, match="unknown server"):
        server_command("nginx", opts, cpu=None)


def test_pinning_prefixes_taskset_only_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.servers as servers

    monkeypatch.setattr(servers.shutil, "which", lambda name: "/usr/bin/taskset")
    monkeypatch.setattr(servers.os, "cpu_count", lambda: 2)
    assert pinned(["wrk"], "1") == ["taskset", "-c", "1", "wrk"]
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    assert pinned(["wrk"], "1") == ["wrk"]


def test_wrk_command_carries_the_scenario_headers_and_the_summary_script(tmp_path: Path) -> None:
    scenario = SCENARIOS_BY_NAME["hello-close"]
    script = wrk_script(scenario, tmp_path)
    assert "WRKJSON" in script.read_text()
    argv = wrk_command(scenario, 43210, 5.0, script, cpu=None)
    assert argv[:3] == ["wrk", "-t1", "-c10"] and "-d5s" in argv
    assert argv[argv.index("-H") + 1] == "Connection: close"
    assert argv[-1] == "http://127.0.0.1:43210/"
    post = SCENARIOS_BY_NAME["post-64k"]
    post_script = wrk_script(post, tmp_path).read_text()
    assert 'wrk.method = "POST"' in post_script and "done = function" in post_script


def test_tls_scenarios_run_https_with_the_same_certificate_on_every_server(
    tmp_path: Path,
) -> None:
    scenario = SCENARIOS_BY_NAME["tls-hello-close"]
    assert scenario.tls and not scenario.keep_alive
    argv = wrk_command(scenario, 43210, 5.0, wrk_script(scenario, tmp_path), cpu=None)
    assert argv[-1] == "https://127.0.0.1:43210/"
    opts = LaunchOptions(port=43210, app="benchmarks.apps:hello", certfile="/c.pem",
                         keyfile="/k.pem", python="/py")
    for name in scenario.servers:
        argv = server_command(name, opts, cpu=None)
        assert "/c.pem" in argv and "/k.pem" in argv, name
    with pytest.raises(ValueError, match="not benchmarked with TLS"):
        server_command("waitress", opts, cpu=None)
    from wsgikit.ops.cli import build_parser

    args = build_parser().parse_args(server_command("wsgikit", opts, cpu=None)[3:])
    assert args.certfile == ["/c.pem"] and args.keyfile == ["/k.pem"]


def test_tls_files_are_a_certificate_and_key_that_ssl_loads(tmp_path: Path) -> None:
    import shutil
    import ssl

    from benchmarks.servers import tls_files

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tls_files(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    assert tls_files(tmp_path) == (cert, key)  # made once per directory


# --- rendering -----------------------------------------------------------------------------------


def test_render_shows_every_server_ratio_and_verdict() -> None:
    cells = [cell("hello-10", "wsgikit", 3000), cell("hello-10", "waitress", 1000),
             cell("hello-10", "cheroot", 1500, status="invalid", reason="wrong body")]
    text = report.render({"meta": {"date_utc": "now"}, "cells": cells})
    assert "3.00x" in text  # wsgikit / waitress, in the detail table and the targets
    assert "PASS" in text
    assert "cheroot: invalid: wrong body" in text
    assert "CPU us/req" in text
    table = report.rst_table(["a", "bb"], [["1", "2"], ["333", "4"]])
    lines = table.splitlines()
    assert lines[0] == lines[2] == lines[-1] == "===  =="
    assert lines[1] == "a    bb"


def test_profile_aggregation_counts_self_and_inclusive_time_once_per_stack() -> None:
    from benchmarks.profile import aggregate, frame_name

    raw = [
        "main (wsgikit/ops/cli.py:70);serve (wsgikit/server/server.py:29);recv (socket.py:10) 6",
        "main (wsgikit/ops/cli.py:70);serve (wsgikit/server/server.py:31);"
        "serve (wsgikit/server/server.py:29) 4",
        "garbage line",
    ]
    own, inclusive, total = aggregate(raw)
    assert total == 10
    assert own["recv (socket.py)"] == 6 and own["serve (wsgikit/server/server.py)"] == 4
    assert inclusive["serve (wsgikit/server/server.py)"] == 10  # recursion is not counted twice
    assert inclusive["main (wsgikit/ops/cli.py)"] == 10
    assert frame_name("parse (wsgikit/http11/parser.py:88)") == "parse (wsgikit/http11/parser.py)"


def test_best_of_keeps_the_fastest_repeat_but_never_hides_a_wrong_answer() -> None:
    from benchmarks.runner import best_of

    slow, fast = Cell("hello-10", "waitress"), Cell("hello-10", "waitress")
    slow.status, slow.good_rps = "ok", 900.0
    fast.status, fast.good_rps = "ok", 1000.0
    chosen = best_of([slow, fast])
    assert chosen is fast and chosen.repeats_rps == [900.0, 1000.0]
    wrong = Cell("hello-10", "waitress", status="invalid", reason="wrong body")
    assert best_of([fast, wrong]).status == "invalid"
    with pytest.raises(ValueError):
        best_of([])


def test_process_sampler_sees_memory_and_the_cpu_spent_while_it_ran() -> None:
    import os

    from tests.conftest import require_module

    require_module("psutil")
    from benchmarks.runner import ProcessSampler

    with ProcessSampler(os.getpid(), interval_s=0.01) as sampler:
        deadline = time.process_time() + 0.1
        while time.process_time() < deadline:  # bounded busy loop: 0.1 s of CPU
            pass
    assert sampler.peak_bytes > 1024 * 1024
    assert 0.05 <= sampler.cpu_seconds < 5.0


# --- the chart and the published result ----------------------------------------------------------


def small_result() -> dict[str, Any]:
    """Two scenarios; one peer cell invalid and one scenario without a valid wsgikit cell, which
    must both stay out of the ratios."""
    return {
        "meta": {"date_utc": "2026-12-05 07:00:00", "wsgikit_commit": "abc1234",
                 "wsgikit_build": "compiled", "cores": 2, "repeat": 1},
        "cells": [
            cell("hello-10", "wsgikit", 3000), cell("hello-10", "waitress", 1000),
            cell("hello-10", "cheroot", 1500),
            cell("post-64k", "wsgikit", 4000), cell("post-64k", "cheroot", 2500),
            cell("post-64k", "waitress", 9000, status="invalid", reason="wrong body"),
            cell("body-1m", "wsgikit", 900, status="errors", reason="5% failed"),
            cell("body-1m", "cheroot", 300),
        ],
    }


# wsgikit's good_rps over each usable peer's, from small_result()'s numbers
EXPECTED_RATIOS = {"waitress": [3000 / 1000, None], "cheroot": [3000 / 1500, 4000 / 2500]}


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_chart_series_are_the_ratios_the_json_implies() -> None:
    from benchmarks import chart

    scenarios, by_peer = chart.series(small_result()["cells"])
    assert scenarios == ["hello-10", "post-64k"]  # body-1m: wsgikit had errors, no ratio
    assert by_peer == EXPECTED_RATIOS


def test_report_writes_a_png_chart_beside_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import require_module

    require_module("matplotlib")
    import json

    from benchmarks import chart
    from benchmarks.__main__ import main

    run = tmp_path / "run.json"
    run.write_text(json.dumps(small_result()))
    assert main(["--report", str(run)]) == 0
    out, err = capsys.readouterr()
    png = tmp_path / "run.png"
    assert f"chart: {png}" in err
    assert png_size(png) == (round(chart.SIZE_INCHES[0] * chart.DPI),
                             round(chart.SIZE_INCHES[1] * chart.DPI))
    assert png.stat().st_size > 10_000  # bars, labels and text, not an empty canvas
    scenarios = ["hello-10", "post-64k"]
    for peer, ratios in EXPECTED_RATIOS.items():  # each detail table's wsgikit/it column
        for scenario, value in zip(scenarios, ratios):
            table = report.detail_table(small_result()["cells"], scenario)
            assert table in out
            row = next(line for line in table.splitlines() if line.startswith(peer + " "))
            assert row.endswith(" -" if value is None else f" {value:.2f}x"), (scenario, row)


def test_chart_draws_one_bar_per_ratio_and_names_build_and_commit(tmp_path: Path) -> None:
    from tests.conftest import require_module

    require_module("matplotlib")
    from benchmarks import chart

    fig = chart.draw(small_result(), tmp_path / "c.png")
    ax = fig.axes[0]
    drawn = {bars.get_label(): [round(p.get_height(), 6) for p in bars.patches]
             for bars in ax.containers}
    assert drawn == {peer: [round(v, 6) for v in ratios if v is not None]
                     for peer, ratios in EXPECTED_RATIOS.items()}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hello-10", "post-64k"]
    assert "compiled build at abc1234" in ax.get_title()
    with pytest.raises(ValueError, match="no scenario"):
        chart.draw({"meta": {}, "cells": [cell("hello-10", "waitress", 1)]}, tmp_path / "x.png")


def test_without_matplotlib_the_report_still_runs_and_says_why_there_is_no_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from benchmarks import chart

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert chart.draw_beside(small_result(), tmp_path / "run.json") is None
    assert "pip install -e '.[bench]'" in capsys.readouterr().err
    assert not (tmp_path / "run.png").exists()


def test_the_harness_imports_matplotlib_only_to_draw() -> None:
    import subprocess
    import sys

    code = ("import sys, benchmarks.__main__, benchmarks.chart, benchmarks.publish\n"
            "assert 'matplotlib' not in sys.modules, 'imported at start-up'")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_publish_copies_the_run_draws_its_chart_and_rewrites_the_doc_part(tmp_path: Path) -> None:
    from tests.conftest import require_module

    require_module("matplotlib")
    import json

    from benchmarks import publish

    run = tmp_path / "20261205T070000Z.json"
    run.write_text(json.dumps(small_result()))
    latest, doc = tmp_path / "results" / "latest.json", tmp_path / "docs" / "bench.rst"
    doc.parent.mkdir()
    doc.write_text(f"Intro\n\n{publish.BEGIN}\n\nold numbers\n\n{publish.END}\n\nAfter\n")
    written = publish.publish(run, latest=latest, doc=doc)
    assert written == [latest, latest.with_suffix(".png"), doc]
    assert latest.read_bytes() == run.read_bytes()
    png_size(latest.with_suffix(".png"))
    text = doc.read_text()
    assert text.startswith("Intro\n\n") and text.endswith("\n\nAfter\n")
    assert "old numbers" not in text
    block = publish.current_block(text)
    assert block == publish.doc_block(small_result(), "../results/latest.png")
    assert "3.00x" in block and "abc1234 (compiled build)" in block
    assert ".. image:: ../results/latest.png" in block
    publish.publish(latest, latest=latest, doc=doc)  # publishing the published run: no change
    assert doc.read_text() == text
    with pytest.raises(ValueError, match="no"):
        publish.replace_block("a doc without the markers", block)


def test_docs_show_the_committed_latest_result() -> None:
    """docs/benchmarks.rst's result is rendered from benchmarks/results/latest.json (never typed),
    and the chart it shows is committed beside it."""
    from benchmarks import chart, publish

    result = report.load_json(publish.LATEST_JSON)
    text = publish.DOC.read_text(encoding="utf-8")
    assert publish.current_block(text) == publish.doc_block(result), (
        "docs/benchmarks.rst's latest result differs from benchmarks/results/latest.json: "
        "run python -m benchmarks --publish benchmarks/results/latest.json")
    assert result["meta"].get("wsgikit_commit") and result["meta"].get("wsgikit_build")
    png = publish.LATEST_JSON.with_suffix(".png")
    assert png_size(png) == (round(chart.SIZE_INCHES[0] * chart.DPI),
                             round(chart.SIZE_INCHES[1] * chart.DPI))


def test_report_and_publish_refuse_a_file_that_is_not_a_result_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.__main__ import main

    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"cells": []}')
    assert main(["--report", str(wrong)]) == 2
    assert "is not a benchmark result (needs 'meta' and 'cells')" in capsys.readouterr().err
    assert main(["--publish", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("benchmarks: error: ") and "missing.json" in err
    assert not (tmp_path / "wrong.png").exists()
