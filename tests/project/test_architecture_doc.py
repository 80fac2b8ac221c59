"""docs/architecture.rst's module map names every module of wsgikit/, and only modules that
exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.rst"


def _mapped() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("Module map", 1)[1].split("Moved modules", 1)[0]
    return set(re.findall(r"(?m)^``([a-z0-9_/]+\.py)``", table)) | set(
        re.findall(r"(?m)^``[a-z0-9_/]+\.py`` ``([a-z0-9_/]+\.py)``", table))


def _modules() -> set[str]:
    package = ROOT / "wsgikit"
    found = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    # a subpackage's __init__ is described by the layer diagram, not the table
    return {m for m in found if not (m.endswith("/__init__.py"))}


def test_every_module_is_on_the_map() -> None:
    assert sorted(_modules() - _mapped()) == []


def test_the_map_names_only_modules_that_exist() -> None:
    assert sorted(_mapped() - _modules()) == []
