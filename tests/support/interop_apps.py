"""The validator's interop matrix: conformant apps, each served bare and behind every validator.

``app`` routes ``/<wrapping>/<case>``: ``wrapping`` is one of :data:`WRAPPINGS` (``plain`` is
the app itself), ``case`` one of :data:`CASES`. ``GET /_findings`` answers, as JSON, what the
report-mode validators of this process found, so a test can read it from a server running in
another process.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable

from middleware.validator import ValidatorMiddleware
from wsgikit.validate import Finding, validator

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

#: A real file on disk, so a server's sendfile path can be taken for the bare app.
FILE = Path(__file__).resolve()
TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def plain_list(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    body = b"a plain list body\n"
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
    return [body]


def generator(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    """start_response on the first next(), several chunks, no Content-Length."""
    start_response("200 OK", TEXT)
    for i in range(3):
        yield b"chunk %d\n" % i
    yield b""
    yield b"last\n"


def write_callable(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The write() callable, then an iterable for the rest."""
    write = start_response("200 OK", [*TEXT, ("Content-Length", "24")])
    write(b"written first; ")
    return [b"then list"]


def file_wrapper(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    size = FILE.stat().st_size
    start_response("200 OK", [*TEXT, ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    handle = FILE.open("rb")
    if wrapper is None:  # optional in PEP 3333 (werkzeug's server has none)
        return iter(lambda: handle.read(8192), b"")
    return wrapper(handle, 8192)  # type: ignore[no-any-return]


def exc_info_page(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """An error page replacing the first status before any body was sent (PEP 3333)."""
    start_response("200 OK", TEXT)
    try:
        raise RuntimeError("the page failed")
    except RuntimeError:
        body = b"error page: the page failed\n"
        start_response(
            "500 Internal Server Error",
            [*TEXT, ("Content-Length", str(len(body)))],
            sys.exc_info(),
        )
    return [body]


def head(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """HEAD: the GET's headers (its Content-Length) and no body."""
    body = b"the body a GET would get\n"
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def post_echo(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Reads CONTENT_LENGTH bytes (portable: wsgiref's server has no end-of-body of its own)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    out = b"got %d bytes: %s" % (len(body), body)
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(out)))])
    return [out]


#: case name -> (app, the request method the matrix sends)
CASES: dict[str, tuple[Callable[..., Any], str]] = {
    "list": (plain_list, "GET"),
    "generator": (generator, "GET"),
    "write": (write_callable, "GET"),
    "file_wrapper": (file_wrapper, "GET"),
    "exc_info": (exc_info_page, "GET"),
    "head": (head, "HEAD"),
    "post": (post_echo, "POST"),
}

_lock = threading.Lock()
FINDINGS: list[dict[str, str]] = []


def _keep(wrapping: str) -> Callable[[Finding], None]:
    def keep(finding: Finding) -> None:
        with _lock:
            FINDINGS.append({"wrapping": wrapping, "rule": finding.rule.id, "text": str(finding)})

    return keep


def _wrap(wrapping: str, inner: Callable[..., Any]) -> Callable[..., Any]:
    if wrapping == "plain":
        return inner
    if wrapping == "validator":
        return validator(inner)  # type: ignore[no-any-return]
    return ValidatorMiddleware(inner, mode=wrapping, on_finding=_keep(wrapping))


#: ``plain`` is the bare app; the others wrap it.
WRAPPINGS = ("plain", "raise", "warn", "report", "validator")
ROUTES: dict[tuple[str, str], Callable[..., Any]] = {
    (wrapping, case): _wrap(wrapping, inner)
    for wrapping in WRAPPINGS
    for case, (inner, _) in CASES.items()
}


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Route ``/<wrapping>/<case>`` (the route never touches what the validator checks)."""
    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    if parts == ["_findings"]:
        with _lock:
            body = json.dumps(FINDINGS).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    target = ROUTES.get((parts[0], parts[-1])) if len(parts) == 2 else None
    if target is None:
        start_response("404 Not Found", [*TEXT, ("Content-Length", "10")])
        return [b"not found\n"]
    return target(environ, start_response)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the framework matrix

_sites: dict[str, ValidatorMiddleware] = {}


def _site(name: str) -> ValidatorMiddleware:
    from tests.support.frameworks import make_app

    with _lock:  # built once per process, on first use (threaded servers may race to it)
        if name not in _sites:
            _sites[name] = ValidatorMiddleware(make_app(name), mode="report")
        return _sites[name]


def frameworks_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """``/<framework>/...``: that framework's test app behind ValidatorMiddleware (report mode),
    mounted at ``/<framework>`` (SCRIPT_NAME); ``GET /_findings/<framework>`` answers, as JSON,
    what its validator found."""
    path = environ.get("PATH_INFO", "")
    name, _, rest = path.lstrip("/").partition("/")
    if name == "_findings":
        site = _sites.get(rest)
        found = [] if site is None else site.findings
        body = json.dumps(
            [{"rule": f.rule.id, "detail": f.detail, "text": str(f)} for f in found]
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + name
    environ["PATH_INFO"] = "/" + rest
    return _site(name)(environ, start_response)  # type: ignore[no-any-return]
