"""wsgikit: a strict, threaded HTTP/1.1 WSGI server and a drop-in superset of ``wsgiref``.

The public names below are imported lazily, so ``import wsgikit`` stays cheap; its one side
effect is a finder that keeps the old paths of moved modules importable (see ``_moved``).
"""

from __future__ import annotations

import importlib
from typing import Any

from wsgikit import _moved

__version__ = "0.1.0.dev0"

_LAZY = {
    "ServerConfig": "wsgikit.config",
    "ConfigError": "wsgikit.config",
    "serve": "wsgikit.server.api",
    "make_server": "wsgikit.server.api",
    "ProtocolError": "wsgikit.http11",
    "validator": "wsgikit.validate",
    "WSGIConformanceError": "wsgikit.validate",
}

__all__ = ["__version__", *_LAZY]

_moved.install()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wsgikit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
