"""Cookies: lenient in, strict out, secure by default.

Reading: the ``Cookie`` header is split on ``;`` the way browsers write it and each pair is
parsed on its own (plain ``name=value`` by one regex, anything else, quoted values included, by
werkzeug's ``parse_cookie``), so one malformed pair never costs the good ones
(``http.cookies.SimpleCookie`` drops the whole header; it is never used here). A value
werkzeug's grammar refuses (JSON, inner spaces) is kept verbatim, as browsers do. Duplicates are
kept in order (browsers send the most specific path first). Every dropped pair is recorded with
the reason in ``RequestCookies.problems``.

Writing: ``build_set_cookie`` wraps werkzeug's ``dump_cookie`` with secure defaults (HttpOnly,
SameSite=Lax, Path=/, Secure on https) and refuses, with a ValueError naming the rule, what
RFC 6265bis says browsers reject or what would be unsafe: SameSite=None or Partitioned without
Secure, broken ``__Host-``/``__Secure-`` prefixes, control characters (header injection), and
name plus value over 4096 bytes.

``CookieMiddleware`` puts both into the environ; the functions work without it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional, Union

from werkzeug.http import dump_cookie
from werkzeug.sansio.http import parse_cookie
from werkzeug.wsgi import ClosingIterator

from middleware._wsgi import HeaderList, intercept_start_response, is_https
from middleware.signing import ExpiredSignature, InvalidSignature, Key, Signer
from wsgikit.http11.grammar import OWS, TCHAR, TOKEN_RE
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgikit.util import request_path

__all__ = [
    "MAX_ATTRIBUTE_BYTES",
    "MAX_COOKIE_BYTES",
    "CookieMiddleware",
    "CookieProblem",
    "RequestCookies",
    "ResponseCookies",
    "build_delete_cookie",
    "build_set_cookie",
    "parse_cookie_header",
    "request_cookies",
]

MAX_COOKIE_BYTES = 4096  # RFC 6265bis: name + value
MAX_ATTRIBUTE_BYTES = 1024  # RFC 6265bis: one attribute value
MAX_PAIRS = 256  # more than any browser sends for one host (RFC 6265 asks for >= 50)

ENVIRON_COOKIES = "wsgikit.cookies"
ENVIRON_RESPONSE_COOKIES = "wsgikit.response_cookies"

_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # TAB is whitespace, handled by the grammar
_CTL_OR_TAB = re.compile(r"[\x00-\x1f\x7f]")
# RFC 6265 cookie-name = token (RFC 9110 §5.6.2, wsgikit.http11.grammar.TOKEN_RE).
# token "=" *cookie-octet (RFC 6265 4.1.1), unquoted: parsed without the general grammar.
_SIMPLE_PAIR = re.compile(
    rf"([{TCHAR}]+){OWS}={OWS}([\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*)"
)
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}

Expires = Union[datetime, int, float, None]
MaxAge = Union[int, timedelta, None]


# --------------------------------------------------------------------------- request side


@dataclass(frozen=True)
class CookieProblem:
    """One cookie the parser or a signature check refused: what it was and why."""

    text: str  # the pair as received (truncated to 100 characters)
    reason: str
    name: Optional[str] = None


class RequestCookies:
    """The request's cookies: ordered ``(name, value)`` pairs, duplicates kept.

    Mapping access (``cookies[name]``, ``get``, ``in``) gives the *first* value, the one for
    the most specific path; ``getlist`` gives all. ``problems`` lists what was dropped and why.
    """

    def __init__(
        self,
        pairs: Iterable[tuple[str, str]] = (),
        problems: Iterable[CookieProblem] = (),
        *,
        signer: Optional[Signer] = None,
    ) -> None:
        self.pairs: list[tuple[str, str]] = list(pairs)
        self.problems: list[CookieProblem] = list(problems)
        self.signer = signer

    def __getitem__(self, name: str) -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        raise KeyError(name)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        try:
            return self[name]
        except KeyError:
            return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self.pairs))

    def __len__(self) -> int:
        return len(dict.fromkeys(key for key, _ in self.pairs))

    def items(self) -> list[tuple[str, str]]:
        """Every pair in header order, duplicates included."""
        return list(self.pairs)

    def get_signed(
        self, name: str, *, signer: Optional[Signer] = None, max_age: Optional[float] = None
    ) -> Optional[str]:
        """The verified value of signed cookie ``name``, or None when absent, tampered or expired.

        A refused value is recorded in ``problems`` (once per name and reason). With duplicates,
        the first one that verifies wins: a sibling subdomain cannot shadow it with junk.
        """
        signer = signer or self.signer
        if signer is None:
            raise RuntimeError(
                "no signer: pass signer=Signer([...]) or give CookieMiddleware secret_keys"
            )
        for value in self.getlist(name):
            try:
                return signer.unsign(value, max_age=max_age)
            except ExpiredSignature as exc:
                self._note(CookieProblem(_clip(f"{name}={value}"), f"expired: {exc}", name))
            except InvalidSignature:
                self._note(CookieProblem(_clip(f"{name}={value}"), "bad signature", name))
        return None

    def _note(self, problem: CookieProblem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def __repr__(self) -> str:
        return f"<RequestCookies {self.pairs!r} problems={len(self.problems)}>"


def _clip(text: str) -> str:
    return text if len(text) <= 100 else text[:97] + "..."


def _pair_problem(segment: str) -> Optional[str]:
    """Why ``segment`` (one ``;``-separated piece, stripped) is not a usable cookie, or None."""
    if _CTL.search(segment):
        return "control character (RFC 6265bis: drop the cookie)"
    name, eq, value = segment.partition("=")
    name = name.strip(" \t")
    if not eq:
        return "no '=' (a nameless cookie; ignored, see CVE-2023-23934)"
    if not name:
        return "empty name (nameless cookies can shadow prefixed ones, CVE-2023-23934)"
    if not TOKEN_RE.fullmatch(name):
        return "invalid character in name"
    if len(segment.encode("utf-8", "surrogateescape")) > MAX_COOKIE_BYTES + 1:
        return f"name plus value longer than {MAX_COOKIE_BYTES} bytes"
    return None


def parse_cookie_header(
    header: Optional[str],
    *,
    signer: Optional[Signer] = None,
    max_pairs: int = MAX_PAIRS,
) -> RequestCookies:
    """Parse a ``Cookie`` header value leniently, pair by pair, keeping a list of what was dropped.

    ``header`` may be a PEP 3333 native string (latin-1 carrying UTF-8 bytes, as in
    ``environ["HTTP_COOKIE"]``) or already-decoded text.
    """
    pairs: list[tuple[str, str]] = []
    problems: list[CookieProblem] = []
    if not header:
        return RequestCookies(pairs, problems, signer=signer)
    for raw in header.split(";"):
        segment = raw.strip(" \t")
        if not segment:
            continue
        if not segment.isascii():
            try:
                segment = segment.encode("latin-1").decode("utf-8")
            except UnicodeEncodeError:
                pass  # already text beyond latin-1: keep it as given
            except UnicodeDecodeError:
                problems.append(CookieProblem(_clip(segment), "not valid UTF-8"))
                continue
        if len(pairs) >= max_pairs:
            problems.append(CookieProblem(_clip(segment), f"more than {max_pairs} cookies"))
            continue
        simple = _SIMPLE_PAIR.fullmatch(segment)
        if simple is not None and len(segment) <= MAX_COOKIE_BYTES + 1:
            # The common case; werkzeug's grammar gives the same pair (tested as a property).
            pairs.append((simple[1], simple[2]))
            continue
        reason = _pair_problem(segment)
        if reason is not None:
            name = segment.partition("=")[0].strip(" \t") or None
            problems.append(CookieProblem(_clip(segment), reason, name))
            continue
        found = list(parse_cookie(segment).items(multi=True))
        if len(found) == 1:
            pairs.append(found[0])
        else:
            # werkzeug refuses values with inner spaces or stray quotes (JSON, for one);
            # browsers keep them verbatim (RFC 6265bis 5.6), and so do we.
            name, _, value = segment.partition("=")
            pairs.append((name.strip(" \t"), value.strip(" \t")))
    return RequestCookies(pairs, problems, signer=signer)


def request_cookies(environ: WSGIEnvironment, *, signer: Optional[Signer] = None) -> RequestCookies:
    """The request's cookies, parsed once and cached in ``environ["wsgikit.cookies"]``."""
    cookies = environ.get(ENVIRON_COOKIES)
    if not isinstance(cookies, RequestCookies):
        cookies = parse_cookie_header(environ.get("HTTP_COOKIE"), signer=signer)
        environ[ENVIRON_COOKIES] = cookies
    return cookies


