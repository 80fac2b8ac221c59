"""Small real apps in Django, Flask, Bottle and Pyramid, for conformance tests of the validator
and ``wsgikit check`` (test-only dependencies: each module imports its framework).

Every app answers the same routes the way its framework does by default:

``GET /``           an HTML page
``GET /json``       a JSON document
``POST /echo``      the ``text`` form field (or the raw body) read through the framework
``GET /redirect``   302 to ``/``
``GET /file``       ``hello.txt`` through the framework's file helper (``wsgi.file_wrapper``,
                    ETag / Last-Modified, so HEAD and conditional GETs give HEAD and 304 paths)
``GET /stream``     a streamed (generator) body without Content-Length
``GET /error``      raises ``RuntimeError``: the framework's own 500 handling
anything else       the framework's 404

``FACTORIES`` maps a framework name to ``"module:factory"`` (for ``wsgikit check --factory``);
:func:`make_app` imports and calls it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: The file every app serves at /file.
STATIC_FILE = HERE / "hello.txt"
#: What every app answers for GET /file.
STATIC_BODY = STATIC_FILE.read_bytes()

#: framework name -> (the module its factory needs, "module:factory")
FACTORIES: dict[str, tuple[str, str]] = {
    "django": ("django", "tests.support.frameworks.django_site:make_app"),
    "flask": ("flask", "tests.support.frameworks.flask_site:make_app"),
    "bottle": ("bottle", "tests.support.frameworks.bottle_site:make_app"),
    "pyramid": ("pyramid", "tests.support.frameworks.pyramid_site:make_app"),
}


def make_app(name: str) -> Any:
    """Build the WSGI app for framework ``name`` (ImportError if the framework is missing)."""
    module, _, factory = FACTORIES[name][1].partition(":")
    return getattr(importlib.import_module(module), factory)()


def echo_text(form_value: Any, raw: bytes) -> str:
    """What /echo answers: the form field if there was one, else the raw body as latin-1."""
    if form_value is not None:
        return f"echo: {form_value}"
    return f"echo raw: {raw.decode('latin-1')}"


PAGE = "<!doctype html><title>{name}</title><h1>Hello from {name}</h1>"
