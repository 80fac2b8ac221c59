"""Middleware that only edits headers returns the app's iterable itself, so a
``wsgi.file_wrapper`` still reaches the server as one (wsgikit sends it with sendfile only when
``isinstance(result, FileWrapper)``); wrapping it is kept for middleware that must add a close
action."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, Callable

import pytest
import webtest

from middleware.cookies import CookieMiddleware
from middleware.cors import CORSMiddleware
from middleware.request_id import RequestIdMiddleware
from middleware.sessions import SessionMiddleware
from wsgikit.util import FileWrapper

KEY = "k" * 32

HEADER_ONLY: dict[str, Callable[[Any], Any]] = {
    "cookies": lambda app: CookieMiddleware(app),
    "sessions": lambda app: SessionMiddleware(app, secret_keys=[KEY]),
    "cors": lambda app: CORSMiddleware(app, allow_origins=["https://a.example"]),
    "request_id": lambda app: RequestIdMiddleware(app),
}


class FileApp:
    def __init__(self) -> None:
        self.file = io.BytesIO(b"file body")
        self.returned: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        self.returned = environ["wsgi.file_wrapper"](self.file, 4)
        return self.returned  # type: ignore[no-any-return]


def environ() -> dict[str, Any]:
    env = webtest.TestRequest.blank("/", headers={"Origin": "https://a.example"}).environ
    env["wsgi.file_wrapper"] = FileWrapper
    return env


@pytest.mark.parametrize("name", sorted(HEADER_ONLY))
def test_file_wrapper_reaches_the_server_unwrapped(name: str) -> None:
    app = FileApp()
    result = HEADER_ONLY[name](app)(environ(), lambda status, headers, exc_info=None: None)
    assert result is app.returned
    assert isinstance(result, FileWrapper)
    assert b"".join(result) == b"file body"


def test_cookie_logging_still_wraps_and_closes() -> None:
    app = FileApp()
    env = environ()
    env["HTTP_COOKIE"] = "=nameless; ok=1"
    env["wsgi.errors"] = errors = io.StringIO()
    result = CookieMiddleware(app, log_problems=True)(
        env, lambda status, headers, exc_info=None: None)
    assert result is not app.returned
    assert b"".join(result) == b"file body"
    result.close()
    assert app.file.closed
    assert "dropped '=nameless'" in errors.getvalue()


@pytest.mark.parametrize("accept", [None, "identity"])
def test_compress_hands_an_uncompressed_file_wrapper_through(accept: Any) -> None:
    from middleware.compress import CompressMiddleware

    app = FileApp()
    env = environ()
    if accept:
        env["HTTP_ACCEPT_ENCODING"] = accept
    seen: list[Any] = []
    result = CompressMiddleware(app)(env, lambda status, headers, exc_info=None: seen.append(
        headers))
    assert result is app.returned  # the server can still sendfile it
    assert ("Vary", "Accept-Encoding") in seen[0]  # the headers were still edited
    assert b"".join(result) == b"file body"


def test_compress_wraps_what_it_gzips() -> None:
    import gzip

    from middleware.compress import CompressMiddleware

    app = FileApp()
    env = environ()
    env["HTTP_ACCEPT_ENCODING"] = "gzip"
    result = CompressMiddleware(app, min_size=1)(env, lambda status, headers, exc_info=None: None)
    assert result is not app.returned
    assert gzip.decompress(b"".join(result)) == b"file body"
