"""Which build of wsgikit is running: the compiled request path (mypyc) or pure Python.

``pip install`` compiles the request path when it can (setup.py, docs/compiled.rst); this module
tells the two apart without importing the request path, so ``wsgikit --version`` and the
start-up log line can say which one runs.
"""

from __future__ import annotations

import importlib.util

__all__ = ["COMPILED_MODULE", "build_name", "describe"]

#: A module that is compiled in the compiled build (tools/compile.py lists them all).
COMPILED_MODULE = "wsgikit.http11.parser"


def build_name() -> str:
    """``"compiled"`` if the request path is a compiled extension, else ``"python"``."""
    spec = importlib.util.find_spec(COMPILED_MODULE)
    origin = (spec.origin if spec is not None else None) or ""
    return "python" if origin.endswith(".py") else "compiled"


def describe() -> str:
    """One line for a person: the build, and how to get the compiled one when it is not."""
    if build_name() == "compiled":
        return "compiled build (request path compiled with mypyc)"
    return ("pure-Python build (for the compiled one, reinstall with a C compiler and the "
            "Python headers present; see docs/compiled.rst)")
