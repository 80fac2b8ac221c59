"""Whether the suite runs against the mypyc-compiled build (``make test`` runs it both ways).

A few tests check what only the Python build does: a Python subclass that watches the parser's
attribute assignments, and the type checks the code makes itself where compiled code checks
argument types at the call instead (a ``TypeError`` with mypyc's message, or a ``bool``
accepted as an ``int``). They run in the Python pass and are skipped, with that reason, in the
compiled one.
"""

from __future__ import annotations

import pytest

from wsgikit.http11 import parser

#: The request path is a compiled extension module, not a ``.py`` file.
COMPILED = not (parser.__file__ or "").endswith(".py")

python_build_only = pytest.mark.skipif(
    COMPILED,
    reason="tests what only the Python build does (its own argument checks, or a Python "
    "subclass of the parser); it runs in make test's Python pass",
)
