"""Cross-origin resource sharing (the Fetch standard's CORS protocol) for allowed origins."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Union

from middleware._wsgi import HeaderList, add_vary, intercept_start_response, plain_response
from wsgikit.headers import Headers
from wsgikit.http11.grammar import TOKEN_RE
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?\Z|https?://\[[0-9A-Fa-f:.]+\]"
                        r"(?::[0-9]{1,5})?\Z")
_SAFE_METHODS = frozenset({"GET", "HEAD", "POST"})


def _tokens(values: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{what} must be a list of names, not one string")
    result = tuple(values)
    for value in result:
        if not isinstance(value, str) or (value != "*" and not TOKEN_RE.fullmatch(value)):
            raise ValueError(f"{what}: {value!r} is not a valid name")
    return result


class CORSMiddleware:
    """Answer CORS preflights and add ``Access-Control-*`` headers for allowed origins.

    ``allow_origins``: exact origins (``"https://app.example.com"``) or ``"*"`` (not with
    ``allow_credentials``). ``allow_methods``, ``allow_headers`` (``"*"`` allowed without
    credentials), ``expose_headers``, ``allow_credentials`` and ``max_age`` (seconds a preflight
    may be cached) map to the response headers of the same names. A preflight from an origin,
    method or header not allowed is answered 403 with the reason; the app never sees preflights.
    Every response the origin can affect carries ``Vary: Origin``.

    Reads REQUEST_METHOD, HTTP_ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD and
    HTTP_ACCESS_CONTROL_REQUEST_HEADERS. Writes ``wsgikit.cors.allowed`` (bool).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        allow_origins: Union[str, Iterable[str]] = (),
        allow_methods: Iterable[str] = ("GET", "HEAD", "POST"),
        allow_headers: Iterable[str] = (),
        expose_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        max_age: int = 600,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if allow_origins == "*":
            self.any_origin = True
            self.origins: frozenset[str] = frozenset()
        else:
            if isinstance(allow_origins, str):
                raise TypeError("allow_origins must be '*' or a list of origins")
            origins = tuple(allow_origins)
            for origin in origins:
                if not isinstance(origin, str) or not _ORIGIN_RE.match(origin):
                    raise ValueError(
                        f"allow_origins: {origin!r} is not an origin like 'https://example.com'"
                        " (scheme://host[:port], no path or trailing slash)"
                    )
            self.any_origin = False
            self.origins = frozenset(o.lower() for o in origins)
        self.methods = tuple(m.upper() for m in _tokens(allow_methods, "allow_methods"))
        self.headers = _tokens(allow_headers, "allow_headers")
        self.expose = _tokens(expose_headers, "expose_headers")
        if not isinstance(allow_credentials, bool):
            raise TypeError("allow_credentials must be True or False")
        if allow_credentials and (self.any_origin or "*" in self.headers or "*" in self.expose
                                  or "*" in self.methods):
            raise ValueError("allow_credentials=True cannot be combined with '*' (Fetch standard:"
                             " credentialed requests need explicit origins and names)")
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"max_age must be a non-negative int, got {max_age!r}")
        self.app = app
        self.credentials = allow_credentials
        self.max_age = max_age
        self.allowed_headers_lower = frozenset(h.lower() for h in self.headers)

    def origin_allowed(self, origin: str) -> bool:
        return self.any_origin or origin.lower() in self.origins

    def _origin_headers(self, origin: str) -> HeaderList:
        if self.any_origin and not self.credentials:
            headers = [("Access-Control-Allow-Origin", "*")]
        else:
            headers = [("Access-Control-Allow-Origin", origin)]
        if self.credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        origin: str = environ.get("HTTP_ORIGIN") or ""
        method = environ.get("REQUEST_METHOD", "GET")
        requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        environ["wsgikit.cors.allowed"] = bool(origin) and self.origin_allowed(origin)
        if origin and method == "OPTIONS" and requested:
            return self._preflight(environ, start_response, origin, requested)
        vary = not self.any_origin or self.credentials

        def add_cors(status: str, headers: HeaderList) -> tuple[str, HeaderList]:
            fields = Headers(headers)  # edits ``headers`` in place
            if vary:
                add_vary(fields, "Origin")
            if origin and environ["wsgikit.cors.allowed"]:
                for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
                             "Access-Control-Expose-Headers"):
                    del fields[name]
                headers += self._origin_headers(origin)
                if self.expose:
                    headers.append(("Access-Control-Expose-Headers", ", ".join(self.expose)))
            return status, headers

        return self.app(environ, intercept_start_response(start_response, add_cors))

    def _preflight(self, environ: WSGIEnvironment, start_response: StartResponse, origin: str,
                   requested: str) -> Iterable[bytes]:
        vary = [("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")]
        if not self.origin_allowed(origin):
            return plain_response(start_response, "403 Forbidden",
                                  f"CORS preflight refused: origin {origin!r} is not allowed", vary)
        method = requested.strip().upper()
        if method not in self.methods and "*" not in self.methods and method not in _SAFE_METHODS:
            return plain_response(start_response, "403 Forbidden",
                                  f"CORS preflight refused: method {method!r} is not allowed", vary)
        asked_header = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
        asked = [h.strip() for h in asked_header.split(",") if h.strip()]
        if "*" not in self.headers:
            refused = [h for h in asked if h.lower() not in self.allowed_headers_lower]
            if refused:
                return plain_response(
                    start_response, "403 Forbidden",
                    f"CORS preflight refused: header(s) {', '.join(refused)!r} not allowed", vary)
        headers = [
            *self._origin_headers(origin),
            ("Access-Control-Allow-Methods", ", ".join(self.methods)),
            ("Access-Control-Max-Age", str(self.max_age)),
            *vary,
        ]
        if asked:
            allow = ", ".join(asked) if "*" in self.headers else ", ".join(self.headers)
            headers.append(("Access-Control-Allow-Headers", allow))
        start_response("204 No Content", headers)
        return []