# --------------------------------------------------------------------------- response side


def _check_attribute(label: str, value: Optional[str]) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"cookie {label} must be a str, not {type(value).__name__}")
    if _CTL_OR_TAB.search(value) or ";" in value:
        raise ValueError(f"cookie {label} {value!r} contains a control character or ';'")
    if len(value.encode("utf-8")) > MAX_ATTRIBUTE_BYTES:
        raise ValueError(f"cookie {label} is longer than {MAX_ATTRIBUTE_BYTES} bytes")


def build_set_cookie(
    name: str,
    value: str,
    *,
    secure: bool,
    max_age: MaxAge = None,
    expires: Expires = None,
    path: Optional[str] = "/",
    domain: Optional[str] = None,
    httponly: bool = True,
    samesite: Optional[str] = "Lax",
    partitioned: bool = False,
) -> str:
    """One ``Set-Cookie`` header value, checked against RFC 6265bis; ValueError says what failed.

    ``secure`` has no default on purpose: the caller decides from the request's scheme
    (``ResponseCookies`` does it for you). ``samesite=None`` leaves the attribute out;
    ``samesite="None"`` sends ``SameSite=None`` and then needs ``secure=True``.
    """
    if not isinstance(name, str) or not TOKEN_RE.fullmatch(name):
        raise ValueError(
            f"cookie name {name!r} is not an RFC 6265 token "
            "(letters, digits and !#$%&'*+-.^_`|~ only; no spaces, '=', ';' or quotes)"
        )
    if not isinstance(value, str):
        raise TypeError(f"cookie {name} value must be a str, not {type(value).__name__}")
    if _CTL_OR_TAB.search(value):
        raise ValueError(f"cookie {name} value contains a control character (header injection)")
    _check_attribute("path", path)
    _check_attribute("domain", domain)
    site: Optional[str] = None
    if samesite is not None:
        site = _SAMESITE.get(str(samesite).lower())
        if site is None:
            raise ValueError(f"SameSite must be 'Strict', 'Lax' or 'None', not {samesite!r}")
    if site == "None" and not secure:
        raise ValueError(f"cookie {name}: SameSite=None needs Secure (browsers reject it)")
    if partitioned and not secure:
        raise ValueError(f"cookie {name}: Partitioned needs Secure (RFC 6265bis CHIPS)")
    lname = name.lower()
    if lname.startswith("__secure-") and not secure:
        raise ValueError(f"cookie {name}: the __Secure- prefix needs Secure")
    if lname.startswith("__host-"):
        if not secure or path != "/" or domain is not None:
            raise ValueError(
                f"cookie {name}: the __Host- prefix needs Secure, Path=/ and no Domain"
            )
    if isinstance(max_age, bool) or (
        max_age is not None and not isinstance(max_age, (int, timedelta))
    ):
        raise TypeError(f"max_age must be int seconds or a timedelta, not {max_age!r}")
    header = dump_cookie(
        name,
        value,
        max_age=max_age,
        expires=expires,
        path=path,
        domain=domain,
        secure=secure,
        httponly=httponly,
        samesite=site,
        partitioned=partitioned,
        max_size=0,  # we raise below instead of warning
    )
    pair = header.partition(";")[0]
    size = len(pair.encode("latin-1")) - 1  # name + value as sent, without the '='
    if size > MAX_COOKIE_BYTES:
        raise ValueError(
            f"cookie {name} is {size} bytes (name plus encoded value); browsers drop cookies over "
            f"{MAX_COOKIE_BYTES} bytes (RFC 6265bis)"
        )
    return header


