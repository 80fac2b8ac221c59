"""Log one line per request (Apache combined, common, custom, or JSON lines)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, Optional

from middleware._wsgi import ExcInfo, HeaderList, close_iterable
from wsgikit.server.accesslog import make_formatter, record_from_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment


class AccessLogMiddleware:
    """Write an access-log line when each response is finished (closed by the server).

    ``format``: ``"combined"`` (default), ``"common"``, ``"json"`` or an Apache-style format
    string (``wsgikit.server.accesslog``). Lines go to ``stream`` (a text file) when given, else to
    ``logger`` (default ``wsgikit.access``) at INFO. Bytes counted are the body bytes the app
    produced; the duration runs from the call to ``close()``. An exception from the app is logged
    as status 500 and re-raised. Use it for apps served by servers without an access log;
    wsgikit's own server has ``--access-log``.

    Reads the request line keys, REMOTE_ADDR, REMOTE_USER, request headers and
    ``wsgikit.request_id``. Writes nothing.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        format: str = "combined",
        logger: Optional[logging.Logger] = None,
        stream: Optional[IO[str]] = None,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if logger is not None and stream is not None:
            raise ValueError("give logger= or stream=, not both")
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError("logger must be a logging.Logger")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError("stream must have a write() method")
        self.app = app
        self.formatter = make_formatter(format)
        self.logger = logger or logging.getLogger("wsgikit.access")
        self.stream = stream

    def emit(self, line: str) -> None:
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        else:
            self.logger.info(line)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = _LoggedResponse(self, environ, time.monotonic())

        def logging_start_response(status: str, headers: HeaderList, exc_info: ExcInfo = None
                                   ) -> Any:
            response.status, response.headers = status, list(headers)
            write = (start_response(status, headers, exc_info) if exc_info is not None
                     else start_response(status, headers))

            def counting_write(data: bytes) -> None:
                response.bytes += len(data)
                write(data)

            return counting_write

        try:
            response.result = self.app(environ, logging_start_response)
        except BaseException:
            response.status = "500 Internal Server Error"
            response.finish()
            raise
        return response


class _LoggedResponse:
    """Counts body bytes while passing chunks on; logs once on ``close()``."""

    def __init__(self, owner: AccessLogMiddleware, environ: WSGIEnvironment, started: float
                 ) -> None:
        self.owner = owner
        self.environ = environ
        self.started = started
        self.status = "000 Unknown"
        self.headers: HeaderList = []
        self.bytes = 0
        self.result: Iterable[bytes] = ()
        self.logged = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.result:
                self.bytes += len(chunk)
                yield chunk
        except BaseException:
            self.status = "500 Internal Server Error"
            raise

    def close(self) -> None:
        # Not werkzeug's ClosingIterator: the line must be logged even when the app's close()
        # raises, and byte counting needs a wrapper of its own anyway.
        try:
            close_iterable(self.result)
        finally:
            self.finish()

    def finish(self) -> None:
        if self.logged:
            return
        self.logged = True
        record = record_from_environ(self.environ, self.status, self.headers, self.bytes,
                                     self.started)
        self.owner.emit(self.owner.formatter(record))
