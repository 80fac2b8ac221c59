"""RequestParser: valid requests, request-line and header rules, limits, the event protocol.

Every case is fed three ways (tests/support/feed.py). Smuggling classes live in
test_http11_smuggling.py; fuzzing in test_http11_properties.py; oracles in test_http11_oracles.py.
"""

from __future__ import annotations

import pytest

from tests.support.compiled import python_build_only
from tests.support.feed import CheckedParser, error_three_ways, feed_three_ways
from wsgikit.http11 import (
    NEED_DATA,
    PAUSED,
    BadRequest,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    ProtocolError,
    RequestHead,
    RequestParser,
    Trailers,
)
from wsgikit.http11 import parser as parser_module


def head_of(data: bytes, **limits: int) -> RequestHead:
    events = feed_three_ways(data, make_parser=lambda: CheckedParser(**limits))
    head = events[0]
    assert isinstance(head, RequestHead)
    return head


def body_of(events: list[object]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, BodyChunk))


def status_of(data: bytes, eof: bool = False, **limits: int) -> int:
    return error_three_ways(data, eof=eof, make_parser=lambda: CheckedParser(**limits)).status


# --- valid requests ------------------------------------------------------------------------------


def test_simple_get() -> None:
    head = head_of(b"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")
    assert head.method == "GET"
    assert head.target == "/a%20b/c?x=1&y=%2F"
    assert head.path == "/a%20b/c"
    assert head.query == "x=1&y=%2F"
    assert head.http_version == "1.1"
    assert head.headers == (("host", "example.com"), ("accept", "*/*"))
    assert head.host == "example.com"
    assert head.scheme is None
    assert head.content_length is None
    assert head.chunked is False
    assert head.keep_alive is True
    assert head.expect_continue is False


