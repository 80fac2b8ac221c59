"""The dependency direction: sample_apps -> middleware -> wsgikit -> stdlib, read from the source.

Every ``import`` in every module (top level or inside functions) is checked, so a lazy import
cannot sneak a dependency in either.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names)

# Third-party packages each layer may use, besides the stdlib and the layers below it.
MIDDLEWARE_THIRD_PARTY = {"werkzeug", "itsdangerous", "redis"}
ALLOWED = {
    "wsgikit": {"wsgikit"},
    "middleware": {"wsgikit", "middleware"} | MIDDLEWARE_THIRD_PARTY,
    "sample_apps": {"wsgikit", "middleware", "sample_apps"} | MIDDLEWARE_THIRD_PARTY,
}
# Optional integrations inside wsgikit that import their host tool lazily (never at import
# time of ``wsgikit`` itself): the WebTest-based TestApp and the pytest plugin.
WSGIKIT_OPTIONAL = {
    "wsgikit/testing.py": {"webtest", "pytest"},
    "wsgikit/pytest_plugin.py": {"pytest", "_pytest", "webtest"},
}
# The sans-IO protocol core: standard library only, and nothing that does I/O or threads.
HTTP11_FORBIDDEN = {"socket", "ssl", "selectors", "threading", "asyncio", "select", "os"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: stays inside its own package
                package = path.relative_to(ROOT).parts[0]
                found.append((node.lineno, package))
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _violations(package: str) -> list[str]:
    bad = []
    for path in _modules(package):
        rel = path.relative_to(ROOT).as_posix()
        extra = WSGIKIT_OPTIONAL.get(rel, set())
        for lineno, name in _imports(path):
            top = name.split(".")[0]
            if top in STDLIB or top == "__future__":
                if rel.startswith("wsgikit/http11") and top in HTTP11_FORBIDDEN:
                    bad.append(f"{rel}:{lineno}: sans-IO http11 imports {name}")
                continue
            if top in ALLOWED[package] or top in extra:
                if rel.startswith("wsgikit/http11") and top == "wsgikit" and not name.startswith(
                    "wsgikit.http11"
                ):
                    bad.append(f"{rel}:{lineno}: http11 must not import {name}")
                continue
            bad.append(f"{rel}:{lineno}: {package} must not import {name}")
    return bad


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(package: str) -> None:
    assert _modules(package), f"{package}/ has no modules"
    assert _violations(package) == []


def test_checker_catches_a_wrong_way_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker itself must be able to fail: wsgikit importing middleware is flagged."""
    fake_root = tmp_path
    (fake_root / "wsgikit").mkdir()
    (fake_root / "wsgikit" / "bad.py").write_text(
        "def f():\n    import middleware.cookies\n    import werkzeug\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    found = _violations("wsgikit")
    assert found == [
        "wsgikit/bad.py:2: wsgikit must not import middleware.cookies",
        "wsgikit/bad.py:3: wsgikit must not import werkzeug",
    ]
