"""The benchmark chart: wsgikit's req/s over each peer's, per scenario, peers side by side.

One PNG per result, drawn from the same ratios as the report's tables
(:func:`benchmarks.report.wsgikit_ratios`). matplotlib (the ``bench`` extra) is imported only
when a chart is drawn, so the harness and the report run without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from benchmarks import report
from benchmarks.scenarios import SCENARIOS
from benchmarks.servers import SERVERS

SIZE_INCHES = (11.0, 5.5)
DPI = 100  # so the PNG is 1100 x 550 pixels
TICKS = (0.5, 1, 2, 3, 5, 10, 20, 50)

Series = dict[str, list[Optional[float]]]


def series(cells: Sequence[report.CellData]) -> tuple[list[str], Series]:
    """The chart's data: scenarios (x axis, in the scenario table's order) and, per peer, the
    ratio wsgikit / peer in each scenario (None where either was not measured cleanly)."""
    ratios = report.wsgikit_ratios(cells)
    scenarios = [s.name for s in SCENARIOS if any(k[0] == s.name for k in ratios)]
    peers = [p for p in SERVERS if any(k[1] == p for k in ratios)]
    return scenarios, {p: [ratios.get((s, p)) for s in scenarios] for p in peers}


def title(meta: dict[str, Any]) -> str:
    """Names the build and the commit measured, so a chart is never read for another one."""
    return (
        f"wsgikit's good req/s ÷ each peer's, same run (above 1: wsgikit serves more)\n"
        f"{meta.get('wsgikit_build', 'python')} build at {meta.get('wsgikit_commit') or '?'}, "
        f"{meta.get('date_utc', '?')} UTC, {meta.get('cores', '?')} cores, "
        f"best of {meta.get('repeat', 1)}"
    )


def draw(result: dict[str, Any], path: Path) -> Any:
    """Draw ``result``'s chart into the PNG ``path``; return the matplotlib Figure.

    Raises ImportError (naming the extra) when matplotlib is missing, ValueError when the result
    has no ratio to draw.
    """
    try:
        from matplotlib.figure import Figure  # a Figure with no pyplot: no global state, no GUI
        from matplotlib.ticker import FixedLocator, NullLocator
    except ImportError as exc:
        raise ImportError("the chart needs matplotlib: pip install -e '.[bench]'") from exc
    scenarios, by_peer = series(result["cells"])
    if not by_peer:
        raise ValueError("no scenario has both a valid wsgikit cell and a usable peer cell")
    values = [v for column in by_peer.values() for v in column if v is not None]
    fig = Figure(figsize=SIZE_INCHES, dpi=DPI)
    ax = fig.add_subplot()
    width = 0.84 / len(by_peer)
    for i, (peer, column) in enumerate(by_peer.items()):
        offset = (i - (len(by_peer) - 1) / 2) * width
        xs = [x + offset for x, v in enumerate(column) if v is not None]
        heights = [v for v in column if v is not None]
        bars = ax.bar(xs, heights, width, label=peer)
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in heights], fontsize=6, padding=1)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    low = min(0.8, min(values) / 1.2)
    high = max(values) * 1.5  # room for the labels above the tallest bars
    ax.set_ylim(low, high)
    ticks = [t for t in TICKS if low <= t <= high]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([f"{t:g}×" for t in ticks])
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels(scenarios)
    ax.set_ylabel("wsgikit req/s ÷ peer req/s (log scale)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncol=len(by_peer), loc="upper center",
              bbox_to_anchor=(0.5, -0.07), frameon=False)
    ax.set_title(title(result["meta"]), fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return fig


def draw_beside(result: dict[str, Any], json_path: Path) -> Optional[Path]:
    """Draw the chart next to its JSON (``run.json`` -> ``run.png``); None, said on stderr, when
    it cannot be drawn (no matplotlib, nothing to draw, an unwritable directory), so a run
    without the ``bench`` extra still reports."""
    import sys

    png = json_path.with_suffix(".png")
    try:
        draw(result, png)
    except (ImportError, OSError, ValueError) as exc:
        print(f"benchmarks: no chart: {exc}", file=sys.stderr)
        return None
    return png
