"""Modules that moved into server/, ops/ and conformance/ keep their old import paths: the old
name is the very same module object, with a DeprecationWarning naming the new path."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import wsgikit
from wsgikit._moved import MOVED

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module_with_a_warning(old: str) -> None:
    new = MOVED[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == new
    assert not (Path(wsgikit.__file__).parent / f"{old.rsplit('.', 1)[1]}.py").exists()


def test_from_import_of_an_old_path_works_in_a_fresh_interpreter() -> None:
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from wsgikit.tls import make_ssl_context\n"
            "from wsgikit.server.tls import make_ssl_context as new\n"
            "print(make_ssl_context is new)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, cwd=ROOT)
    assert out.stdout.strip() == "True", out.stderr


def test_unknown_names_are_not_aliased() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("wsgikit.no_such_module")
