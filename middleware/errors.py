"""Turn an app's exception into a clean 500 page and a log record."""

from __future__ import annotations

import html
import json
import logging
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from middleware._wsgi import close_iterable
from wsgikit.server.accesslog import REQUEST_ID_KEY, escape
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgikit.util import request_path

_PRODUCTION_PAGE = (
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>500 Internal Server Error"
    "</title></head>\n<body><h1>Internal Server Error</h1>\n<p>The server could not complete "
    "your request. The error has been logged{ref}.</p></body></html>\n"
)


class ErrorMiddleware:
    """Catch exceptions from the app (the call and the iteration) and answer 500.

    ``debug=False`` (the default) sends a plain page naming nothing internal (JSON when the
    client's Accept prefers ``application/json``); ``debug=True``
    adds the escaped traceback, read-only: there is never an interactive console. Every error
    is logged through ``logger`` (default ``wsgikit.errors``) with the request line and the
    request id. If the response headers were already sent, the app's iterable is closed and
    the error is re-raised through ``start_response(..., exc_info)`` so the server drops the
    connection instead of passing a truncated body off as complete.

    Reads REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, SERVER_PROTOCOL and
    ``wsgikit.request_id``. Writes ``wsgikit.error`` (the exception) when it handled one.
    Exceptions that are not ``Exception`` (KeyboardInterrupt, SystemExit) pass through.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        debug: bool = False,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if not isinstance(debug, bool):
            raise TypeError(f"debug must be True or False, not {debug!r}")
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError("logger must be a logging.Logger")
        self.app = app
        self.debug = debug
        self.logger = logger or logging.getLogger("wsgikit.errors")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            result = self.app(environ, start_response)
        except Exception:
            return self._error_page(environ, start_response, sys.exc_info())
        return _Guarded(self, result, environ, start_response)

    def _log(self, environ: WSGIEnvironment, exc_info: Any) -> None:
        line = "{} {} {}".format(
            environ.get("REQUEST_METHOD", "-"),
            request_path(environ),
            environ.get("SERVER_PROTOCOL", "-"),
        )
        request_id = environ.get(REQUEST_ID_KEY)
        self.logger.error(
            "Exception on %s%s", escape(line),
            f" (request id {escape(request_id)})" if request_id else "", exc_info=exc_info,
        )

    def _error_page(self, environ: WSGIEnvironment, start_response: StartResponse,
                    exc_info: Any) -> list[bytes]:
        """Log, then send the 500 page (re-raises if the headers are already on the wire)."""
        environ["wsgikit.error"] = exc_info[1]
        self._log(environ, exc_info)
        request_id = environ.get(REQUEST_ID_KEY)
        ref = f" (reference {html.escape(request_id)})" if request_id else ""
        page = _PRODUCTION_PAGE.format(ref=ref)
        if self.debug:
            text = "".join(traceback.format_exception(*exc_info))
            page = page.replace(
                "</body>", f"<h2>Traceback (debug mode)</h2>\n<pre>{html.escape(text)}</pre></body>"
            )
        content_type = "text/html; charset=utf-8"
        if _prefers_json(environ.get("HTTP_ACCEPT")):
            data: dict[str, Any] = {"error": "Internal Server Error", "request_id": request_id}
            if self.debug:
                data["traceback"] = traceback.format_exception(*exc_info)
            page, content_type = json.dumps(data) + "\n", "application/json"
        body = page.encode("utf-8")
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
        try:
            start_response("500 Internal Server Error", headers, exc_info)
        finally:
            exc_info = None
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _prefers_json(accept: Optional[str]) -> bool:
    """True when Accept ranks JSON above HTML (API clients), so the error page is JSON."""
    if not accept:
        return False
    from werkzeug.datastructures import MIMEAccept
    from werkzeug.http import parse_accept_header

    best = parse_accept_header(accept, MIMEAccept).best_match(["text/html", "application/json"])
    return best == "application/json"


class _Guarded:
    """The app's iterable; an exception while iterating becomes the 500 page when it still can."""

    def __init__(self, owner: ErrorMiddleware, result: Iterable[bytes], environ: WSGIEnvironment,
                 start_response: StartResponse) -> None:
        self._owner = owner
        self._result = result
        self._environ = environ
        self._start_response = start_response
        self._sent = False  # a non-empty chunk went out: too late for the 500 page
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._result:
                if chunk:
                    self._sent = True
                yield chunk
        except Exception:
            exc_info = sys.exc_info()
            self.close()
            if self._sent:
                # Headers and part of the body are out: log, then let the server abort.
                self._owner._log(self._environ, exc_info)
                raise
            yield from self._owner._error_page(self._environ, self._start_response, exc_info)

    def close(self) -> None:
        # Its own wrapper, not werkzeug's ClosingIterator: iteration errors become the 500 page,
        # and close() may come twice (here on an error, then from the server).
        if not self._closed:
            self._closed = True
            close_iterable(self._result)
