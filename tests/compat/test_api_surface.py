"""Every public name of Python's wsgiref modules exists in wsgikit with the same call shape.

Compares ``__all__`` and, for every public function, class and method, the parameter names,
kinds and defaults (annotations may differ: wsgikit adds type hints).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

pytestmark = pytest.mark.compat

MODULES = ["util", "headers", "handlers", "simple_server", "types", "validate"]
# Public names outside __all__ that wsgiref code commonly imports.
EXTRA_NAMES = {
    "util": ["is_hop_by_hop"],
    "handlers": ["format_date_time"],
    "simple_server": ["ServerHandler", "software_version", "server_version", "sys_version"],
    "headers": ["tspecials"],
    "validate": ["WSGIWarning"],
}


def _default(value: Any) -> Any:
    """A class default (``server_class=WSGIServer``) compares by name: each side has its own."""
    return value.__name__ if inspect.isclass(value) else value


def _shape(obj: Any) -> list[tuple[str, Any, Any]]:
    sig = inspect.signature(obj)
    return [(p.name, p.kind, _default(p.default)) for p in sig.parameters.values()]


def _all(module: Any) -> list[str]:
    """``__all__``, or (wsgiref.headers has none) the classes and functions defined there."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
    ]  # fmt: skip


def _public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in vars(cls).items()
        if callable(member)
        and (not name.startswith("_") or name in ("_write", "_flush"))
        or name in ("__init__", "__call__")
    }


@pytest.mark.parametrize("name", MODULES)
def test_module_surface_matches_wsgiref(name: str) -> None:
    theirs = importlib.import_module(f"wsgiref.{name}")
    ours = importlib.import_module(f"wsgikit.{name}")  # missing -> ImportError -> failure
    assert set(_all(theirs)) <= set(_all(ours)), "wsgikit must export every wsgiref name"
    for public in _all(theirs) + EXTRA_NAMES.get(name, []):
        assert hasattr(ours, public), f"wsgikit.{name} lacks {public}"
        their_obj, our_obj = getattr(theirs, public), getattr(ours, public)
        if name == "types" or not callable(their_obj):
            continue  # typing protocols/aliases: presence is the contract
        if inspect.isclass(their_obj):
            assert inspect.isclass(our_obj)
            for base in their_obj.__mro__[1:]:
                if base.__module__.startswith("wsgiref"):
                    continue
                assert issubclass(our_obj, base), f"{public} must subclass {base.__name__}"
            for meth_name, meth in _public_methods(their_obj).items():
                ours_meth = getattr(our_obj, meth_name, None)
                assert ours_meth is not None, f"{public}.{meth_name} is missing"
                assert _shape(ours_meth) == _shape(meth), f"{public}.{meth_name} differs"
        else:
            assert _shape(our_obj) == _shape(their_obj), f"{public} signature differs"


@pytest.mark.parametrize(
    ("cls", "attrs"),
    [
        (
            "handlers.BaseHandler",
            "wsgi_version wsgi_multithread wsgi_multiprocess wsgi_run_once origin_server "
            "http_version server_software os_environ wsgi_file_wrapper headers_class "
            "traceback_limit error_status error_headers error_body",
        ),
        ("simple_server.WSGIServer", "application"),
        ("simple_server.WSGIRequestHandler", "server_version"),
    ],
)
def test_configuration_attributes_match_wsgiref(cls: str, attrs: str) -> None:
    module, name = cls.split(".")
    theirs = getattr(importlib.import_module(f"wsgiref.{module}"), name)
    ours = getattr(importlib.import_module(f"wsgikit.{module}"), name)
    for attr in attrs.split():
        if attr in ("os_environ", "headers_class", "wsgi_file_wrapper"):
            assert hasattr(ours, attr)  # documented differences: see docs/wsgiref.rst
            continue
        assert getattr(ours, attr) == getattr(theirs, attr), attr
