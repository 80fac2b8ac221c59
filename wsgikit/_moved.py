"""Old import paths of modules that moved into ``server/``, ``ops/`` and ``conformance/``.

``import wsgikit.tls`` still works and returns the very module ``wsgikit.server.tls`` (same
object, same classes), with a ``DeprecationWarning`` naming the new path. One table, one finder:
no stub files at the top level.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from importlib.abc import Loader
else:  # importlib.abc pulls in tempfile and shutil at import time; the protocol is enough
    Loader = object

#: old module name -> new module name
MOVED = {
    **{f"wsgikit.{name}": f"wsgikit.server.{name}" for name in (
        "accesslog", "clientlog", "connection", "environ", "forwarded", "gateway", "keepalive",
        "pacing", "proxy_protocol", "proxy_reader", "tls", "workers")},
    **{f"wsgikit.{name}": f"wsgikit.ops.{name}" for name in (
        "arbiter", "checker", "checkreport", "cli", "loader", "metrics", "reloader", "status",
        "systemd", "watchdog")},
    **{f"wsgikit.{name}": f"wsgikit.conformance.{name}" for name in (
        "pep3333", "pytest_plugin", "testing")},
}


class _Alias(Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self.new}; import it from there",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is the new one, already executed."""


class MovedModuleFinder:  # a meta path finder (the protocol, without importlib.abc)
    """Finds the old names in :data:`MOVED` (only those) and loads them as the new modules."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder first on ``sys.meta_path``, once (importing ``wsgikit`` does this)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())  # before any finder that sees a stale copy
