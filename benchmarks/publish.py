"""Publish one run as the latest result: ``python -m benchmarks --publish RUN.json``.

The published result is three committed files that always agree: ``benchmarks/results/latest.json``
(a copy of the run), ``latest.png`` (its chart) and the "Latest result" part of
docs/benchmarks.rst, rendered from the JSON between two comment lines, never typed by hand.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from benchmarks import chart, report

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "benchmarks.rst"
LATEST_JSON = report.RESULTS_DIR / "latest.json"
BEGIN = ".. begin latest result: python -m benchmarks --publish writes this part, do not edit it"
END = ".. end latest result"


def doc_block(result: dict[str, Any], image: str = "../benchmarks/results/latest.png") -> str:
    """The reStructuredText of one result: how it was measured, the chart, the three tables."""
    meta, cells = result["meta"], result["cells"]
    lines = [BEGIN, "", "::", "", *(f"    {line}" for line in report.headline(meta)), "",
             f".. image:: {image}",
             "   :alt: wsgikit's good requests per second divided by each peer's, per scenario",
             "", *report.summary(cells)]
    issues = report.problems(cells)
    if issues:
        lines += ["", "Cells not measured cleanly:", "", *(f"* {line}" for line in issues)]
    return "\n".join([*lines, "", END])


def replace_block(text: str, block: str) -> str:
    """``text`` with the part from the BEGIN line to the END line replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {BEGIN[:24]!r} ... {END!r} part to replace")
    return text[:start] + block + text[end + len(END):]


def current_block(text: str) -> str:
    """The part of ``text`` from the BEGIN line to the END line (both included)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {BEGIN[:24]!r} ... {END!r} part")
    return text[start:end + len(END)]


def publish(run: Path, latest: Path = LATEST_JSON, doc: Path = DOC) -> list[Path]:
    """Copy ``run`` to ``latest``, draw ``latest``'s chart beside it and rewrite ``doc``'s part.

    The chart is required here (ImportError without matplotlib): a published table beside a
    stale chart would show two different runs.
    """
    result = report.load_json(run)
    png = latest.with_suffix(".png")
    if run.resolve() != latest.resolve():
        latest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run, latest)
    chart.draw(result, png)
    image = Path(os.path.relpath(png, doc.parent)).as_posix()
    doc.write_text(replace_block(doc.read_text(encoding="utf-8"), doc_block(result, image)),
                   encoding="utf-8")
    return [latest, png, doc]
