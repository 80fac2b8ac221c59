"""Run one target under atheris/libFuzzer: ``python -m fuzz.run_one TARGET [libFuzzer flags]``.

wsgikit is imported inside ``atheris.instrument_imports`` so that libFuzzer sees its coverage
(the harness itself is not instrumented). ``python -m fuzz`` calls this once per target.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> None:
    import atheris

    if len(argv) < 2:
        raise SystemExit("usage: python -m fuzz.run_one TARGET [libFuzzer flags]")
    target = argv[1]
    with atheris.instrument_imports(include=["wsgikit"]):
        import wsgikit.http11  # noqa: F401
        import wsgikit.server.connection  # noqa: F401
        import wsgikit.server.gateway  # noqa: F401
    module = importlib.import_module(f"fuzz.{target}_target")
    quiet = getattr(module, "quiet_logs", None)
    if quiet is not None:
        quiet()
    atheris.Setup([argv[0]] + argv[2:], module.test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
