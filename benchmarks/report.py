"""Turn benchmark cells into ratios, target verdicts and reStructuredText tables.

Ratios compare *good* requests per second (2xx/3xx responses) measured in the same run. A wsgikit
cell only counts when its sample response was right and under 1 % of its requests failed; a
peer counts whenever its sample response was right.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from benchmarks.scenarios import SCENARIOS, TARGETS, Target
from benchmarks.servers import SERVERS

RESULTS_DIR = Path(__file__).resolve().parent / "results"

CellData = dict[str, Any]


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """``numerator / denominator``, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _usable(cell: Optional[CellData]) -> bool:
    return cell is not None and cell.get("status") in ("ok", "errors")


def _wsgikit_valid(cell: Optional[CellData]) -> bool:
    return cell is not None and cell.get("status") == "ok"


def index(cells: Iterable[CellData]) -> dict[tuple[str, str], CellData]:
    return {(c["scenario"], c["server"]): c for c in cells}


def connections_per_request(cell: CellData) -> Optional[float]:
    """New TCP connections per completed request in the measured run (None if not counted)."""
    if cell.get("new_connections") is None:
        return None
    return ratio(cell["new_connections"], cell.get("requests") or 0)


def closes_connections(cell: CellData, limit: float = 0.1) -> bool:
    """Whether the server opened a connection for a sizable share of requests (no keep-alive)."""
    per_request = connections_per_request(cell)
    return per_request is not None and per_request > limit


def best_peer(
    cells: Iterable[CellData], scenario: str, *, pure_python_only: bool = False
) -> Optional[CellData]:
    """The usable peer cell with the most good req/s in ``scenario`` (None if there is none)."""
    candidates = [
        c for c in cells
        if c["scenario"] == scenario and c["server"] != "wsgikit" and _usable(c)
        and (not pure_python_only or SERVERS.get(c["server"]) is None
             or SERVERS[c["server"]].pure_python)
    ]
    return max(candidates, key=lambda c: c["good_rps"], default=None)


def peer_cell(cells: Sequence[CellData], scenario: str, peer: str) -> Optional[CellData]:
    """The cell ``peer`` names: a server, "best" or "best-pure-python"."""
    if peer == "best":
        return best_peer(cells, scenario)
    if peer == "best-pure-python":
        return best_peer(cells, scenario, pure_python_only=True)
    cell = index(cells).get((scenario, peer))
    return cell if _usable(cell) else None


@dataclass(frozen=True)
class Verdict:
    """One target's outcome: the measured value, against which peer, and whether it passed."""

    target: Target
    value: Optional[float]
    peer: Optional[str]
    passed: Optional[bool]  # None: not measured in this run
    note: str = ""


def evaluate(target: Target, cells: Sequence[CellData]) -> Verdict:
    """Judge one target against the cells of one run."""
    mine = index(cells).get((target.scenario, "wsgikit"))
    if mine is None:
        return Verdict(target, None, None, None, "not run")
    if not _wsgikit_valid(mine):
        return Verdict(target, None, None, False, f"wsgikit {mine['status']}: {mine['reason']}")
    if target.kind == "p99":
        p99 = mine.get("p99_ms")
        if closes_connections(mine):
            # wrk times a request from its write, so time spent waiting in the accept queue for a
            # fresh connection is invisible: a low p99 without keep-alive proves nothing.
            return Verdict(target, p99, None, False, "no keep-alive: wrk latency hides connects")
        if not target.peer:
            return Verdict(target, p99, None, p99 is not None and p99 <= target.threshold)
    other = peer_cell(cells, target.scenario, target.peer or "best")
    if other is None:
        return Verdict(target, None, None, None, f"no usable {target.peer} cell")
    if target.kind == "p99":
        theirs = other.get("p99_ms")
        value = ratio(mine.get("p99_ms"), theirs)
        passed = value is not None and value <= target.threshold
        return Verdict(target, value, other["server"], passed,
                       f"{mine.get('p99_ms')} ms vs {theirs} ms")
    if target.kind == "rss":
        value = ratio(mine.get("peak_rss_mib"), other.get("peak_rss_mib"))
        passed = value is not None and value <= target.threshold
        note = f"{mine.get('peak_rss_mib')} MiB vs {other.get('peak_rss_mib')} MiB"
        return Verdict(target, value, other["server"], passed, note)
    value = ratio(mine["good_rps"], other["good_rps"])
    passed = value is not None and value >= target.threshold
    return Verdict(target, value, other["server"], passed, spread(mine, other))


