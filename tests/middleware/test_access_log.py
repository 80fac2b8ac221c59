"""AccessLogMiddleware: one escaped line per finished response."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import webtest

from middleware.access_log import AccessLogMiddleware
from middleware.request_id import RequestIdMiddleware
from wsgikit.validate import validator


def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Out", "o1")])
    yield b"hello "
    yield b"world"


def test_combined_line_to_stream() -> None:
    stream = io.StringIO()
    client = webtest.TestApp(validator(AccessLogMiddleware(app, stream=stream)))
    client.get("/p%20q?a=1", headers={"User-Agent": "UA/1", "Referer": "http://r/"},
               extra_environ={"REMOTE_ADDR": "192.0.2.9"})
    line = stream.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert re.fullmatch(
        r'192\.0\.2\.9 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
        r'"GET /p%20q\?a=1 HTTP/1\.0" 201 11 "http://r/" "UA/1"\n', line), line


def test_json_and_request_id_to_logger(caplog: pytest.LogCaptureFixture) -> None:
    stack = RequestIdMiddleware(AccessLogMiddleware(app, format="json"))
    client = webtest.TestApp(validator(stack))
    with caplog.at_level(logging.INFO, logger="wsgikit.access"):
        res = client.get("/x", headers={"X-Request-ID": "req-1"})
    assert res.headers["X-Request-ID"] == "req-1"
    [record] = caplog.records
    data = json.loads(record.getMessage())
    assert data["status"] == 201 and data["bytes"] == 11 and data["request_id"] == "req-1"


def test_custom_format_with_response_header() -> None:
    stream = io.StringIO()
    webtest.TestApp(validator(AccessLogMiddleware(app, stream=stream, format="%s %{X-Out}o %B")
                              )).get("/")
    assert stream.getvalue() == "201 o1 11\n"


def test_control_characters_escaped() -> None:
    stream = io.StringIO()
    webtest.TestApp(validator(AccessLogMiddleware(app, stream=stream))).get(
        "/", headers={"User-Agent": "evil\x1b[2J\x07"})
    assert "\x1b" not in stream.getvalue() and "\\x1b[2J\\x07" in stream.getvalue()


def test_exception_is_logged_as_500_and_reraised() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("x")

    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        webtest.TestApp(AccessLogMiddleware(broken, stream=stream, format="%s")).get("/")
    assert stream.getvalue() == "500\n"


def test_logged_once_at_close() -> None:
    stream = io.StringIO()
    mw = AccessLogMiddleware(app, stream=stream, format="%s %B")
    result = mw(webtest.TestRequest.blank("/").environ, lambda s, h, e=None: None)
    assert b"".join(result) == b"hello world"
    assert stream.getvalue() == ""  # not before the server closes the response
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]
    assert stream.getvalue() == "201 11\n"


@pytest.mark.parametrize(
    ("options", "error"),
    [({"format": "%Z"}, ValueError), ({"format": 3}, TypeError),
     ({"logger": logging.getLogger("x"), "stream": io.StringIO()}, ValueError),
     ({"stream": "file.log"}, TypeError), ({"logger": "x"}, TypeError)],
)
def test_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        AccessLogMiddleware(app, **options)
