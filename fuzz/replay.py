"""Replay inputs through a target without atheris: ``python -m fuzz.replay TARGET PATH...``.

PATH is a file (say a ``crash-*`` artifact) or a folder of inputs. Used to reproduce a finding
and, under coverage.py, for ``python -m fuzz``'s line-coverage figure. Exit status 1 on a finding.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        raise SystemExit("usage: python -m fuzz.replay TARGET PATH...")
    module = importlib.import_module(f"fuzz.{argv[0]}_target")
    quiet = getattr(module, "quiet_logs", None)
    if quiet is not None:
        quiet()
    failed = 0
    count = 0
    for arg in argv[1:]:
        path = Path(arg)
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            count += 1
            try:
                module.test_one_input(file.read_bytes())
            except Exception:
                failed += 1
                print(f"{file}:", file=sys.stderr)
                traceback.print_exc()
    print(f"{argv[0]}: {count} inputs, {failed} findings", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
