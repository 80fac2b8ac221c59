"""``build_environ``: the PEP 3333 environ for one parsed request, with as little work as possible.

The server builds the keys that never change (``wsgi.version``, ``SERVER_NAME``...) once per
listener with :func:`base_environ`; each request copies that dict and adds its own keys. Nothing
from ``os.environ`` ever goes in: a server process's secrets are not the application's input.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Final, Optional
from urllib.parse import unquote_to_bytes

from wsgikit.conformance.pep3333 import FORBIDDEN_KEYS, REQUIRED_KEYS
from wsgikit.util import FileWrapper

if TYPE_CHECKING:
    from wsgikit.http11 import RequestHead

__all__ = ["base_environ", "build_environ", "cgi_key", "header_key", "BUILT_KEYS", "REQUIRED_KEYS"]

#: Keys every environ built here carries: PEP 3333's required keys, and the three it lets a
#: server omit that an application needs to reconstruct the URL ("URL Reconstruction").
BUILT_KEYS: Final = (*REQUIRED_KEYS, "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING")


def cgi_key(name: str) -> str:
    """The environ key of a header name (RFC 3875 §4.1.18): ``x-forwarded-for`` ->
    ``HTTP_X_FORWARDED_FOR``; Content-Type and Content-Length -> ``CONTENT_TYPE`` and
    ``CONTENT_LENGTH`` (PEP 3333 forbids their ``HTTP_`` forms). :func:`header_key` also drops
    names with ``_``."""
    key = "HTTP_" + name.upper().replace("-", "_")
    return FORBIDDEN_KEYS.get(key, key)


# Environ key of a lower-cased header name. Common names are precomputed; others are computed
# per request (never cached: an attacker-controlled cache would be unbounded memory).
_KEYS: Final[dict[str, str]] = {
    name: cgi_key(name)
    for name in (
        "host", "user-agent", "accept", "accept-encoding", "accept-language", "connection",
        "cookie", "referer", "cache-control", "pragma", "origin", "authorization",
        "if-none-match", "if-modified-since", "x-forwarded-for", "x-forwarded-proto",
        "x-requested-with", "upgrade-insecure-requests", "dnt", "te", "expect", "range",
        "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user",
        "content-type", "content-length",
    )
}


def header_key(name: str) -> Optional[str]:
    """The environ key for a lower-cased header name; None if the name must be dropped.

    Names containing ``_`` are dropped: after the CGI mapping ``X_Auth_User`` and
    ``X-Auth-User`` would both become ``HTTP_X_AUTH_USER``, letting a client forge a header a
    proxy vouches for.
    """
    key = _KEYS.get(name)
    if key is not None:
        return key
    if "_" in name:
        return None
    return cgi_key(name)


def base_environ(
    *,
    server_name: str,
    server_port: str,
    url_scheme: str = "http",
    errors: Any = None,
    multithread: bool = True,
    multiprocess: bool = False,
    file_wrapper: Callable[..., Any] = FileWrapper,
    extra: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
    """The keys shared by every request on one listener (copied, never shared, per request)."""
    environ: dict[str, Any] = {
        "SCRIPT_NAME": "",
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url_scheme,
        "wsgi.errors": sys.stderr if errors is None else errors,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": file_wrapper,
    }
    if extra:
        environ.update(extra)
    return environ


def build_environ(
    head: RequestHead,
    base: Mapping[str, Any],
    *,
    wsgi_input: Any,
    remote_addr: str = "",
    remote_port: str = "",
    queue_wait: float = 0.0,
) -> dict[str, Any]:
    """The environ of one request: ``base`` plus the request line, headers and client address.

    ``PATH_INFO`` is the percent-decoded path as a latin-1 ``str`` (PEP 3333's "bytes in a
    str"); ``QUERY_STRING`` stays raw; ``REQUEST_URI``/``RAW_URI`` keep the target as sent.
    Repeated headers are joined with ``", "`` (RFC 9110 §5.3).
    """
    environ = dict(base)
    path = head.path
    if "%" in path:
        path = unquote_to_bytes(path).decode("latin-1")
    environ["REQUEST_METHOD"] = head.method
    environ["PATH_INFO"] = path
    environ["QUERY_STRING"] = head.query
    environ["REQUEST_URI"] = environ["RAW_URI"] = head.target
    environ["SERVER_PROTOCOL"] = "HTTP/" + head.http_version
    environ["REMOTE_ADDR"] = remote_addr
    environ["REMOTE_PORT"] = remote_port
    environ["wsgi.input"] = wsgi_input
    environ["wsgikit.queue_wait"] = queue_wait
    keys = _KEYS
    for name, value in head.headers:
        key = keys.get(name)
        if key is None:
            if "_" in name:
                continue
            key = cgi_key(name)
        if key in environ and key.startswith(("HTTP_", "CONTENT_")):
            if key == "CONTENT_LENGTH":
                continue  # the parser checked repeats are identical; one value is enough
            environ[key] = environ[key] + ", " + value
        else:
            environ[key] = value
    if head.content_length is not None:
        environ["CONTENT_LENGTH"] = str(head.content_length)
    elif head.chunked:
        environ.pop("CONTENT_LENGTH", None)
    if head.host is not None and "HTTP_HOST" not in environ:
        environ["HTTP_HOST"] = head.host
    elif head.host is not None and head.scheme is not None:
        # absolute-form: the URI's authority wins over the Host header (RFC 9112 §3.2.2)
        environ["HTTP_HOST"] = head.host
    return environ
