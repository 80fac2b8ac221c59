"""The parser's fast paths agree with the full paths they shortcut.

Each fast path accepts only a subset of what the full path accepts, with the same result, and
leaves everything else (every refusal in particular) to the full path. These tests compare the
two on every byte value in every part of a request line, on generated lines, and on Host values.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import require_module
from tests.support.feed import CheckedParser, error_three_ways, feed_three_ways
from wsgikit.http11 import ConnectionClosed, ProtocolError, RequestHead
from wsgikit.http11 import _head as head_module
from wsgikit.http11._head import parse_head, parse_request_line, parse_request_line_full
from wsgikit.http11.grammar import HOST_RE

hypothesis = require_module("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def outcome(func: Any, *args: Any, **kwargs: Any) -> object:
    """The result, or the error's type, status and message."""
    try:
        return func(*args, **kwargs)
    except ProtocolError as exc:
        return (type(exc), exc.status, str(exc))


def both_paths(line: str) -> tuple[object, object]:
    """(what parse_request_line says, what the grammar alone says) about ``line``."""
    return outcome(parse_request_line, line), outcome(parse_request_line_full, line)


METHODS = sorted(head_module.COMMON_METHODS) + ["CONNECT", "get", "G@T", "PRI", "M-SEARCH", ""]


@pytest.mark.parametrize("code", range(256))
def test_every_character_in_every_part_of_the_request_line(code: int) -> None:
    c = chr(code)
    for line in (
        f"GET /{c} HTTP/1.1",
        f"GET {c} HTTP/1.1",
        f"GET /a{c}b?q{c} HTTP/1.0",
        f"G{c}T / HTTP/1.1",
        f"{c}GET / HTTP/1.1",
        f"GET{c}/ HTTP/1.1",
        f"GET /{c}HTTP/1.1",
        f"GET / HTTP/1.1{c}",
        f"GET / HTTP/1.{c}",
        f"GET / HTTP/{c}.1",
        f"GET / {c}TTP/1.1",
    ):
        fast, full = both_paths(line)
        assert fast == full, line
    # a visible ASCII character makes a valid target (RFC 9112: 1*VCHAR), anything else a 400
    fast, _ = both_paths(f"GET /{c} HTTP/1.1")
    if "!" <= c <= "~":
        assert fast == ("GET", f"/{c}", "1.1")
    else:
        assert isinstance(fast, tuple) and fast[1] == 400, fast


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "rest",
    [
        " / HTTP/1.1",
        " / HTTP/1.0",
        " / HTTP/1.2",
        " / HTTP/2.0",
        " / HTTP/0.9",
        " / http/1.1",
        "  HTTP/1.1",
        " /  HTTP/1.1",
        "  / HTTP/1.1",
        " / HTTP/1.1 ",
        " /",
        " * HTTP/1.1",
        " http://a/b HTTP/1.1",
        " a:1 HTTP/1.1",
        " /\t HTTP/1.1",
        " /\x7f HTTP/1.1",
        " /\xe9 HTTP/1.1",
        "",
    ],
)
def test_methods_and_shapes(method: str, rest: str) -> None:
    fast, full = both_paths(method + rest)
    assert fast == full, method + rest
    if method in head_module.COMMON_METHODS and rest == " / HTTP/1.1":
        assert fast == (method, "/", "1.1")


request_line_chars = st.sampled_from(
    list(" /?#*:@%.-_~!$&'()+,;=|{}^`\"<>\\[]\t\r\n\x00\x0b\x1f\x7f\x80\xa0\xe9\xff") + list("aZ09")
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(METHODS) | st.text(request_line_chars, max_size=6),
    st.text(request_line_chars, max_size=12),
    st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/1.9", "HTTP/2.0", "HTTP/1.1 ", ""])
    | st.text(request_line_chars, max_size=10),
    st.sampled_from([" ", "  ", "\t", ""]),
)
def test_generated_request_lines(method: str, target: str, version: str, sep: str) -> None:
    for line in (f"{method}{sep}{target}{sep}{version}", f"{method} {target} {version}"):
        fast, full = both_paths(line)
        assert fast == full, line


def parse(text: str) -> object:
    line_len = text.index("\r\n")
    return outcome(
        parse_head,
        text,
        line_len,
        max_header_count=100,
        max_field_bytes=8190,
        max_body_bytes=1000,
    )


