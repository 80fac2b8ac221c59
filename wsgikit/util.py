"""WSGI utilities: a drop-in superset of :mod:`wsgiref.util` (Python 3.11).

Same names, signatures and behaviour as ``wsgiref.util``; adapted from CPython's module
(Copyright Python Software Foundation, PSF licence) with type hints. ``is_hop_by_hop`` also
accepts any case and ``HOP_BY_HOP_HEADERS`` names the set it checks, for servers and proxies;
``request_path`` is the path part of ``request_uri``, for log lines (both extras stay out of
``__all__``, which matches wsgiref's exactly).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, MutableMapping
from io import BytesIO, StringIO
from typing import Any, Protocol
from urllib.parse import quote

from wsgikit.http11.grammar import WSGIREF_HOP_BY_HOP

__all__ = [
    "FileWrapper",
    "guess_scheme",
    "application_uri",
    "request_uri",
    "shift_path_info",
    "setup_testing_defaults",
]


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class FileWrapper:
    """Wrapper to convert file-like objects to iterables (PEP 3333 ``wsgi.file_wrapper``)."""

    close: Callable[[], object]

    def __init__(self, filelike: _Readable, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def guess_scheme(environ: MutableMapping[str, Any]) -> str:
    """Return a guess for whether 'wsgi.url_scheme' should be 'http' or 'https'."""
    if environ.get("HTTPS") in ("yes", "on", "1"):
        return "https"
    return "http"


def application_uri(environ: MutableMapping[str, Any]) -> str:
    """Return the application's base URI (no PATH_INFO or QUERY_STRING)."""
    url: str = environ["wsgi.url_scheme"] + "://"
    if environ.get("HTTP_HOST"):
        url += environ["HTTP_HOST"]
    else:
        url += environ["SERVER_NAME"]
        if environ["wsgi.url_scheme"] == "https":
            if environ["SERVER_PORT"] != "443":
                url += ":" + environ["SERVER_PORT"]
        elif environ["SERVER_PORT"] != "80":
            url += ":" + environ["SERVER_PORT"]
    url += quote(environ.get("SCRIPT_NAME") or "/", encoding="latin1")
    return url


def request_uri(environ: MutableMapping[str, Any], include_query: bool = True) -> str:
    """Return the full request URI, optionally including the query string."""
    url = application_uri(environ)
    path_info = quote(environ.get("PATH_INFO", ""), safe="/;=,", encoding="latin1")
    if not environ.get("SCRIPT_NAME"):
        url += path_info[1:]
    else:
        url += path_info
    if include_query and environ.get("QUERY_STRING"):
        url += "?" + environ["QUERY_STRING"]
    return url


def request_path(environ: MutableMapping[str, Any], include_query: bool = True) -> str:
    """``SCRIPT_NAME + PATH_INFO`` (and ``?QUERY_STRING``): the path the client asked for.

    For log lines: a mounted app sees only its part in PATH_INFO (``/`` for a request to
    ``/nonconformant/``), so naming PATH_INFO alone hides which request it was. Quoted like
    :func:`request_uri`, so control characters and non-ASCII bytes print as ``%XX``.
    """
    path = quote(environ.get("SCRIPT_NAME", ""), encoding="latin1") + quote(
        environ.get("PATH_INFO", ""), safe="/;=,", encoding="latin1"
    )
    path = path or "/"
    if include_query and environ.get("QUERY_STRING"):
        path += "?" + quote(environ["QUERY_STRING"], safe="/?&=;,:@+$!*'()~%[]", encoding="latin1")
    return path


def shift_path_info(environ: MutableMapping[str, Any]) -> str | None:
    """Shift a name from PATH_INFO to SCRIPT_NAME, returning it (None when none is left).

    'environ' is modified in place. When PATH_INFO is just '/', this returns '' and appends a
    trailing '/' to SCRIPT_NAME, so an application can tell '/x' from '/x/'.
    """
    path_info: str = environ.get("PATH_INFO", "")
    if not path_info:
        return None

    path_parts = path_info.split("/")
    path_parts[1:-1] = [p for p in path_parts[1:-1] if p and p != "."]
    name: str | None = path_parts[1]
    del path_parts[1]

    script_name = posixpath.normpath(environ.get("SCRIPT_NAME", "") + "/" + (name or ""))
    if script_name.endswith("/"):
        script_name = script_name[:-1]
    if not name and not script_name.endswith("/"):
        script_name += "/"

    environ["SCRIPT_NAME"] = script_name
    environ["PATH_INFO"] = "/".join(path_parts)

    # '/.' as the last PATH_INFO element is normalised to an empty PATH_INFO, not a name.
    if name == ".":
        name = None
    return name


def setup_testing_defaults(environ: MutableMapping[str, Any]) -> None:
    """Update 'environ' with trivial defaults for testing purposes (never for real servers).

    Adds HTTP_HOST, SERVER_NAME, SERVER_PORT, REQUEST_METHOD, SCRIPT_NAME, PATH_INFO and the
    wsgi.* variables, without replacing existing settings.
    """
    environ.setdefault("SERVER_NAME", "127.0.0.1")
    environ.setdefault("SERVER_PROTOCOL", "HTTP/1.0")

    environ.setdefault("HTTP_HOST", environ["SERVER_NAME"])
    environ.setdefault("REQUEST_METHOD", "GET")

    if "SCRIPT_NAME" not in environ and "PATH_INFO" not in environ:
        environ.setdefault("SCRIPT_NAME", "")
        environ.setdefault("PATH_INFO", "/")

    environ.setdefault("wsgi.version", (1, 0))
    environ.setdefault("wsgi.run_once", 0)
    environ.setdefault("wsgi.multithread", 0)
    environ.setdefault("wsgi.multiprocess", 0)

    environ.setdefault("wsgi.input", BytesIO())
    environ.setdefault("wsgi.errors", StringIO())
    environ.setdefault("wsgi.url_scheme", guess_scheme(environ))

    if environ["wsgi.url_scheme"] == "http":
        environ.setdefault("SERVER_PORT", "80")
    elif environ["wsgi.url_scheme"] == "https":
        environ.setdefault("SERVER_PORT", "443")


#: wsgiref's hop-by-hop names, exactly (CPython's test_wsgiref pins them); derived from the one
#: set in :mod:`wsgikit.http11.grammar`, which servers and the validator use.
HOP_BY_HOP_HEADERS = WSGIREF_HOP_BY_HOP


def is_hop_by_hop(header_name: str) -> bool:
    """Return true if 'header_name' is an HTTP/1.1 "Hop-by-Hop" header (RFC 2616 13.5.1)."""
    return header_name.lower() in HOP_BY_HOP_HEADERS
