"""wsgikit.server.accesslog: atoms, escaping, JSON lines, compile-time errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgikit.server.accesslog import (
    AccessRecord,
    LogFormat,
    escape,
    json_line,
    make_formatter,
    record_from_environ,
)


def record(**overrides: object) -> AccessRecord:
    values: dict[str, object] = dict(
        remote_addr="192.0.2.7", method="GET", path="/a b", query="x=1", protocol="HTTP/1.1",
        status=200, response_bytes=1234, duration=1.5,
        time=datetime(2024, 3, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=-7))),
        request_headers={"HTTP_REFERER": "http://r/", "HTTP_USER_AGENT": "curl/8",
                         "CONTENT_TYPE": "text/plain"},
        response_headers=[("Content-Type", "text/html"), ("Set-Cookie", "a=1"),
                          ("Set-Cookie", "b=2")],
        environ={"wsgi.url_scheme": "https"}, request_id="abc-123",
    )
    values.update(overrides)
    return AccessRecord(**values)  # type: ignore[arg-type]


def test_combined_format() -> None:
    line = LogFormat("combined")(record())
    assert line == ('192.0.2.7 - - [05/Mar/2024:06:07:08 -0700] "GET /a%20b?x=1 HTTP/1.1" 200 1234 '
                    '"http://r/" "curl/8"')


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("%m %U %q %H", "GET /a%20b ?x=1 HTTP/1.1"), ("%s %b %B", "200 1234 1234"),
     ("%D %T", "1500000 1"), ("%L", "abc-123"), ("%{wsgi.url_scheme}e", "https"),
     ("%{content-type}i", "text/plain"), ("%{Set-Cookie}o", "a=1, b=2"),
     ("%{X-Missing}i %{X-Missing}o %{nope}e", "- - -"), ("100%%", "100%"), ("%l %u", "- -")],
)
def test_atoms(fmt: str, expected: str) -> None:
    assert LogFormat(fmt)(record()) == expected


def test_zero_bytes() -> None:
    assert LogFormat("%b %B")(record(response_bytes=0)) == "- 0"


@pytest.mark.parametrize("fmt", ["%Z", "%{Host}x", "%{}i", "trailing %", "bad\nformat"])
def test_unknown_atoms_fail_at_compile_time(fmt: str) -> None:
    with pytest.raises(ValueError):
        LogFormat(fmt)


def test_non_string_format_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        LogFormat(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), ("\x1b[31m", "\\x1b[31m"),
     ("\x7f\x85", "\\x7f\\x85"), ("plain", "plain")],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_client_data_cannot_forge_a_line() -> None:
    evil = record(request_headers={"HTTP_USER_AGENT": 'x"\n127.0.0.1 - - "GET /admin'},
                  request_uri="/\x1b]0;pwned\x07")
    line = LogFormat("combined")(evil)
    assert "\n" not in line and "\x1b" not in line and "\x07" not in line
    assert '\\"\\n127.0.0.1' in line


def test_json_line() -> None:
    data = json.loads(json_line(record(request_headers={"HTTP_USER_AGENT": "a\nb"})))
    assert data["status"] == 200 and data["bytes"] == 1234
    assert data["target"] == "/a%20b?x=1" and data["request_id"] == "abc-123"
    assert data["user_agent"] == "a\nb" and data["referer"] is None
    assert data["duration_ms"] == 1500.0
    assert "\n" not in json_line(record(request_headers={"HTTP_USER_AGENT": "a\nb"}))


def test_make_formatter() -> None:
    assert make_formatter("json") is json_line
    assert make_formatter("common")(record()).endswith('"GET /a%20b?x=1 HTTP/1.1" 200 1234')


def test_record_from_environ() -> None:
    environ = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "/app", "PATH_INFO": "/caf\xc3\xa9",
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.0", "REMOTE_ADDR": "::1",
               "HTTP_USER_AGENT": "t", "wsgikit.request_id": "rid"}
    rec = record_from_environ(environ, "404 Not Found", [("X", "y")], 10, started=100.0,
                              finished=100.25)
    assert rec.status == 404 and rec.duration == 0.25 and rec.request_id == "rid"
    assert rec.request_line == "POST /app/caf%C3%A9 HTTP/1.0"
    assert LogFormat("%h %{User-Agent}i %{X}o")(rec) == "::1 t y"


@pytest.mark.parametrize("status", ["\u00b200 OK", "\u0664\u0660\u0664 Not Found", "OK"])
def test_a_status_without_an_ascii_code_is_logged_as_0(status: str) -> None:
    # "²00".isdigit() is true and int("²00") raised; "٤٠٤" would have been read as 404.
    assert record_from_environ({}, status, [], 0, started=1.0, finished=1.0).status == 0




@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=100))
def test_escaped_lines_never_contain_controls(value: str) -> None:
    rec = record(request_headers={"HTTP_USER_AGENT": value, "HTTP_REFERER": value},
                 request_uri=value, remote_user=value)
    line = LogFormat("combined")(rec)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line)
    unescaped_quotes, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        unescaped_quotes += line[i] == '"'
        i += 1
    assert unescaped_quotes == 6  # only the format's own quotes
