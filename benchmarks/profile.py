"""Profile a server under wrk with py-spy and print its hottest functions.

    python -m benchmarks.profile [--scenario hello-100] [--server wsgikit] [--seconds 5] [--gil]

The server runs pinned to core 0 as in the benchmark; py-spy samples it (only threads doing work;
with ``--gil`` only the thread holding the GIL, which is where a pure-Python server's throughput
goes) while wrk drives the scenario from core 1. Prints self and inclusive time per function and
keeps the raw collapsed stacks (for flamegraph.pl) under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from benchmarks.report import RESULTS_DIR
from benchmarks.runner import check_sample, wrk_command, wrk_script
from benchmarks.scenarios import SCENARIOS_BY_NAME
from benchmarks.servers import DEFAULT_THREADS, LaunchOptions, free_port, start_server

_LOCATION = re.compile(r" \((?P<file>[^:()]+):\d+\)$")


def frame_name(frame: str) -> str:
    """``func (file.py:123)`` -> ``func (file.py)``: one row per function, not per line."""
    match = _LOCATION.search(frame)
    if not match:
        return frame
    return f"{frame[: match.start()]} ({match.group('file')})"


def aggregate(lines: Iterable[str]) -> tuple[Counter[str], Counter[str], int]:
    """Self and inclusive sample counts per function from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return own, inclusive, total


def top_table(counter: Counter[str], total: int, limit: int) -> str:
    rows = [f"{100 * n / max(total, 1):6.1f}%  {name}" for name, n in counter.most_common(limit)]
    return "\n".join(rows)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("--scenario", default="hello-100", choices=sorted(SCENARIOS_BY_NAME))
    p.add_argument("--server", default="wsgikit")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = p.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        print("benchmarks.profile: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 2
    scenario = SCENARIOS_BY_NAME[args.scenario]
    out_dir = RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(args.server, LaunchOptions(port=port, app=scenario.app_ref,
                                                     threads=args.threads,
                                                     workers=scenario.workers), out_dir / "logs")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    raw = out_dir / f"profile-{args.server}-{scenario.name}-{stamp}.txt"
    try:
        ok, reason, _ = check_sample(port, scenario)
        if not ok:
            print(f"benchmarks.profile: sample check failed: {reason}", file=sys.stderr)
            return 1
        script = wrk_script(scenario, out_dir)
        wrk = subprocess.Popen(wrk_command(scenario, port, args.seconds + 2, script),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)  # let wrk open its connections first
        spy = [pyspy, "record", "--pid", str(server.pid), "--duration", str(args.seconds),
               "--rate", str(args.rate), "--format", "raw", "--output", str(raw)]
        if args.gil:
            spy.append("--gil")
        subprocess.run(spy, capture_output=True, timeout=args.seconds + 60, check=False)
        wrk_out, _ = wrk.communicate(timeout=args.seconds + 60)
    finally:
        server.stop()
    if not raw.exists():
        print("benchmarks.profile: py-spy wrote nothing (ptrace not permitted?)", file=sys.stderr)
        return 1
    own, inclusive, total = aggregate(raw.read_text().splitlines())
    rps = next((line for line in wrk_out.splitlines() if "Requests/sec" in line), "").strip()
    print(f"{args.server} / {scenario.name}: {total} samples"
          f"{' (GIL holder only)' if args.gil else ''}; wrk under py-spy: {rps}")
    print(f"\nself time (top {args.top}):\n{top_table(own, total, args.top)}")
    print(f"\ninclusive time (top {args.top}):\n{top_table(inclusive, total, args.top)}")
    print(f"\nraw stacks: {raw}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
