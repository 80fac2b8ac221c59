"""``python -m wsgikit``: the command-line interface."""

from wsgikit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
