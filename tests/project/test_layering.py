"""The dependency direction, read from the source: sample_apps -> middleware -> wsgikit -> stdlib,
and inside wsgikit the directions docs/architecture.rst draws (ops -> server -> http11; the
conformance checks beside the server, never on it).

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
    "wsgikit/conformance/testing.py": {"webtest", "pytest"},
    "wsgikit/conformance/pytest_plugin.py": {"pytest", "_pytest", "webtest"},
}
# Inside wsgikit: what each subpackage must not import (module name prefixes), and the one
# exception. The server reads the PEP 3333 rule data (the environ keys it must build) but never
# the checks; the checks judge any server, so they never import ours.
WSGIKIT_FORBIDDEN = {
    "wsgikit/server/": ("wsgikit.ops", "wsgikit.conformance", "wsgikit.validate",
                        "wsgikit.handlers", "wsgikit.simple_server"),
    "wsgikit/conformance/": ("wsgikit.server", "wsgikit.ops", "wsgikit.validate",
                             "wsgikit.handlers", "wsgikit.simple_server"),
    # the wsgiref twins are libraries: only the command line entry point runs ops
    "wsgikit/handlers.py": ("wsgikit.ops",),
    "wsgikit/simple_server.py": ("wsgikit.ops",),
    "wsgikit/validate.py": ("wsgikit.ops", "wsgikit.server"),
}
WSGIKIT_ALLOWED_ACROSS = {"wsgikit.conformance.pep3333"}
# The leaves every layer may read: they import no subpackage, except the HTTP grammar, rule
# sets and default limits, which live once, in the lowest layer (http11) that needs them.
WSGIKIT_LEAVES = ("wsgikit/config.py", "wsgikit/errors.py", "wsgikit/types.py",
                  "wsgikit/util.py", "wsgikit/headers.py", "wsgikit/build_info.py")
#: The data modules of http11 the leaves may read (they import nothing from wsgikit).
WSGIKIT_LEAF_DATA = ("wsgikit.http11.grammar", "wsgikit.http11.limits")
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
                elif top == "wsgikit" and package == "wsgikit":
                    bad.extend(f"{rel}:{lineno}: {why}" for why in _wrong_direction(rel, name))
                continue
            bad.append(f"{rel}:{lineno}: {package} must not import {name}")
    return bad


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _wrong_direction(rel: str, name: str) -> list[str]:
    """Why importing ``name`` from the wsgikit module at ``rel`` breaks the layering, if it does."""
    if name in WSGIKIT_ALLOWED_ACROSS:
        return []
    for folder, forbidden in WSGIKIT_FORBIDDEN.items():
        if rel.startswith(folder):
            return [f"{folder.rstrip('/')} must not import {name}"
                    for prefix in forbidden if _within(name, prefix)][:1]
    if rel.removesuffix(".py").replace("/", ".") in WSGIKIT_LEAF_DATA:
        return [f"{rel} is what the leaves import and must not import {name}"]
    if rel in WSGIKIT_LEAVES and name not in WSGIKIT_LEAF_DATA and any(
        _within(name, f"wsgikit.{sub}") for sub in ("server", "ops", "conformance", "http11")
    ):
        return [f"{rel} is a leaf and must not import {name}"]
    return []


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


def test_checker_catches_a_wrong_direction_inside_wsgikit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The subpackage directions can fail too: server -> ops, conformance -> server, a leaf ->
    server are flagged; the PEP 3333 rule data is the one thing the server may read."""
    for folder in ("server", "conformance"):
        (tmp_path / "wsgikit" / folder).mkdir(parents=True)
    (tmp_path / "wsgikit" / "server" / "bad.py").write_text(
        "from wsgikit.ops import run\nfrom wsgikit.conformance.pep3333 import REQUIRED_KEYS\n"
    )
    (tmp_path / "wsgikit" / "conformance" / "bad.py").write_text(
        "def f():\n    import wsgikit.server.environ\n"
    )
    (tmp_path / "wsgikit" / "config.py").write_text(
        "from wsgikit.server import tls\nfrom wsgikit.http11.grammar import TOKEN_RE\n"
        "from wsgikit.http11.parser import RequestParser\n"
    )
    (tmp_path / "wsgikit" / "http11").mkdir()
    (tmp_path / "wsgikit" / "http11" / "grammar.py").write_text(
        "from wsgikit.http11.errors import BadRequest\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert sorted(_violations("wsgikit")) == [
        "wsgikit/config.py:1: wsgikit/config.py is a leaf and must not import wsgikit.server",
        "wsgikit/config.py:3: wsgikit/config.py is a leaf and must not import "
        "wsgikit.http11.parser",
        "wsgikit/conformance/bad.py:2: wsgikit/conformance must not import wsgikit.server.environ",
        "wsgikit/http11/grammar.py:1: wsgikit/http11/grammar.py is what the leaves import and "
        "must not import wsgikit.http11.errors",
        "wsgikit/server/bad.py:1: wsgikit/server must not import wsgikit.ops",
    ]