def build_delete_cookie(
    name: str,
    *,
    secure: bool,
    path: Optional[str] = "/",
    domain: Optional[str] = None,
    httponly: bool = True,
    samesite: Optional[str] = "Lax",
    partitioned: bool = False,
) -> str:
    """A ``Set-Cookie`` value that removes ``name`` (Max-Age=0, Expires in 1970).

    Path and Domain must match the ones the cookie was set with, or the browser keeps it.
    """
    return build_set_cookie(
        name,
        "",
        secure=secure,
        max_age=0,
        expires=0,
        path=path,
        domain=domain,
        httponly=httponly,
        samesite=samesite,
        partitioned=partitioned,
    )


class ResponseCookies:
    """Cookies to set on the response, collected until ``start_response``.

    ``secure=None`` (the default for each ``set``) means Secure exactly when the request came
    over https. ``set_signed`` signs with the middleware's keys. After the headers have gone
    out, ``set``/``delete`` raise RuntimeError instead of being silently lost.
    """

    def __init__(self, *, https: bool, signer: Optional[Signer] = None) -> None:
        self.https = https
        self.signer = signer
        self._headers: dict[tuple[str, Optional[str], Optional[str]], str] = {}
        self.sent = False

    def _secure(self, secure: Optional[bool]) -> bool:
        return self.https if secure is None else bool(secure)

    def _store(self, name: str, path: Optional[str], domain: Optional[str], header: str) -> None:
        if self.sent:
            raise RuntimeError(f"cannot set cookie {name}: the response headers were already sent")
        # A later set/delete of the same (name, path, domain) replaces the earlier one.
        self._headers[(name, path, domain)] = header

    def set(
        self,
        name: str,
        value: str,
        *,
        max_age: MaxAge = None,
        expires: Expires = None,
        path: Optional[str] = "/",
        domain: Optional[str] = None,
        secure: Optional[bool] = None,
        httponly: bool = True,
        samesite: Optional[str] = "Lax",
        partitioned: bool = False,
    ) -> None:
        """Queue a cookie; raises ValueError at once when it breaks an RFC 6265bis rule."""
        header = build_set_cookie(
            name,
            value,
            secure=self._secure(secure),
            max_age=max_age,
            expires=expires,
            path=path,
            domain=domain,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )
        self._store(name, path, domain, header)

    def set_signed(self, name: str, value: str, **options: Any) -> None:
        """``set`` with the value signed (HMAC-SHA256, timestamped); read it with get_signed."""
        if self.signer is None:
            raise RuntimeError("no signer: give CookieMiddleware secret_keys to sign cookies")
        self.set(name, self.signer.sign(value), **options)

    def delete(
        self,
        name: str,
        *,
        path: Optional[str] = "/",
        domain: Optional[str] = None,
        secure: Optional[bool] = None,
        samesite: Optional[str] = "Lax",
        partitioned: bool = False,
    ) -> None:
        """Queue the removal of ``name`` (same path and domain as when it was set)."""
        header = build_delete_cookie(
            name,
            secure=self._secure(secure),
            path=path,
            domain=domain,
            samesite=samesite,
            partitioned=partitioned,
        )
        self._store(name, path, domain, header)

    def headers(self) -> HeaderList:
        """The queued ``("Set-Cookie", value)`` header pairs, in the order first queued."""
        return [("Set-Cookie", value) for value in self._headers.values()]

    def __len__(self) -> int:
        return len(self._headers)


