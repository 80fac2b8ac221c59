"""Mount WSGI apps under path prefixes and host names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Optional

from middleware._wsgi import plain_response
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment


class DispatchMiddleware:
    """Send each request to the app mounted at the longest matching path prefix.

    ``mounts`` maps path prefixes (``"/api"``, ``"/docs/v2"``) to apps; a prefix matches whole
    path segments only (``/api`` matches ``/api`` and ``/api/x``, not ``/apix``). ``hosts`` maps
    host names (``"api.example.com"``, port ignored, case-insensitive) to apps and is checked
    first. The wrapped ``app`` handles everything else; with ``app=None`` that is a 404.

    Reads HTTP_HOST (or SERVER_NAME) and PATH_INFO. Writes SCRIPT_NAME and PATH_INFO: the
    matched prefix moves from PATH_INFO to the end of SCRIPT_NAME, so the mounted app builds
    correct URLs with ``wsgiref.util.application_uri``.
    """

    def __init__(
        self,
        app: Optional[WSGIApplication] = None,
        *,
        mounts: Optional[Mapping[str, WSGIApplication]] = None,
        hosts: Optional[Mapping[str, WSGIApplication]] = None,
    ) -> None:
        if app is not None and not callable(app):
            raise TypeError("app must be a WSGI callable or None")
        self.app = app
        self.mounts: list[tuple[str, WSGIApplication]] = []
        for prefix, mounted in (mounts or {}).items():
            if not isinstance(prefix, str) or not prefix.startswith("/") or prefix == "/":
                raise ValueError(f"mount prefix must start with '/' and not be '/': {prefix!r}")
            if prefix.endswith("/") or "?" in prefix or "#" in prefix or "//" in prefix:
                raise ValueError(f"mount prefix {prefix!r}: no trailing '/', '//', '?' or '#'")
            if not callable(mounted):
                raise TypeError(f"app mounted at {prefix!r} is not callable")
            native = prefix.encode("utf-8").decode("latin-1")  # PEP 3333 native string
            self.mounts.append((native, mounted))
        self.mounts.sort(key=lambda item: len(item[0]), reverse=True)
        self.hosts: dict[str, WSGIApplication] = {}
        for host, mounted in (hosts or {}).items():
            if not isinstance(host, str) or not host or "/" in host or ":" in host.strip("[]"):
                raise ValueError(f"host must be a bare host name without port: {host!r}")
            if not callable(mounted):
                raise TypeError(f"app for host {host!r} is not callable")
            self.hosts[host.lower().rstrip(".")] = mounted

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.hosts:
            host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            mounted = self.hosts.get(name.lower().rstrip("."))
            if mounted is not None:
                return mounted(environ, start_response)
        path = environ.get("PATH_INFO", "")
        for prefix, mounted in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix):]
                return mounted(environ, start_response)
        if self.app is not None:
            return self.app(environ, start_response)
        return plain_response(
            start_response, "404 Not Found", "Not Found: no application is mounted at this path",
            head=environ.get("REQUEST_METHOD") == "HEAD",
        )
