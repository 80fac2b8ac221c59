"""Import a WSGI application named ``module:attribute`` (or ``module:factory()``).

Errors are ``AppImportError`` with one line that says what was wrong, so the CLI can print it
and exit 2 instead of showing a traceback.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any, Optional

__all__ = ["AppImportError", "import_app"]

_SPEC = re.compile(r"(?P<module>[\w.]+)(?::(?P<attr>[\w.]+)(?P<call>\(\))?)?")


class AppImportError(ImportError):
    """The application named on the command line cannot be loaded."""


def import_app(spec: str, *, factory: bool = False, search_path: Optional[str] = ".") -> Any:
    """Return the WSGI callable named by ``spec``.

    ``spec`` is ``module``, ``module:attr``, ``module:attr.sub`` or ``module:factory()``; the
    attribute defaults to ``app`` then ``application``. With ``factory=True`` (or a trailing
    ``()``) the attribute is called with no arguments and its result is the app.
    ``search_path`` (the current directory by default) is put first on ``sys.path``, as
    gunicorn and waitress do, so ``wsgikit serve myapp:app`` works from a project folder.
    """
    m = _SPEC.fullmatch(spec.strip())
    if not m:
        raise AppImportError(f"{spec!r} is not MODULE or MODULE:ATTRIBUTE")
    if search_path is not None:
        import os

        path = os.path.abspath(search_path)
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name = m.group("module")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name) or exc.name == module_name:
            raise AppImportError(f"module {module_name!r} not found") from None
        raise AppImportError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:  # the app's own import-time error: name it, keep the cause
        raise AppImportError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    attr_path = m.group("attr")
    names = [attr_path] if attr_path else ["app", "application"]
    for name in names:
        obj: Any = module
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        break
    else:
        raise AppImportError(
            f"module {module_name!r} has no attribute {' or '.join(repr(n) for n in names)}"
        )
    if factory or m.group("call"):
        if not callable(obj):
            raise AppImportError(f"{spec!r}: factory {name!r} is not callable")
        try:
            obj = obj()
        except Exception as exc:
            raise AppImportError(
                f"{spec!r}: factory raised {type(exc).__name__}: {exc}"
            ) from exc
    if not callable(obj):
        raise AppImportError(f"{spec!r} is not callable (got {type(obj).__name__})")
    return obj
