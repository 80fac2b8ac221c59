"""Sessions, cookies and CSRF together: a login form, a per-session counter, logout.

Routes (relative to where it is mounted):

- ``GET /``: the counter (one more each visit) and a login or logout form, each with a CSRF
  token.
- ``POST /login`` (field ``username``): ``regenerate()`` + a new CSRF token, then 303 to ``/``.
- ``POST /logout``: ``clear()``, then 303 to ``/``.
- ``GET /prefs/``: sets ``theme``, a JavaScript-readable cookie scoped to ``Path=<mount>/prefs/``.
- ``GET /cookies`` and ``GET /prefs/cookies``: the cookie names this request carried, as JSON.

Sessions live on the server (``MemoryStore`` by default; pass ``store=RedisStore(...)`` for
several processes): the cookie holds only a signed id, so logging out deletes the session and
every copy of the cookie dies with it. (With ``CookieStore`` a copied cookie would stay valid
until it expires.) Sessions also end ``ABSOLUTE_LIFETIME`` after login, however active.

Key rotation: ``make_app(secret_keys=[new, old])`` signs with ``new`` and still accepts
cookies signed with ``old``; the page says which key signed the cookie it received. Set
``WSGIKIT_DEMO_KEYS`` (comma-separated, newest first) to keep keys across restarts; otherwise
a random key is made at start-up.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Optional
from urllib.parse import parse_qs

from middleware._wsgi import local_redirect
from middleware.cookies import CookieMiddleware, RequestCookies, ResponseCookies
from middleware.csrf import CSRFMiddleware, csrf_token, rotate_token
from middleware.sessions import CookieStore, MemoryStore, Session, SessionMiddleware, SessionStore
from middleware.signing import InvalidSignature, Key, Signer
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")
ABSOLUTE_LIFETIME = 12 * 3600  # a login lasts at most this long, however active
MAX_FORM_BYTES = 4096


def _respond(
    start_response: StartResponse,
    status: str,
    body: str,
    content_type: str = "text/html; charset=utf-8",
    extra: Sequence[tuple[str, str]] = (),
) -> list[bytes]:
    data = body.encode("utf-8")
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
        *extra,
    ]
    start_response(status, headers)
    return [data]


def _read_form(environ: WSGIEnvironment) -> dict[str, list[str]]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0 or length > MAX_FORM_BYTES:
        return {}
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
    return parse_qs(body, max_num_fields=20)


class SessionDemo:
    """The inner app: routes above; reads the session, cookies and CSRF token from the environ."""

    def __init__(self, key_names: Sequence[str], signers: Sequence[Signer]) -> None:
        self.key_names = list(key_names)
        self.signers = list(signers)  # one per key, to tell which one signed a cookie
        self.cookie_name: Callable[[bool], str] = lambda secure: "session"  # set by make_app

    def _which_key(self, environ: WSGIEnvironment) -> str:
        secure = environ.get("wsgi.url_scheme") == "https"
        value = environ["wsgikit.cookies"].get(self.cookie_name(secure))
        if value is None:
            return "none (no session cookie yet)"
        for name, signer in zip(self.key_names, self.signers):
            try:
                signer.unsign(value)  # a signed id or (cookie store) signed data
            except InvalidSignature:
                continue
            return name
        return "none that we know"

    def _page(self, environ: WSGIEnvironment, session: Session) -> str:
        base = html.escape(environ.get("SCRIPT_NAME", ""))
        token = html.escape(csrf_token(environ))
        user = session.get("user")
        count = session.get("count", 0)
        signed_by = html.escape(self._which_key(environ))
        if user:
            greeting = f'<p id="greeting">Logged in as <b>{html.escape(user)}</b>.</p>'
            form = (
                f'<form id="logout" method="post" action="{base}/logout">'
                f'<input type="hidden" name="csrf_token" value="{token}">'
                '<button type="submit">Log out</button></form>'
            )
        else:
            greeting = '<p id="greeting">Not logged in.</p>'
            form = (
                f'<form id="login" method="post" action="{base}/login">'
                f'<input type="hidden" name="csrf_token" value="{token}">'
                '<label>User name <input name="username" required maxlength="32"></label> '
                '<button type="submit">Log in</button></form>'
            )
        return (
            '<!doctype html>\n<html><head><meta charset="utf-8"><title>session demo</title>'
            "</head><body>\n<h1>Session demo</h1>\n"
            f'{greeting}\n<p>Visits this session: <span id="count">{count}</span></p>\n'
            f"{form}\n"
            f'<p>Session cookie signed by key: <span id="signed-by">{signed_by}</span> '
            f"(newest key: {html.escape(self.key_names[0])})</p>\n"
            f'<p><a href="{base}/prefs/">Set a Path-scoped preference cookie</a></p>\n'
            "</body></html>\n"
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        session: Session = environ["wsgikit.session"]
        cookies: RequestCookies = environ["wsgikit.cookies"]
        base = environ.get("SCRIPT_NAME", "")
        home = [("Location", local_redirect(base + "/"))]
        if path == "/" and method in ("GET", "HEAD"):
            session["count"] = int(session.get("count", 0)) + 1
            return _respond(start_response, "200 OK", self._page(environ, session))
        if path == "/login" and method == "POST":
            username = (_read_form(environ).get("username") or [""])[0]
            if not USERNAME.fullmatch(username):
                return _respond(
                    start_response,
                    "400 Bad Request",
                    "user name must be 1-32 letters, digits, '_', '.' or '-'\n",
                    "text/plain; charset=utf-8",
                )
            session.regenerate()  # a new session id: a planted one is useless now
            rotate_token(environ)
            session["user"] = username
            return _respond(start_response, "303 See Other", "", extra=home)
        if path == "/logout" and method == "POST":
            session.clear()
            return _respond(start_response, "303 See Other", "", extra=home)
        if path == "/prefs/" and method in ("GET", "HEAD"):
            response_cookies: ResponseCookies = environ["wsgikit.response_cookies"]
            # Readable by JavaScript on purpose (a UI preference), and only under /prefs/.
            response_cookies.set("theme", "dark", path=base + "/prefs/", httponly=False)
            body = (
                '<!doctype html>\n<html><head><meta charset="utf-8"><title>prefs</title>'
                "</head><body><p>theme cookie set for this path only.</p></body></html>\n"
            )
            return _respond(start_response, "200 OK", body)
        if path in ("/cookies", "/prefs/cookies") and method in ("GET", "HEAD"):
            names = sorted(cookies)
            return _respond(
                start_response,
                "200 OK",
                json.dumps({"cookies": names}) + "\n",
                "application/json",
            )
        if path in ("/", "/login", "/logout", "/prefs/", "/cookies", "/prefs/cookies"):
            return _respond(
                start_response,
                "405 Method Not Allowed",
                f"{method} is not allowed here\n",
                "text/plain; charset=utf-8",
                extra=[("Allow", "POST" if path in ("/login", "/logout") else "GET, HEAD")],
            )
        return _respond(start_response, "404 Not Found", "Not Found\n", "text/plain")


def make_app(
    secret_keys: Optional[Sequence[Key]] = None,
    *,
    store: Optional[SessionStore | CookieStore] = None,
    secure: Optional[bool] = None,
) -> WSGIApplication:
    """The demo wrapped in SessionMiddleware (outermost), CookieMiddleware and CSRFMiddleware.

    ``secret_keys`` is newest first; by default a random key. ``store`` defaults to a
    ``MemoryStore`` (sessions end at restart); ``CookieStore()`` puts them in the cookie.
    """
    if secret_keys is None:
        env_keys = os.environ.get("WSGIKIT_DEMO_KEYS", "")
        keys: list[Key] = [k for k in env_keys.split(",") if k] or [secrets.token_hex(32)]
    else:
        keys = list(secret_keys)
    names = ["newest"] + [f"older #{i}" for i in range(1, len(keys))]
    session_signers = [Signer([key], salt="wsgikit.session") for key in keys]
    demo = SessionDemo(names, session_signers)
    inner: WSGIApplication = CookieMiddleware(CSRFMiddleware(demo))
    sessions = SessionMiddleware(
        inner,
        secret_keys=keys,
        store=MemoryStore() if store is None else store,
        secure=secure,
        absolute_max_age=ABSOLUTE_LIFETIME,
    )
    demo.cookie_name = lambda https: sessions.cookie_name(https if secure is None else secure)
    return sessions


app = make_app()