class CookieMiddleware:
    """Parse request cookies and collect response cookies with secure defaults.

    Writes ``environ["wsgikit.cookies"]`` (a ``RequestCookies``) and
    ``environ["wsgikit.response_cookies"]`` (a ``ResponseCookies``); their Set-Cookie headers
    are appended when the app calls ``start_response``. ``secret_keys`` (newest first) enables
    ``get_signed``/``set_signed``; ``max_age`` is the default limit for signed values.
    ``log_problems`` writes one line per dropped cookie to ``wsgi.errors``.
    Not needed for apps that only read one cookie: call ``parse_cookie_header`` directly.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        secret_keys: Optional[Sequence[Key]] = None,
        salt: str = "wsgikit.cookies",
        max_age: Optional[float] = None,
        log_problems: bool = False,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        self.app = app
        self.signer = (
            Signer(secret_keys, salt=salt, max_age=max_age) if secret_keys is not None else None
        )
        if secret_keys is None and max_age is not None:
            raise ValueError("max_age applies to signed cookies; give secret_keys too")
        self.log_problems = bool(log_problems)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        cookies = parse_cookie_header(environ.get("HTTP_COOKIE"), signer=self.signer)
        environ[ENVIRON_COOKIES] = cookies
        response_cookies = ResponseCookies(https=is_https(environ), signer=self.signer)
        environ[ENVIRON_RESPONSE_COOKIES] = response_cookies

        def add_cookies(status: str, headers: HeaderList) -> tuple[str, HeaderList]:
            response_cookies.sent = True
            return status, headers + response_cookies.headers()

        def log() -> None:
            if cookies.problems:
                errors: Any = environ.get("wsgi.errors") or sys.stderr
                request = f"{environ.get('REQUEST_METHOD', '-')} {request_path(environ)}"
                for problem in cookies.problems:
                    errors.write(
                        f"wsgikit.cookies: {request}: dropped {problem.text!r}: {problem.reason}\n"
                    )

        result = self.app(environ, intercept_start_response(start_response, add_cookies))
        if not self.log_problems:
            return result  # unwrapped, so a wsgi.file_wrapper still reaches the server's sendfile
        return ClosingIterator(result, log)
