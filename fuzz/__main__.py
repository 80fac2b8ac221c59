"""``python -m fuzz`` (``make fuzz``): run every target under libFuzzer, then measure coverage.

The seed corpora are first rewritten from the requests in tests/ (``fuzz.seeds``). For each
target: ``-runs`` inputs (default 10**6) with a per-input deadline (``-timeout``, a
hang is a finding), seeded from ``fuzz/corpus/<target>`` (read only) and growing a working
corpus in ``build/fuzz/<target>/corpus``; findings go to ``build/fuzz/<target>/``. Then every
input of both corpora is replayed under coverage.py for a line-coverage figure of the modules
the target exercises. The summary is printed and written to ``build/fuzz/summary.json``. Exit
status 1 if any target had a finding.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from fuzz import TARGETS
from fuzz.seeds import write as write_seeds

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The modules each target is meant to cover, for the line-coverage figure.
MODULES = {
    "parser": ["wsgikit/http11/parser.py", "wsgikit/http11/_head.py"],
    "chunked": ["wsgikit/http11/parser.py"],
    "gateway": ["wsgikit/server/connection.py", "wsgikit/server/gateway.py",
                "wsgikit/http11/writer.py"],
}
DONE_RE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+.*?exec/s: (\d+)")
RUNS_RE = re.compile(r"Done (\d+) runs in (\d+) second")


def fuzz_one(target: str, runs: int, timeout: int, max_len: int, out: Path) -> dict[str, object]:
    work = out / target
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    log_path = work / "libfuzzer.log"
    command = [
        sys.executable, "-m", "fuzz.run_one", target,
        f"-runs={runs}", f"-timeout={timeout}", f"-max_len={max_len}",
        f"-artifact_prefix={work}/", "-print_final_stats=1",
        str(corpus), str(HERE / "corpus" / target),
    ]
    started = time.monotonic()
    with open(log_path, "w") as log:
        code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    text = log_path.read_text(errors="replace")
    done = DONE_RE.search(text)
    runs_done = RUNS_RE.search(text)
    findings = sorted(p.name for p in work.glob("crash-*")) + sorted(
        p.name for p in work.glob("timeout-*")) + sorted(p.name for p in work.glob("oom-*"))
    return {
        "target": target,
        "exit_code": code,
        "runs": int(runs_done.group(1)) if runs_done else None,
        "seconds": round(seconds, 1),
        "exec_per_s": int(done.group(5)) if done else None,
        "cov": int(done.group(2)) if done else None,
        "ft": int(done.group(3)) if done else None,
        "corpus": int(done.group(4)) if done else None,
        "findings": findings,
        "log": str(log_path.relative_to(ROOT)) if log_path.is_relative_to(ROOT) else str(log_path),
    }


def line_coverage(target: str, out: Path) -> dict[str, float]:
    """Replay both corpora of ``target`` under coverage.py; percent of lines per module."""
    data_file = out / target / ".coverage"
    # A finding is reported by the fuzzing step; here only the lines count, so no check.
    subprocess.call(
        [sys.executable, "-m", "coverage", "run", f"--data-file={data_file}",
         "--source=wsgikit", "-m", "fuzz.replay", target, str(out / target / "corpus"),
         str(HERE / "corpus" / target)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    report = out / target / "coverage.json"
    subprocess.check_call(
        [sys.executable, "-m", "coverage", "json", f"--data-file={data_file}", "-o", str(report),
         "--include=" + ",".join(MODULES[target])],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    files = json.loads(report.read_text())["files"]
    return {name: round(info["summary"]["percent_covered"], 1) for name, info in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("targets", nargs="*", help=f"some of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--runs", type=int, default=10**6, help="inputs per target")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--max-len", type=int, default=4096, help="longest input, bytes")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz")
    parser.add_argument("--no-coverage", action="store_true", help="skip the coverage.py pass")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    for target, count in write_seeds().items():  # the tests' requests as they are now
        print(f"{target}: {count} seeds from tests/", file=sys.stderr)
    results = []
    for target in args.targets or TARGETS:
        print(f"fuzzing {target}: {args.runs} inputs ...", file=sys.stderr, flush=True)
        result = fuzz_one(target, args.runs, args.timeout, args.max_len, out)
        if not args.no_coverage:
            result["line_coverage"] = line_coverage(target, out)
        results.append(result)
        print(json.dumps(result), file=sys.stderr, flush=True)
    (out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'target':<8} {'runs':>9} {'s':>6} {'exec/s':>7} {'cov':>5} {'ft':>5}  findings")
    for r in results:
        print(f"{r['target']:<8} {r['runs']!s:>9} {r['seconds']!s:>6} {r['exec_per_s']!s:>7} "
              f"{r['cov']!s:>5} {r['ft']!s:>5}  {len(r['findings'])}  "  # type: ignore[arg-type]
              + " ".join(f"{k} {v}%" for k, v in r.get("line_coverage", {}).items()))
    bad = [r for r in results if r["findings"] or r["exit_code"] != 0]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