host_chars = st.sampled_from(list("aZ09.-_~%!$&'()*+,;=:[]@/?# \t\x7f\xe9"))


@settings(max_examples=300, deadline=None)
@given(st.text(host_chars, max_size=20))
def test_host_values_are_judged_by_host_re_first_time_and_every_time(host: str) -> None:
    text = f"GET / HTTP/1.1\r\nHost: {host}\r\n"
    first = parse(text)
    again = parse(text)  # may be answered by the cache of valid Host values
    assert first == again
    stripped = host.strip(" \t")
    if HOST_RE.fullmatch(stripped) is None:
        assert isinstance(first, tuple) and first[1] == 400, first
    else:
        assert isinstance(first, RequestHead) and first.host == stripped


def test_the_host_cache_is_bounded_and_holds_only_valid_short_values() -> None:
    for i in range(head_module._MAX_VALID_HOSTS * 3):
        parse(f"GET / HTTP/1.1\r\nHost: h{i}.example\r\n")
        assert len(head_module._VALID_HOSTS) <= head_module._MAX_VALID_HOSTS
    long_host = "a" * 200
    assert isinstance(parse(f"GET / HTTP/1.1\r\nHost: {long_host}\r\n"), RequestHead)
    assert long_host not in head_module._VALID_HOSTS
    assert parse("GET / HTTP/1.1\r\nHost: a b\r\n") == (
        head_module.BadRequest,
        400,
        "invalid Host header value 'a b'",
    )
    assert "a b" not in head_module._VALID_HOSTS
    assert all(HOST_RE.fullmatch(h) for h in head_module._VALID_HOSTS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The target is checked before the fields (the one pass over fields comes after it).
        (
            "GET /a#b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: @\r\n",
            "a request-target must not contain a fragment ('#')",
        ),
        (
            "GET * HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: @\r\n",
            "asterisk-form request-target is only allowed with OPTIONS",
        ),
        (
            "GET / HTTP/1.1\r\nTransfer-Encoding: @\r\nHost: a\r\nHost: b\r\n",
            "invalid Transfer-Encoding value '@'",
        ),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n", "more than one Host header field"),
    ],
)
def test_error_precedence(text: str, message: str) -> None:
    result = parse(text)
    assert isinstance(result, tuple) and result[2] == message, result


@pytest.mark.parametrize("blank", [b"\r\n", b"\r\n\r\n", b"\r\n" * 7])
def test_empty_lines_before_the_request_line(blank: bytes) -> None:
    """_next_head looks for them only when the usual case fails: whole and byte by byte."""
    events = feed_three_ways(blank + b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(events[0], RequestHead) and events[0].target == "/x"
    assert feed_three_ways(blank, eof=True) == [ConnectionClosed()]
    error = error_three_ways(
        blank * 3 + b"GET / HTTP/1.1\r\n\r\n",
        make_parser=lambda: CheckedParser(max_request_line=len(blank) * 3 - 1),
    )
    assert str(error) == "too many empty lines before the request line"


def test_parse_head_fills_every_request_head_field_by_name() -> None:
    """``parse_head`` builds ``RequestHead`` positionally (``tuple.__new__``: a keyword call
    runs the named tuple's Python ``__new__``, several times the cost, once per request). This
    pins the order it relies on: a field moved in ``events.RequestHead`` fails here."""
    assert RequestHead._fields == (
        "method", "target", "http_version", "headers", "path", "query", "host", "scheme",
        "content_length", "chunked", "keep_alive", "expect_continue",
    )
    text = (
        "POST http://h.example/p?q=1 HTTP/1.1\r\nHost: other\r\nContent-Length: 7\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n"
    )
    line_len = text.index("\r\n")
    head = parse_head(text, line_len, max_header_count=10, max_field_bytes=1000,
                      max_body_bytes=100)
    assert type(head) is RequestHead
    assert head._asdict() == {
        "method": "POST",
        "target": "http://h.example/p?q=1",
        "http_version": "1.1",
        "headers": (("host", "other"), ("content-length", "7"), ("expect", "100-continue"),
                    ("connection", "close")),
        "path": "/p",
        "query": "q=1",
        "host": "h.example",
        "scheme": "http",
        "content_length": 7,
        "chunked": False,
        "keep_alive": False,
        "expect_continue": True,
    }
