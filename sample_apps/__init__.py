"""All sample apps under one index page: ``wsgikit serve sample_apps:app``.

Each sample is a module exposing ``app``; add it to ``SAMPLES`` and it is mounted at
``/<name>/`` and linked from the index.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from middleware.dispatch import DispatchMiddleware
from sample_apps import hello, nonconformant, session_demo, static_site
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

# (mount name, app, one-line description)
SAMPLES: list[tuple[str, WSGIApplication, str]] = [
    ("hello", hello.app, "the smallest PEP 3333 app"),
    ("session_demo", session_demo.app, "login with CSRF, a session counter, signed cookies"),
    ("nonconformant", nonconformant.page, "breaks PEP 3333 on purpose: what the validator finds"),
    ("static_site", static_site.app, "static files, gzip, an API mount and an access log"),
]


def index(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The index page linking every sample."""
    script = environ.get("SCRIPT_NAME", "")
    items = "\n".join(
        f'  <li><a href="{html.escape(script)}/{name}/">{name}</a>: {html.escape(desc)}</li>'
        for name, _, desc in SAMPLES
    )
    page = (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>wsgikit samples</title>"
        '<link rel="icon" href="data:,">'
        "</head>\n<body>\n<h1>wsgikit sample apps</h1>\n<ul>\n"
        f"{items}\n</ul>\n</body></html>\n"
    ).encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))],
    )
    return [page]


def _root(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """``/`` is the index; anything not under a mounted sample is a 404."""
    if (environ.get("PATH_INFO", "") or "/") == "/":
        return index(environ, start_response)
    body = b"Not Found\n"
    start_response(
        "404 Not Found",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Route ``/`` to the index and ``/<name>/...`` to the sample mounted there.

    ``DispatchMiddleware`` moves ``/<name>`` from PATH_INFO to SCRIPT_NAME; it is built per
    request from ``SAMPLES`` so a sample added at run time is mounted too.
    """
    mounts = {"/" + name: sample for name, sample, _ in SAMPLES}
    return DispatchMiddleware(_root, mounts=mounts)(environ, start_response)
