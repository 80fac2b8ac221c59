"""``python -m wsgikit``: the command-line interface."""

from wsgikit.ops.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
