"""Load CPython's Lib/test/test_wsgiref.py with its ``wsgiref`` imports pointed at wsgikit.

The file comes from the running interpreter's standard library at run time (never copied into
this repository). While it is executed, ``sys.modules`` maps ``wsgiref`` and each
``wsgiref.<name>`` to a wsgikit module; a wsgikit module that is missing raises ImportError,
never a fallback to the stdlib's. Afterwards ``sys.modules`` is restored.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

# wsgiref module -> the wsgikit module that must replace it.
ALIASES = {
    "wsgiref.util": "wsgikit.util",
    "wsgiref.headers": "wsgikit.headers",
    "wsgiref.handlers": "wsgikit.handlers",
    "wsgiref.simple_server": "wsgikit.simple_server",
    "wsgiref.validate": "wsgikit.validate",
    "wsgiref.types": "wsgikit.types",
}

# Lines for the terminal summary (filled by the test).
RESULTS: list[str] = []


class TestSuiteMissing(Exception):
    """The interpreter has no ``test`` package (Debian ships it as libpython3.X-testsuite)."""


def find_test_wsgiref() -> tuple[str, str]:
    """Return (path, source) of the running interpreter's Lib/test/test_wsgiref.py."""
    try:
        spec = importlib.util.find_spec("test.test_wsgiref")
    except ImportError as exc:
        raise TestSuiteMissing(f"the 'test' package is not installed: {exc}") from exc
    if spec is None or spec.origin is None or spec.loader is None:
        raise TestSuiteMissing("test.test_wsgiref is not in this interpreter's standard library")
    with open(spec.origin, encoding="utf-8") as f:
        return spec.origin, f.read()


@contextmanager
def wsgiref_aliased_to_wsgikit() -> Iterator[dict[str, types.ModuleType]]:
    """Within the block, ``import wsgiref...`` gives wsgikit's modules (and never the stdlib's)."""
    targets = {name: importlib.import_module(target) for name, target in ALIASES.items()}
    package = types.ModuleType("wsgiref", "wsgikit standing in for wsgiref")
    package.__path__ = []  # a package with no directory: nothing can be found on disk
    for name, module in targets.items():
        setattr(package, name.rsplit(".", 1)[1], module)
    replaced = {"wsgiref": package, **targets}
    saved = {name: sys.modules.get(name) for name in replaced}
    sys.modules.update(replaced)
    try:
        yield replaced
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def load_test_wsgiref() -> types.ModuleType:
    """Execute test_wsgiref's source as a fresh module, with wsgiref aliased to wsgikit."""
    path, source = find_test_wsgiref()
    module = types.ModuleType("test_wsgiref_on_wsgikit")
    module.__file__ = path
    code = compile(source, path, "exec")
    with wsgiref_aliased_to_wsgikit():
        exec(code, module.__dict__)
    return module
