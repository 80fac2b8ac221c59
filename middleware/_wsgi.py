"""Private helpers every middleware shares.

The most common middleware bug is a lost ``close()`` on the app's iterable (PEP 3333: the
server must call it, so every wrapper in between must pass it on): middleware that only adds a
close action uses ``werkzeug.wsgi.ClosingIterator``; ``close_iterable`` is for the few that
must own their iterable. ``intercept_start_response`` lets a middleware see or edit the status
and headers before they reach the server; ``wsgikit.headers.Headers`` is the view it edits them
through (a list-backed, case-insensitive wsgiref ``Headers``, so the list stays the one the
server gets).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Callable, Optional

from werkzeug.http import parse_accept_header, parse_set_header

from wsgikit.headers import Headers
from wsgikit.types import StartResponse, WSGIEnvironment

HeaderList = list[tuple[str, str]]
ExcInfo = Any


def local_redirect(path: str) -> str:
    """``path`` made safe as a same-site ``Location``: it starts with exactly one ``/``.

    Browsers read ``//evil.com`` and ``/\\evil.com`` as another host, so a leading run of
    slashes and backslashes (from SCRIPT_NAME or PATH_INFO) becomes a single ``/``.
    """
    rest = path.lstrip("/\\")
    return "/" + rest


def close_iterable(iterable: Iterable[bytes]) -> None:
    """Call ``iterable.close()`` when it has one (PEP 3333's rule for consumers)."""
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


def intercept_start_response(
    start_response: StartResponse,
    edit: Callable[[str, HeaderList], tuple[str, HeaderList]],
) -> StartResponse:
    """A ``start_response`` that passes ``(status, headers)`` through ``edit`` first.

    ``exc_info`` and the ``write`` callable the server returns are passed on untouched.
    """

    def wrapped(status: str, headers: HeaderList, exc_info: ExcInfo = None) -> Any:
        new_status, new_headers = edit(status, list(headers))
        if exc_info is not None:
            return start_response(new_status, new_headers, exc_info)
        return start_response(new_status, new_headers)

    return wrapped


def add_vary(headers: Headers, *names: str) -> None:
    """Merge ``names`` into ``headers``' one ``Vary`` field (no duplicates; ``*`` left alone)."""
    present = headers.get_all("Vary")
    if not present:  # the common case: nothing to merge with
        headers["Vary"] = ", ".join(dict.fromkeys(names))
        return
    vary = parse_set_header(", ".join(present))
    if "*" in vary:
        return
    for name in names:
        vary.add(name)
    headers["Vary"] = vary.to_header()


def is_https(environ: WSGIEnvironment) -> bool:
    """True when the request came over https (what Secure cookies depend on)."""
    return str(environ.get("wsgi.url_scheme", "http")).lower() == "https"


def encoding_quality(accept_encoding: Optional[str], coding: str) -> float:
    """The q-value ``Accept-Encoding`` gives ``coding`` (RFC 9110 section 12.5.3); 0 = refused."""
    if not accept_encoding:
        return 0.0
    return _quality(accept_encoding, coding)


@functools.lru_cache(maxsize=256)
def _quality(accept_encoding: str, coding: str) -> float:
    # cached: clients send few distinct Accept-Encoding values, and parsing one costs more
    # than the rest of a pass-through response
    return float(parse_accept_header(accept_encoding).quality(coding))


def plain_response(
    start_response: StartResponse,
    status: str,
    message: str,
    headers: Optional[HeaderList] = None,
    *,
    head: bool = False,
) -> list[bytes]:
    """A short ``text/plain`` response naming the problem (the body of an error status)."""
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
    )
    return [] if head else [body]
