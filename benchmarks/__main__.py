"""``python -m benchmarks``: run every scenario on every server, print the report, save JSON.

    python -m benchmarks                        # full run, ~10 minutes on 2 cores
    python -m benchmarks --quick                # short cells, under 2 minutes
    python -m benchmarks --repeat 2             # every cell twice, best kept (noisy machines)
    python -m benchmarks --only hello-100 --servers wsgikit,waitress
    python -m benchmarks --report benchmarks/results/latest.json   # re-render, no run
    python -m benchmarks --publish benchmarks/results/RUN.json      # make RUN the latest result

A run writes benchmarks/results/<UTC time>.json and its chart, <UTC time>.png (both git-ignored);
--publish copies one to the committed latest.json and latest.png and rewrites the table in
docs/benchmarks.rst from it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from benchmarks import chart, publish, report
from benchmarks.runner import Cell, best_of, machine_details, run_cell
from benchmarks.scenarios import Scenario, select
from benchmarks.servers import CLIENT_CPU, DEFAULT_THREADS, SERVER_CPU, SERVERS, WSGIKIT_BUILDS

FULL = {"duration": 5.0, "warmup": 2.0}
QUICK = {"duration": 1.0, "warmup": 1.0}
STARTUP_ESTIMATE_S = 1.5  # start, sample check, stop


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 s cells, 1 s warm-up (under 2 min)")
    p.add_argument("--duration", type=float, help="measured seconds per cell (default 5)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 2)")
    p.add_argument("--only", metavar="SCENARIO[,...]", help="run only these scenarios")
    p.add_argument("--servers", metavar="NAME[,...]",
                   help=f"run only these servers (of {', '.join(SERVERS)})")
    p.add_argument("--repeat", type=int, default=1,
                   help="measure every cell N times (passes interleaved), keep the best")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"worker threads for every pooled server (default {DEFAULT_THREADS})")
    p.add_argument("--wsgikit-build", choices=WSGIKIT_BUILDS, default="python",
                   help="run wsgikit from the sources, or the mypyc build (make compiled)")
    p.add_argument("--output", type=Path, default=report.RESULTS_DIR,
                   help="directory for the JSON results and server logs")
    p.add_argument("--report", type=Path, metavar="JSON",
                   help="render a saved result and draw its chart (JSON -> .png) instead of "
                        "running")
    p.add_argument("--publish", type=Path, metavar="JSON",
                   help="make a saved result the latest: copy it to benchmarks/results/"
                        "latest.json, draw latest.png, rewrite docs/benchmarks.rst's table")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p


def plan(
    scenarios: Sequence[Scenario], servers: Optional[Sequence[str]], wsgikit_workers: bool
) -> tuple[list[tuple[Scenario, str]], list[dict[str, Any]]]:
    """The (scenario, server) cells to run, and skipped cells with their reason."""
    cells, skipped = [], []
    for scenario in scenarios:
        for server in scenario.servers:
            if servers is not None and server not in servers:
                continue
            if scenario.requires_wsgikit_workers and not wsgikit_workers:
                skipped.append({"scenario": scenario.name, "server": server, "status": "skipped",
                                "reason": "`wsgikit serve` has no --workers option yet"})
                continue
            cells.append((scenario, server))
    return cells, skipped


def parse_servers(value: Optional[str]) -> Optional[list[str]]:
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        raise ValueError(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    return names


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.publish:
        try:
            written = publish.publish(args.publish)
        except (ImportError, OSError, ValueError) as exc:
            print(f"benchmarks: error: {exc}", file=sys.stderr)
            return 2
        print("published: " + ", ".join(str(p) for p in written), file=sys.stderr)
        return 0
    if args.report:
        try:
            result = report.load_json(args.report)
        except (OSError, ValueError) as exc:
            print(f"benchmarks: error: {exc}", file=sys.stderr)
            return 2
        print(report.render(result), end="")
        png = chart.draw_beside(result, args.report)
        if png is not None:
            print(f"chart: {png}", file=sys.stderr)
        return 0
    try:
        scenarios = select(args.only)
        servers = parse_servers(args.servers)
    except ValueError as exc:
        print(f"benchmarks: error: {exc}", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print("benchmarks: error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    defaults = QUICK if args.quick else FULL
    duration = args.duration if args.duration is not None else defaults["duration"]
    warmup = args.warmup if args.warmup is not None else defaults["warmup"]

    from benchmarks.servers import wsgikit_supports_workers

    needs_workers = any(s.requires_wsgikit_workers for s in scenarios)
    workers_ok = needs_workers and wsgikit_supports_workers()
    todo, skipped = plan(scenarios, servers, workers_ok)
    repeat = max(1, args.repeat)
    per_cell = max(1, round(duration)) + max(1, round(warmup)) + STARTUP_ESTIMATE_S
    estimate = repeat * len(todo) * per_cell
    print(f"{len(todo)} cells, about {estimate / 60:.1f} min", file=sys.stderr)

    meta = machine_details()
    meta.update(duration_s=duration, warmup_s=warmup, threads=args.threads, repeat=repeat,
                server_cpu=SERVER_CPU, client_cpu=CLIENT_CPU, wsgikit_build=args.wsgikit_build)
    out_dir = args.output
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    measured: dict[tuple[str, str], list[Cell]] = {}
    for rep in range(1, repeat + 1):  # whole passes, so slow spells spread over every server
        for n, (scenario, server) in enumerate(todo, 1):
            cell = run_cell(scenario, server, duration_s=duration, warmup_s=warmup,
                            threads=args.threads, out_dir=out_dir,
                            wsgikit_build=args.wsgikit_build)
            measured.setdefault((scenario.name, server), []).append(cell)
            shown = (f"{cell.good_rps:9.0f} req/s" if cell.usable
                     else f"{cell.status}: {cell.reason}")
            print(f"[{rep}:{n:2}/{len(todo)}] {scenario.name:12} {server:17} {shown}",
                  file=sys.stderr)
    cells: list[dict[str, Any]] = [best_of(runs).to_json() for runs in measured.values()]
    cells.extend(skipped)
    meta["loadavg_end"] = list(os.getloadavg())
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    result = {"meta": meta, "cells": cells}
    path = report.write_json(result, out_dir)
    print(report.render(result), end="")
    png = chart.draw_beside(result, path)
    print(f"\nresults: {path}" + (f", chart: {png}" if png else ""), file=sys.stderr)
    print(f"to make this run the published one: python -m benchmarks --publish {path}",
          file=sys.stderr)
    if args.strict and any(v.passed is False for v in report.evaluate_all(cells)):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