def spread(mine: CellData, other: CellData) -> str:
    """With --repeat: the range of wsgikit's repeats over the peer's best, e.g. "1.31-1.62x"."""
    repeats = [r for r in mine.get("repeats_rps") or [] if r]
    if len(repeats) < 2 or not other.get("good_rps"):
        return ""
    low, high = min(repeats) / other["good_rps"], max(repeats) / other["good_rps"]
    return f"repeats {low:.2f}-{high:.2f}x"


def evaluate_all(cells: Sequence[CellData]) -> list[Verdict]:
    return [evaluate(t, cells) for t in TARGETS]


def wsgikit_ratios(cells: Sequence[CellData]) -> dict[tuple[str, str], float]:
    """``(scenario, peer) -> wsgikit's good req/s / the peer's``, for every scenario where the
    wsgikit cell is valid and the peer's is usable (the detail tables and the chart show these)."""
    by_key = index(cells)
    ratios = {}
    for (scenario, server), cell in by_key.items():
        mine = by_key.get((scenario, "wsgikit"))
        if server == "wsgikit" or not _usable(cell) or not _wsgikit_valid(mine):
            continue
        value = ratio(mine["good_rps"] if mine else None, cell["good_rps"])
        if value is not None:
            ratios[(scenario, server)] = value
    return ratios


# --- rendering -----------------------------------------------------------------------------------