def test_events_sequence_without_body() -> None:
    events = feed_three_ways(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert [type(e) for e in events] == [RequestHead, EndOfMessage]


def test_header_values_are_trimmed_names_lowered_order_and_repeats_kept() -> None:
    head = head_of(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A:\t one  two \t\r\nx-a: 2\r\nX-Empty:\r\n"
        b"X-Obs: caf\xe9\r\n\r\n"
    )
    assert head.headers == (
        ("host", "a"),
        ("x-a", "one  two"),
        ("x-a", "2"),
        ("x-empty", ""),
        ("x-obs", "caf\xe9"),
    )


def test_content_length_body() -> None:
    events = feed_three_ways(
        b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
    )
    head = events[0]
    assert isinstance(head, RequestHead) and head.content_length == 11
    assert body_of(events) == b"hello world"
    assert isinstance(events[-1], EndOfMessage)


def test_zero_content_length_has_no_body_events() -> None:
    events = feed_three_ways(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n")
    assert [type(e) for e in events] == [RequestHead, EndOfMessage]
    assert isinstance(events[0], RequestHead) and events[0].content_length == 0


def test_chunked_body_with_extensions_and_trailers() -> None:
    events = feed_three_ways(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b'5;name=value;q="a \\"b\\""\r\nhello\r\n'
        b"6 ; flag\r\n world\r\n"
        b"A\r\n0123456789\r\n"
        b"000\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
    )
    head = events[0]
    assert isinstance(head, RequestHead) and head.chunked and head.content_length is None
    assert body_of(events) == b"hello world0123456789"
    assert events[-2] == Trailers((("x-checksum", "abc"), ("x-other", "1")))
    assert isinstance(events[-1], EndOfMessage)


def test_chunked_body_without_trailers_emits_no_trailers_event() -> None:
    events = feed_three_ways(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert [type(e) for e in events] == [RequestHead, BodyChunk, EndOfMessage]


def test_transfer_encoding_list_across_lines_ending_in_chunked_is_not_accepted_with_gzip() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert status_of(data) == 501


def test_leading_empty_lines_are_skipped() -> None:
    head = head_of(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.target == "/"


def test_http10_defaults_to_close_and_needs_no_host() -> None:
    head = head_of(b"GET / HTTP/1.0\r\n\r\n")
    assert head.http_version == "1.0"
    assert head.host is None
    assert head.keep_alive is False


def test_http10_keep_alive() -> None:
    head = head_of(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    assert head.keep_alive is True


@pytest.mark.parametrize(
    ("connection", "keep_alive"),
    [
        (b"close", False),
        (b"Close", False),
        (b"keep-alive, close", False),
        (b"close, keep-alive", False),
        (b"keep-alive", True),
        (b"upgrade", True),
        (b"x-close", True),
    ],
)
def test_connection_is_a_token_list(connection: bytes, keep_alive: bool) -> None:
    head = head_of(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: " + connection + b"\r\n\r\n")
    assert head.keep_alive is keep_alive


def test_connection_close_in_second_field_line() -> None:
    head = head_of(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
    )
    assert head.keep_alive is False


def test_http10_keep_alive_and_close_means_close() -> None:
    head = head_of(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
    assert head.keep_alive is False


def test_higher_minor_version_is_processed_as_11() -> None:
    head = head_of(b"GET / HTTP/1.7\r\nHost: a\r\n\r\n")
    assert head.http_version == "1.1"


def test_higher_minor_version_still_needs_host() -> None:
    assert status_of(b"GET / HTTP/1.7\r\n\r\n") == 400


def test_expect_100_continue() -> None:
    head = head_of(
        b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok"
    )
    assert head.expect_continue is True


def test_expect_is_ignored_on_http10() -> None:
    head = head_of(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok")
    assert head.expect_continue is False


def test_absolute_form_takes_host_from_uri() -> None:
    head = head_of(b"GET HTTP://Example.com:8080/p/q?x=y HTTP/1.1\r\nHost: other\r\n\r\n")
    assert head.scheme == "http"
    assert head.host == "Example.com:8080"
    assert head.path == "/p/q"
    assert head.query == "x=y"
    assert head.target == "HTTP://Example.com:8080/p/q?x=y"


def test_absolute_form_without_path_means_root() -> None:
    head = head_of(b"GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert (head.scheme, head.host, head.path, head.query) == ("https", "example.com", "/", "")


def test_asterisk_form_with_options() -> None:
    head = head_of(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.path == "*" and head.target == "*"


@pytest.mark.parametrize("method", [b"PROPFIND", b"PATCH", b"M-SEARCH", b"X_CUSTOM!"])
def test_extension_methods_are_tokens(method: bytes) -> None:
    head = head_of(method + b" / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.method == method.decode()


@pytest.mark.parametrize(
    "host",
    [b"", b"example.com", b"example.com:80", b"[::1]:8080", b"127.0.0.1", b"xn--bcher-kva.de"],
)
def test_valid_host_values(host: bytes) -> None:
    head = head_of(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert head.host == host.decode()


def test_target_with_unescaped_visible_characters_is_kept_raw() -> None:
    head = head_of(b'GET /a|b{c}^d?e=[f]&g="h" HTTP/1.1\r\nHost: a\r\n\r\n')
    assert head.path == "/a|b{c}^d"
    assert head.query == 'e=[f]&g="h"'


def test_empty_query_keeps_no_question_mark() -> None:
    head = head_of(b"GET /p? HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (head.path, head.query) == ("/p", "")


# --- invalid requests (non-smuggling; the smuggling corpus has its own table) --------------------

BAD = [
    pytest.param(b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="method-not-token"),
    pytest.param(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="double-space"),
    pytest.param(b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, id="trailing-space"),
    pytest.param(b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="leading-space"),
    pytest.param(b"GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="tab-in-target"),
    pytest.param(b"GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="non-ascii-target"),
    pytest.param(b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="fragment"),
    pytest.param(b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="relative-target"),
    pytest.param(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="asterisk-not-options"),
    pytest.param(b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n", 501, id="connect"),
    pytest.param(b"GET a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n", 501, id="authority-form"),
    pytest.param(b"GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="absolute-ftp"),
    pytest.param(b"GET http://u:p@a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="absolute-userinfo"),
    pytest.param(b"GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="absolute-no-host"),
    pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="http2"),
    pytest.param(b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, id="http0"),
    pytest.param(b"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505, id="http3"),
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, id="http2-preface"),
    pytest.param(b"GET /\r\n\r\n", 400, id="http09-line"),
    pytest.param(b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, id="lowercase-http"),
    pytest.param(b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, id="two-digit-minor"),
    pytest.param(b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400, id="no-minor"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="no-host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, id="two-hosts"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="host-space"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, id="host-slash"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400, id="host-userinfo"),
    pytest.param(b"GET / HTTP/1.0\r\nHost: a<b\r\n\r\n", 400, id="host-invalid-http10"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n",
        400,
        id="two-content-types",
    ),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, id="no-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400, id="empty-name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", 400, id="name-not-token"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX\xe9: 1\r\n\r\n", 400, id="name-non-ascii"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, id="del-in-value"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n", 400, id="esc-in-value"),
]


@pytest.mark.parametrize(("data", "status"), BAD)
def test_bad_requests(data: bytes, status: int) -> None:
    assert status_of(data) == status


def test_error_reason_names_the_problem() -> None:
    error = error_three_ways(b"GET / HTTP/1.1\r\n\r\n")
    assert "Host" in error.reason
    error = error_three_ways(b"GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n")
    assert "whitespace before the colon" in error.reason
    error = error_three_ways(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n")
    assert "obs-fold" in error.reason


# --- limits -------------------------------------------------------------------------------------


def test_request_line_limit_414() -> None:
    target = b"/" + b"a" * 100
    assert status_of(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n", max_request_line=50) == 414


def test_request_line_limit_414_without_waiting_for_crlf() -> None:
    parser = RequestParser(max_request_line=50)
    parser.feed(b"GET /" + b"a" * 60)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 414


def test_request_line_at_the_limit_is_fine() -> None:
    line = b"GET /" + b"a" * 31 + b" HTTP/1.1"
    assert len(line) == 45
    head_of(line + b"\r\nHost: a\r\n\r\n", max_request_line=45)
    assert status_of(line + b"\r\nHost: a\r\n\r\n", max_request_line=44) == 414


def test_header_count_limit_431() -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(10))
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n"
    assert status_of(data, max_header_count=10) == 431
    head_of(b"GET / HTTP/1.1\r\nHost: a\r\n" + fields[:-8] + b"\r\n", max_header_count=10)


def test_field_line_limit_431() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 200 + b"\r\n\r\n"
    assert status_of(data, max_field_bytes=100) == 431


def test_field_line_limit_431_without_waiting_for_crlf() -> None:
    parser = RequestParser(max_field_bytes=100)
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 150)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 431


def test_whole_head_limit_431() -> None:
    fields = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(20))
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n"
    assert status_of(data, max_header_bytes=500) == 431


def test_whole_head_limit_431_without_waiting_for_the_end() -> None:
    parser = RequestParser(max_header_bytes=500)
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 100)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 431


def test_content_length_over_limit_413_at_once() -> None:
    parser = RequestParser(max_body_bytes=10)
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
    with pytest.raises(ProtocolError) as info:
        parser.next_event()  # no body byte sent yet: the answer comes now
    assert info.value.status == 413


def test_content_length_at_limit_is_fine() -> None:
    events = feed_three_ways(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
        make_parser=lambda: CheckedParser(max_body_bytes=10),
    )
    assert body_of(events) == b"0123456789"


def test_huge_content_length_is_413_not_a_crash() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    assert status_of(data) == 413


def test_chunked_body_over_limit_413() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
    )
    assert status_of(data, max_body_bytes=10) == 413


@python_build_only
def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_request_line"):
        RequestParser(max_request_line=0)
    with pytest.raises(TypeError, match="max_body_bytes"):
        RequestParser(max_body_bytes=1.5)  # type: ignore[arg-type]


LIMITS = [
    "max_request_line",
    "max_header_count",
    "max_field_bytes",
    "max_header_bytes",
    "max_body_bytes",
    "max_chunk_ext_bytes",
    "max_trailer_bytes",
]


@python_build_only
@pytest.mark.parametrize("name", LIMITS)
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (1.0, TypeError, "{name} must be an int, not float"),
        (True, TypeError, "{name} must be an int, not bool"),
        ("8", TypeError, "{name} must be an int, not str"),
        (None, TypeError, "{name} must be an int, not NoneType"),
        (-1, ValueError, "{name} must be positive, got -1"),
        (0, ValueError, "{name} must be positive, got 0"),
    ],
)
def test_each_limit_is_validated(name: str, value: object, error: type, message: str) -> None:
    if name == "max_body_bytes" and value == 0 and type(value) is int:
        RequestParser(max_body_bytes=0)  # no body at all is a valid limit
        return
    with pytest.raises(error) as info:
        RequestParser(**{name: value})  # type: ignore[arg-type]
    assert str(info.value) == message.format(name=name)


@python_build_only
def test_the_first_bad_limit_is_named() -> None:
    with pytest.raises(TypeError, match="^max_header_count must be an int"):
        RequestParser(max_trailer_bytes=0, max_header_count=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^max_field_bytes must be positive"):
        RequestParser(max_trailer_bytes="x", max_field_bytes=0)  # type: ignore[arg-type]
    parser = RequestParser(**{name: 1 for name in LIMITS})
    assert [getattr(parser, name) for name in LIMITS] == [1] * len(LIMITS)


# --- EOF --------------------------------------------------------------------------------------


def test_clean_close_between_requests() -> None:
    events = feed_three_ways(b"", eof=True)
    assert events == [ConnectionClosed()]


def test_clean_close_after_a_request() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(parser.next_event(), RequestHead)
    assert isinstance(parser.next_event(), EndOfMessage)
    parser.feed(b"")
    assert parser.next_event() is PAUSED
    parser.start_next()
    assert parser.next_event() == ConnectionClosed()
    assert parser.next_event() == ConnectionClosed()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET / HT", id="mid-request-line"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n", id="mid-head"),
        pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab", id="mid-body"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            id="mid-chunk",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
            id="before-last-chunk",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n",
            id="mid-trailers",
        ),
    ],
)
def test_eof_mid_request_is_400(data: bytes) -> None:
    error = error_three_ways(data, eof=True)
    assert error.status == 400 and "closed mid-" in error.reason


# --- event protocol ---------------------------------------------------------------------------


def test_need_data_until_fed() -> None:
    parser = RequestParser()
    assert parser.next_event() is NEED_DATA
    assert parser.in_message is False
    parser.feed(b"GET / HTTP/1.1\r\n")
    assert parser.next_event() is NEED_DATA
    assert parser.in_message is True


def test_pipelined_requests_wait_for_start_next() -> None:
    parser = RequestParser()
    parser.feed(
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    targets = []
    for _ in range(3):
        head = parser.next_event()
        assert isinstance(head, RequestHead)
        targets.append(head.target)
        while not isinstance(parser.next_event(), EndOfMessage):
            pass
        assert parser.next_event() is PAUSED
        assert parser.next_event() is PAUSED
        parser.start_next()
    assert targets == ["/1", "/2", "/3"]
    assert parser.has_buffered_data is False
    assert parser.next_event() is NEED_DATA


def test_has_buffered_data_reports_a_pipelined_request() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET")
    parser.next_event()
    parser.next_event()
    assert parser.has_buffered_data is True
    assert parser.in_message is False


def test_start_next_before_end_is_a_bug() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n")
    parser.next_event()
    with pytest.raises(RuntimeError):
        parser.start_next()


def test_feed_after_eof_is_a_bug() -> None:
    parser = RequestParser()
    parser.feed(b"")
    parser.feed(b"")
    with pytest.raises(RuntimeError):
        parser.feed(b"GET")


def test_error_state_is_terminal() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(BadRequest) as first:
        parser.next_event()
    assert parser.state == "ERROR"
    for call in (parser.next_event, parser.start_next, lambda: parser.feed(b"x")):
        with pytest.raises(BadRequest) as again:
            call()
        assert again.value is first.value


def test_body_chunks_are_bytes_even_from_bytearray_buffer() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab")
    parser.feed(bytearray(b"cd"))
    parser.feed(memoryview(b"ef"))
    chunks = []
    while True:
        event = parser.next_event()
        if isinstance(event, EndOfMessage) or event is NEED_DATA:
            break
        if isinstance(event, BodyChunk):
            assert type(event.data) is bytes
            chunks.append(event.data)
    assert b"".join(chunks) == b"abcdef"


def test_a_large_body_arriving_in_pieces() -> None:
    body = bytes(range(256)) * 1000
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
    assert isinstance(parser.next_event(), RequestHead)
    received = []
    for i in range(0, len(body), 7000):
        parser.feed(body[i : i + 7000])
        while (event := parser.next_event()) is not NEED_DATA:
            if isinstance(event, EndOfMessage):
                break
            assert isinstance(event, BodyChunk)
            received.append(event.data)
    assert b"".join(received) == body


def test_transition_table_covers_every_state() -> None:
    states = set(parser_module._State)
    assert set(parser_module._TRANSITIONS) == states
    for targets in parser_module._TRANSITIONS.values():
        assert targets <= states
    assert parser_module._TRANSITIONS[parser_module._State.ERROR] == frozenset()


def test_illegal_transition_is_refused() -> None:
    parser = RequestParser()
    with pytest.raises(RuntimeError, match="illegal parser transition"):
        parser._goto(parser_module._State.TRAILERS)


@python_build_only
def test_checked_parser_refuses_an_illegal_direct_assignment() -> None:
    """The check the tests rely on for the transitions made without _goto works."""
    parser = CheckedParser()
    with pytest.raises(AssertionError, match="illegal parser transition"):
        parser._state = parser_module._State.PAUSED
    parser._state = parser_module._State.ERROR  # reachable from every state


def test_half_an_empty_line_then_eof_is_a_clean_close() -> None:
    parser = RequestParser()
    parser.feed(b"\r")
    assert parser.in_message is False
    parser.feed(b"")
    assert parser.next_event() == ConnectionClosed()


def test_events_are_frozen() -> None:
    head = head_of(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(AttributeError):
        head.method = "POST"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        BodyChunk(b"x").data = b"y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Trailers((("x", "1"),)).headers = ()  # type: ignore[misc]
    for empty in (EndOfMessage(), ConnectionClosed()):
        with pytest.raises(AttributeError):
            empty.anything = 1  # type: ignore[attr-defined]


def test_events_compare_by_kind_and_value() -> None:
    head = head_of(b"GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head == head_of(b"GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head != head_of(b"GET /a?c HTTP/1.1\r\nHost: a\r\n\r\n")
    assert hash(head) == hash(head._replace())
    assert head._replace(method="HEAD").method == "HEAD" and head.method == "GET"
    assert RequestHead(**head._asdict()) == head
    assert repr(head).startswith("RequestHead(method='GET', target='/a?b', http_version='1.1',")
    assert BodyChunk(b"x") == BodyChunk(data=b"x") and BodyChunk(b"x") != BodyChunk(b"y")
    assert repr(BodyChunk(b"x")) == "BodyChunk(data=b'x')"
    assert repr(Trailers(())) == "Trailers(headers=())"
    assert EndOfMessage() == EndOfMessage() and ConnectionClosed() == ConnectionClosed()
    assert EndOfMessage() != ConnectionClosed() and ConnectionClosed() != EndOfMessage()
    assert hash(EndOfMessage()) == hash(EndOfMessage())
    assert repr(EndOfMessage()) == "EndOfMessage()"
    assert repr(ConnectionClosed()) == "ConnectionClosed()"


def test_current_head_and_eof_properties() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n")
    head = parser.next_event()
    assert parser.current_head is head
    assert parser.in_message is True and parser.state == "BODY_LENGTH"
    parser.feed(b"x")
    parser.next_event()
    parser.next_event()
    assert parser.in_message is False and parser.eof is False
    parser.start_next()
    assert parser.current_head is None
    parser.feed(b"")
    assert parser.eof is True


def test_empty_lines_after_a_large_pipelined_body_are_skipped() -> None:
    """The bound on leading empty lines counts them, not the buffer offset."""
    body = b"b" * 20000
    parser = RequestParser()
    parser.feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
        + b"\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    events = []
    while (event := parser.next_event()) is not PAUSED:
        events.append(event)
    parser.start_next()
    head = parser.next_event()
    assert isinstance(head, RequestHead) and head.target == "/next"


def test_too_many_empty_lines_before_a_request_line() -> None:
    assert (
        status_of(b"\r\n" * 30 + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", max_request_line=50) == 400
    )
