"""The server: sockets in, WSGI calls out (the I/O layer around the sans-IO ``http11`` core).

``Server``, ``make_server`` and ``serve`` live in :mod:`wsgikit.server.server`; they are named
here so ``from wsgikit.server import make_server`` keeps working, and imported lazily so that
importing one module of this package (``environ``, ``tls``) does not start the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgikit.server.server import (
        ResponseRecord,
        Server,
        make_server,
        raise_nofile_limit,
        serve,
    )

__all__ = ["Server", "make_server", "serve", "raise_nofile_limit", "ResponseRecord"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'wsgikit.server' has no attribute {name!r}")
    value = getattr(importlib.import_module("wsgikit.server.server"), name)
    globals()[name] = value
    return value