def rst_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A reStructuredText simple table (also readable as plain text)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    rule = "  ".join("=" * w for w in widths)

    def line(values: Sequence[str]) -> str:
        return "  ".join(str(v).ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([rule, line(header), rule, *(line(r) for r in rows), rule])


def _fmt(value: Optional[float], spec: str = ".0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _cell_rps(cell: Optional[CellData]) -> str:
    if cell is None:
        return ""
    if cell["status"] in ("ok", "errors"):
        mark = "!" if cell["status"] == "errors" else ""
        return f"{cell['good_rps']:.0f}{mark}"
    return cell["status"]


def summary_table(cells: Sequence[CellData]) -> str:
    """Good req/s: one row per scenario, one column per server, plus wsgikit / best peer."""
    servers = [s for s in SERVERS if any(c["server"] == s for c in cells)]
    by_key = index(cells)
    rows = []
    for scenario in SCENARIOS:
        if not any(c["scenario"] == scenario.name for c in cells):
            continue
        best = best_peer(cells, scenario.name)
        mine = by_key.get((scenario.name, "wsgikit"))
        vs_best = ratio(mine["good_rps"], best["good_rps"]) if (
            _wsgikit_valid(mine) and best and mine) else None
        rows.append([scenario.name, *(_cell_rps(by_key.get((scenario.name, s))) for s in servers),
                     _fmt(vs_best, ".2f", "x")])
    return rst_table(["scenario", *servers, "wsgikit/best"], rows)


def cpu_table(cells: Sequence[CellData]) -> str:
    """Server CPU microseconds per request: one row per scenario, one column per server."""
    servers = [s for s in SERVERS if any(c["server"] == s for c in cells)]
    by_key = index(cells)
    rows = []
    for scenario in SCENARIOS:
        if not any(c["scenario"] == scenario.name for c in cells):
            continue
        row = [scenario.name]
        for server in servers:
            cell = by_key.get((scenario.name, server))
            value = cell.get("cpu_us_per_request") if _usable(cell) else None
            row.append(_fmt(value, ".1f"))
        rows.append(row)
    return rst_table(["scenario", *servers], rows)


def detail_table(cells: Sequence[CellData], scenario: str) -> str:
    """Every server in one scenario: req/s, latency, errors, connections per request, RSS, ratio."""
    ratios = wsgikit_ratios(cells)
    rows = []
    for cell in sorted((c for c in cells if c["scenario"] == scenario),
                       key=lambda c: (c["server"] != "wsgikit", -c.get("good_rps", 0))):
        usable = _usable(cell)
        errors = sum(cell.get("errors", {}).values())
        conns = connections_per_request(cell) if usable else None
        vs = ratios.get((scenario, cell["server"]))
        rows.append([
            cell["server"],
            _fmt(cell["good_rps"]) if usable else cell["status"],
            _fmt(cell.get("p50_ms"), ".2f") if usable else "-",
            _fmt(cell.get("p99_ms"), ".2f") if usable else "-",
            str(errors) if usable else "-",
            _fmt(conns, ".2f") if conns is not None else "-",
            {True: "yes", False: "no", None: "-"}[cell.get("keep_alive")],
            _fmt(cell.get("peak_rss_mib"), ".1f") if usable else "-",
            _fmt(cell.get("cpu_us_per_request"), ".1f") if usable else "-",
            _fmt(vs, ".2f", "x") if vs is not None else "-",
        ])
    return rst_table(
        ["server", "req/s", "p50 ms", "p99 ms", "errors", "conns/req", "keep-alive",
         "RSS MiB", "CPU us/req", "wsgikit/it"],
        rows,
    )


def targets_table(verdicts: Sequence[Verdict]) -> str:
    rows = []
    for v in verdicts:
        if v.target.kind == "p99" and not v.target.peer:
            value = _fmt(v.value, ".1f", " ms")
        else:
            value = _fmt(v.value, ".2f", "x")
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[v.passed]
        rows.append([v.target.describe(), value, v.peer or "-", verdict, v.note[:70]])
    return rst_table(["target", "measured", "peer", "verdict", "note"], rows)


def problems(cells: Sequence[CellData]) -> list[str]:
    """One line per cell that was not measured cleanly, with its reason."""
    return [f"{c['scenario']} / {c['server']}: {c['status']}: {c['reason']}"
            for c in cells if c["status"] not in ("ok",)]


LEGEND = """\
Columns: req/s counts 2xx/3xx responses only. p50/p99 are wrk's latencies (they start when the
request is written, so they exclude connect time). conns/req = TCP connections accepted per
request during the measured run (/proc/net/snmp PassiveOpens: ~0 keep-alive works, ~1 one
connection per request). keep-alive = a second sample request reused the connection. RSS MiB =
peak resident memory of the server and its child processes, sampled every 0.1 s while measured.
CPU us/req = user + system CPU time of the server's processes during the measured run, divided
by the requests completed. wsgikit/it = wsgikit's req/s divided by that server's."""


def _loadavg(values: Optional[Sequence[float]]) -> str:
    return "?" if not values else " ".join(f"{v:.2f}" for v in values)


def headline(meta: dict[str, Any]) -> list[str]:
    """What was measured, where and how: the report's first lines."""
    return [
        f"wsgikit benchmarks, {meta.get('date_utc', '?')} UTC, wsgikit at "
        f"{meta.get('wsgikit_commit') or '?'} ({meta.get('wsgikit_build', 'python')} build)",
        f"machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, Linux "
        f"{meta.get('kernel', '?')}, Python {meta.get('python', '?')}, {meta.get('wrk', 'wrk')}",
        "peers: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()),
        f"each cell: {meta.get('warmup_s')} s warm-up + {meta.get('duration_s')} s measured, "
        f"best of {meta.get('repeat', 1)}; "
        f"{meta.get('threads')} threads; server on CPU {meta.get('server_cpu')}, wrk on CPU "
        f"{meta.get('client_cpu')}; load average at start {_loadavg(meta.get('loadavg_start'))}, "
        f"at end {_loadavg(meta.get('loadavg_end'))}",
    ]


def summary(cells: Sequence[CellData]) -> list[str]:
    """The three tables a reader needs first: req/s, CPU per request, target verdicts."""
    return [
        "Good requests per second (! = over 1 % errors):",
        "",
        summary_table(cells),
        "",
        "Server CPU time per request, microseconds (lower is better; steadier than req/s when",
        "other processes share the machine):",
        "",
        cpu_table(cells),
        "",
        "Targets (issue 20 on the default install, then issue 3), ratios from this run:",
        "",
        targets_table(evaluate_all(cells)),
    ]


def render(result: dict[str, Any]) -> str:
    """The whole report: machine, summary, targets, per-scenario details, problems."""
    meta, cells = result["meta"], result["cells"]
    out = [*headline(meta), "", *summary(cells), "", LEGEND]
    for scenario in SCENARIOS:
        if any(c["scenario"] == scenario.name for c in cells):
            out += ["", f"{scenario.name}: {scenario.description}", "",
                    detail_table(cells, scenario.name)]
    issues = problems(cells)
    if issues:
        out += ["", "Cells not measured cleanly:", "", *(f"- {line}" for line in issues)]
    return "\n".join(out) + "\n"


def write_json(result: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``<results_dir>/<UTC timestamp>.json`` and return its path.

    A run never touches ``latest.json``: that is the published result, committed with the chart
    and the table in docs/benchmarks.rst, and only ``--publish`` replaces it.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = results_dir / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "cells" not in data or "meta" not in data:
        raise ValueError(f"{path} is not a benchmark result (needs 'meta' and 'cells')")
    return data
