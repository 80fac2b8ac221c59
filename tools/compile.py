"""Build the mypyc-compiled wsgikit: a copy of the package with its request path compiled.

    python tools/compile.py [--out build/compiled]

The request path (the ``http11`` parser and writer, the environ, the gateway and the
connection) is compiled to C with mypyc, from the very same sources; everything else stays
Python. The copy goes under ``--out`` and the source tree never holds a compiled module, which
would shadow the ``.py`` file beside it after an edit. Put ``--out`` first on ``PYTHONPATH`` to
use it. Needs mypy (the lint extra) and a C compiler; the result needs neither.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The modules every request runs through, in the order of the request path.
COMPILED = (
    "wsgikit/http11/_grammar.py",
    "wsgikit/http11/events.py",
    "wsgikit/http11/_head.py",
    "wsgikit/http11/parser.py",
    "wsgikit/http11/writer.py",
    "wsgikit/environ.py",
    "wsgikit/gateway.py",
    "wsgikit/connection.py",
)


def build(out: Path) -> None:
    """Copy the package to ``out`` and compile COMPILED there (about 30 s on 2 cores)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(ROOT / "wsgikit", out / "wsgikit", ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "mypyc", *COMPILED]
    result = subprocess.run(command, cwd=out, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"mypyc failed (exit {result.returncode}): {' '.join(command)}")
    shutil.rmtree(out / "build", ignore_errors=True)  # mypyc's C sources and objects
    missing = [m for m in COMPILED if not list((out / m).parent.glob(Path(m).stem + ".*.so"))]
    if missing:
        raise SystemExit(f"mypyc built no extension for: {', '.join(missing)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "compiled")
    args = parser.parse_args(argv)
    build(args.out.resolve())
    print(f"compiled wsgikit in {args.out}")


if __name__ == "__main__":
    main()
