"""CSRF protection for unsafe methods: Fetch Metadata and Origin first, a session token last.

Modern browsers say where a request comes from: ``Sec-Fetch-Site`` (same-origin, same-site,
cross-site, none) and ``Origin``. A request whose browser says it is same-origin (or
user-initiated, ``none``) passes; one from another origin passes only if that origin is in
``trusted_origins``. Clients that send neither header (old browsers, scripts) must present the
synchronizer token bound to their session, in the ``csrf_token`` form field
(application/x-www-form-urlencoded) or the ``X-CSRF-Token`` header. Anything else gets a 403
whose body says why, and a line in ``wsgi.errors``.

Needs ``SessionMiddleware`` outside it for the token. ``csrf_token(environ)`` gives the token to
put in forms; ``rotate_token(environ)`` replaces it (call it on login, with ``regenerate()``).
"""

from __future__ import annotations

import base64
import hmac
import io
import secrets
from collections.abc import Iterable, Sequence
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from werkzeug.http import parse_options_header

from middleware._wsgi import plain_response
from middleware.sessions import get_session
from wsgikit.server.environ import cgi_key
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgikit.util import request_path

__all__ = ["CSRFMiddleware", "csrf_token", "rotate_token"]

SESSION_KEY = "_csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(environ: WSGIEnvironment) -> str:
    """A token for this session's forms: the session secret masked with a fresh random pad.

    Masking makes every rendered token different, so a compressed page cannot leak the secret
    byte by byte (BREACH); any of them verifies.
    """
    session = get_session(environ)
    secret = session.get(SESSION_KEY)
    if not isinstance(secret, str):
        secret = _new_secret()
        session[SESSION_KEY] = secret
    raw = secret.encode("ascii")
    pad = secrets.token_bytes(len(raw))
    masked = bytes(a ^ b for a, b in zip(pad, raw))
    return base64.urlsafe_b64encode(pad + masked).decode("ascii")


def rotate_token(environ: WSGIEnvironment) -> None:
    """Give the session a new CSRF secret (tokens rendered before stop working)."""
    get_session(environ)[SESSION_KEY] = _new_secret()


def _unmask(token: str) -> Optional[bytes]:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (ValueError, UnicodeError):
        return None
    if len(raw) % 2 or not raw:
        return None
    half = len(raw) // 2
    return bytes(a ^ b for a, b in zip(raw[:half], raw[half:]))


def _origin_tuple(url: str) -> Optional[tuple[str, str, int]]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


class CSRFMiddleware:
    """Reject cross-site unsafe requests with a 403 that says why.

    Reads ``Sec-Fetch-Site``, ``Origin``, ``Host``, the session's token (from
    ``environ["wsgikit.session"]``) and, for urlencoded form posts without the header, the body
    (up to ``max_form_bytes``; the app still gets the full body). Writes
    ``environ["wsgikit.csrf.passed"]`` naming the check that let the request through.
    ``trusted_origins`` are extra origins allowed to post (e.g. ``"https://app.example.com"``).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        trusted_origins: Sequence[str] = (),
        field_name: str = "csrf_token",
        header_name: str = "X-CSRF-Token",
        max_form_bytes: int = 1024 * 1024,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if isinstance(trusted_origins, str):
            raise TypeError("trusted_origins must be a sequence of origins, not one string")
        self.trusted: set[tuple[str, str, int]] = set()
        for origin in trusted_origins:
            parsed = _origin_tuple(origin)
            if parsed is None:
                raise ValueError(f"trusted origin {origin!r} is not scheme://host[:port]")
            self.trusted.add(parsed)
        if not field_name or not header_name:
            raise ValueError("field_name and header_name must be non-empty")
        if not isinstance(max_form_bytes, int) or max_form_bytes < 0:
            raise ValueError("max_form_bytes must be a non-negative int")
        self.app = app
        self.field_name = field_name
        self.header_key = cgi_key(header_name)
        self.max_form_bytes = max_form_bytes

    def _own_origin(self, environ: WSGIEnvironment) -> Optional[tuple[str, str, int]]:
        scheme = str(environ.get("wsgi.url_scheme", "http"))
        host = environ.get("HTTP_HOST") or (
            f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        )
        return _origin_tuple(f"{scheme}://{host}")

    def _check_origin(self, environ: WSGIEnvironment, origin: str) -> Optional[str]:
        """None when ``origin`` is ours or trusted, else the reason to refuse."""
        parsed = _origin_tuple(origin)
        if parsed is not None and (parsed == self._own_origin(environ) or parsed in self.trusted):
            return None
        return f"Origin {origin!r} is not this site and not a trusted origin"

    def _check_token(self, environ: WSGIEnvironment) -> Optional[str]:
        session = environ.get("wsgikit.session")
        if session is None:
            return "no Sec-Fetch-Site or Origin header, and no session to hold a CSRF token"
        secret = session.get(SESSION_KEY)
        token = environ.get(self.header_key) or self._form_token(environ)
        if not token:
            return (
                f"no Sec-Fetch-Site or Origin header, and no CSRF token "
                f"(form field {self.field_name!r} or the token header)"
            )
        unmasked = _unmask(token)
        if not isinstance(secret, str) or unmasked is None:
            return "CSRF token does not match this session"
        if not hmac.compare_digest(unmasked, secret.encode("ascii")):
            return "CSRF token does not match this session"
        return None

    def _form_token(self, environ: WSGIEnvironment) -> Optional[str]:
        ctype = parse_options_header(environ.get("CONTENT_TYPE"))[0].lower()
        if ctype != "application/x-www-form-urlencoded":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0 or length > self.max_form_bytes:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)  # the app reads the same body
        try:
            fields = parse_qs(body.decode("latin-1"), max_num_fields=1000)
        except ValueError:
            return None
        values = fields.get(self.field_name)
        return values[0] if values else None

    def check(self, environ: WSGIEnvironment) -> tuple[bool, str]:
        """``(allowed, why)`` for this request, without calling the app."""
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method in SAFE_METHODS:
            return True, "safe method"
        site = str(environ.get("HTTP_SEC_FETCH_SITE", "")).strip().lower()
        origin = environ.get("HTTP_ORIGIN")
        if site in ("same-origin", "none"):
            return True, f"Sec-Fetch-Site: {site}"
        if site in ("same-site", "cross-site"):
            if origin and self._check_origin(environ, origin) is None:
                return True, "trusted Origin"
            return (
                False,
                f"cross-origin request refused (Sec-Fetch-Site: {site}, Origin: {origin!r})",
            )
        if origin and origin != "null":
            reason = self._check_origin(environ, origin)
            return (True, "Origin") if reason is None else (False, reason)
        if origin == "null":
            return False, "Origin: null (an opaque origin) may not make unsafe requests"
        reason = self._check_token(environ)
        return (True, "CSRF token") if reason is None else (False, reason)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        allowed, why = self.check(environ)
        if allowed:
            environ["wsgikit.csrf.passed"] = why
            return self.app(environ, start_response)
        errors = environ.get("wsgi.errors")
        if errors is not None:
            errors.write(
                f"wsgikit.csrf: 403 for {environ.get('REQUEST_METHOD')} "
                f"{request_path(environ)}: {why}\n"
            )
        return plain_response(start_response, "403 Forbidden",
                              f"403 Forbidden: CSRF check failed: {why}",
                              [("Cache-Control", "no-store")])
