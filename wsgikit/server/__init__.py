"""The server: sockets in, WSGI calls out (the I/O layer around the sans-IO ``http11`` core).

``Server`` lives in :mod:`wsgikit.server.server`, ``make_server`` and ``serve`` in
:mod:`wsgikit.server.api`; they are named here so ``from wsgikit.server import make_server``
keeps working, and imported lazily so that importing one module of this package (``environ``,
``tls``) does not start the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgikit.server.api import make_server, serve
    from wsgikit.server.server import ResponseRecord, Server, raise_nofile_limit

#: public name -> the module that defines it
_LAZY = {
    "Server": "wsgikit.server.server",
    "raise_nofile_limit": "wsgikit.server.server",
    "ResponseRecord": "wsgikit.server.server",
    "make_server": "wsgikit.server.api",
    "serve": "wsgikit.server.api",
}
__all__ = ["Server", "make_server", "serve", "raise_nofile_limit", "ResponseRecord"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wsgikit.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
