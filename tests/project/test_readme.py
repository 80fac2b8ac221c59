"""README.rst's Python examples run as written and check what they show with ``assert``.

A README example that claims a result must fail when the result changes, so every Python block
needs at least one ``assert`` statement, except the blocks in ``EXEMPT`` (each with its reason).
Shell blocks (``::``) are not run: they start servers or install packages.
"""

from __future__ import annotations

import ast
import linecache
import re
from pathlib import Path
from typing import Any

import pytest
import webtest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", re.M)

# Blocks without an assert of their own, by a string that identifies them, and why.
EXEMPT = {
    "wsgikit.serve(": "serves for ever; the test runs it with serve() replaced and checks the call",
}


def python_blocks() -> list[str]:
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    blocks = [re.sub(r"^    ", "", b, flags=re.M) for b in BLOCK.findall(text)]
    assert len(blocks) >= 6, "README.rst lost its Python examples"
    return blocks


BLOCKS = python_blocks()


def asserts_in(source: str) -> int:
    """The ``assert`` statements in the block, counted on the syntax tree (not in comments)."""
    return sum(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(source)))


def exemption(source: str) -> str | None:
    return next((why for marker, why in EXEMPT.items() if marker in source), None)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_asserts_what_it_shows(index: int) -> None:
    source = BLOCKS[index]
    if exemption(source) is None:
        assert asserts_in(source) > 0, (
            f"README.rst Python block {index} shows a result but checks nothing: add an assert "
            f"(or an EXEMPT entry with its reason):\n{source}"
        )


def test_every_exemption_names_a_block_that_exists() -> None:
    for marker in EXEMPT:
        assert any(marker in source for source in BLOCKS), f"stale EXEMPT entry {marker!r}"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    source = BLOCKS[index]
    name = f"README.rst block {index}"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # for tracebacks
    if "wsgikit.serve(" in source:
        # Runs for ever: execute everything else and check the call it would make.
        calls: list[tuple[Any, dict[str, Any]]] = []
        import wsgikit

        monkeypatch.setattr(wsgikit, "serve", lambda app, **kw: calls.append((app, kw)))
        exec(compile(source, name, "exec"), {})
        assert len(calls) == 1 and calls[0][1]["port"] == 8000
        response = webtest.TestApp(calls[0][0]).get("/")
        assert response.body == b"Hello\n"
        return
    monkeypatch.chdir(ROOT)  # examples name paths relative to the checkout
    exec(compile(source, name, "exec"), {"__name__": "readme"})


def middleware_classes() -> dict[str, list[str]]:
    """Each public module of ``middleware/`` and the ``*Middleware`` classes it defines."""
    found = {}
    for path in sorted((ROOT / "middleware").glob("*.py")):
        if not path.stem.startswith("_"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found[path.stem] = [node.name for node in tree.body if isinstance(node, ast.ClassDef)
                                and node.name.endswith("Middleware")]
    return found


def test_readme_and_the_middleware_doc_name_every_middleware() -> None:
    modules = middleware_classes()
    classes = [name for names in modules.values() for name in names]
    assert len(classes) >= 12, "middleware/ lost its classes"
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    doc = (ROOT / "docs" / "middleware.rst").read_text(encoding="utf-8")
    assert [c for c in classes if f"``{c}``" not in readme] == []
    assert [c for c in classes if f"``{c}``" not in doc] == []
    assert [m for m in modules if f"``{m}.py``" not in doc] == []
