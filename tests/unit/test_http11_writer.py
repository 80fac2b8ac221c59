"""ResponseWriter: validation, the framing decision, keep-alive, Date/Server, error responses.

Responses are checked by parsing them back with h11 (a test-only oracle) where framing matters,
so "the bytes are valid HTTP/1.1 and delimit the body we meant" is checked by another
implementation, not by string comparison alone.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.conftest import require_module
from tests.support.compiled import python_build_only
from wsgikit import http11
from wsgikit.http11 import (
    BadRequest,
    ContentTooLarge,
    ResponseError,
    ResponseWriter,
    continue_response,
    error_response,
    http_date,
    response_framing,
)


def writer(
    method: str = "GET", version: str = "1.1", keep_alive: bool = True, **kw: Any
) -> ResponseWriter:
    return ResponseWriter(
        request_method=method, http_version=version, request_keep_alive=keep_alive, **kw
    )


def fields(head: bytes) -> dict[str, list[str]]:
    lines = head.decode("latin-1").split("\r\n")
    out: dict[str, list[str]] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(": ")
            out.setdefault(name.lower(), []).append(value)
    return out


def h11_read(method: str, response: bytes, version: str = "1.1") -> tuple[Any, bytes, bool]:
    """Parse ``response`` with h11 as the client of ``method``; (response, body, complete)."""
    h11 = require_module("h11")
    client = h11.Connection(h11.CLIENT)
    headers = [("Host", "a")]
    client.send(h11.Request(method=method, target="/", headers=headers, http_version=version))
    client.send(h11.EndOfMessage())
    client.receive_data(response)
    client.receive_data(b"")
    resp = None
    body = b""
    complete = False
    for _ in range(100):
        event = client.next_event()
        if isinstance(event, h11.Response):
            resp = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            complete = True
        elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            break
        if event is h11.PAUSED:
            break
    return resp, body, complete


# --- the framing decision ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "version", "status", "has_cl", "expected"),
    [
        ("GET", "1.1", 200, True, "length"),
        ("GET", "1.1", 200, False, "chunked"),
        ("GET", "1.0", 200, False, "close"),
        ("GET", "1.0", 200, True, "length"),
        ("HEAD", "1.1", 200, False, "none"),
        ("HEAD", "1.1", 200, True, "none"),
        ("GET", "1.1", 204, False, "none"),
        ("GET", "1.1", 304, True, "none"),
        ("GET", "1.1", 101, False, "none"),
        ("GET", "1.0", 304, False, "none"),
        ("POST", "1.1", 500, False, "chunked"),
    ],
)
def test_response_framing(
    method: str, version: str, status: int, has_cl: bool, expected: str
) -> None:
    got = response_framing(
        request_method=method, http_version=version, status_code=status, has_content_length=has_cl
    )
    assert got == expected


def test_content_length_is_honoured_exactly() -> None:
    w = writer()
    head = w.start("200 OK", [("Content-Length", "5"), ("Content-Type", "text/plain")])
    assert w.framing == "length"
    out = head + w.body(b"hel") + w.body(b"lo") + w.end()
    resp, body, complete = h11_read("GET", out)
    assert resp.status_code == 200 and body == b"hello" and complete
    assert w.complete and w.keep_alive and not w.overflowed
    assert b"transfer-encoding" not in head.lower()


def test_content_length_overflow_is_cut_and_closes() -> None:
    w = writer()
    w.start("200 OK", [("Content-Length", "3")])
    assert w.body(b"abcdef") == b"abc"
    assert w.body(b"more") == b""
    w.end()
    assert w.overflowed and not w.keep_alive
    assert w.body_bytes == 3


def test_content_length_underflow_is_incomplete_and_closes() -> None:
    w = writer()
    w.start("200 OK", [("Content-Length", "10")])
    w.body(b"abc")
    w.end()
    assert not w.complete and not w.keep_alive


def test_chunked_for_http11_without_content_length() -> None:
    w = writer()
    head = w.start("200 OK", [("Content-Type", "text/plain")])
    assert fields(head)["transfer-encoding"] == ["chunked"]
    out = head + w.body(b"hello ") + w.body(b"") + w.body(b"world") + w.end()
    assert b"\r\n0\r\n\r\n" == out[-7:]
    resp, body, complete = h11_read("GET", out)
    assert body == b"hello world" and complete
    assert w.keep_alive


def test_empty_body_chunk_is_not_a_last_chunk() -> None:
    w = writer()
    w.start("200 OK", [])
    assert w.body(b"") == b""


def test_chunked_trailers() -> None:
    w = writer()
    head = w.start("200 OK", [])
    out = head + w.body(b"x") + w.end([("X-Checksum", "abc")])
    assert out.endswith(b"0\r\nX-Checksum: abc\r\n\r\n")
    _, body, complete = h11_read("GET", out)
    assert body == b"x" and complete


@pytest.mark.parametrize("name", ["Content-Length", "Transfer-Encoding", "Host", "Connection"])
def test_forbidden_trailers_are_refused(name: str) -> None:
    w = writer()
    w.start("200 OK", [])
    with pytest.raises(ResponseError):
        w.end([(name, "1")])


def test_close_delimited_for_http10_without_content_length() -> None:
    w = writer(version="1.0", keep_alive=True)
    head = w.start("200 OK", [])
    assert w.framing == "close"
    assert fields(head)["connection"] == ["close"]
    assert w.body(b"abc") == b"abc"
    assert w.end() == b""
    assert not w.keep_alive
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")


def test_http10_keep_alive_with_content_length() -> None:
    w = writer(version="1.0", keep_alive=True)
    head = w.start("200 OK", [("Content-Length", "2")])
    assert fields(head)["connection"] == ["keep-alive"]
    w.body(b"ok")
    w.end()
    assert w.keep_alive


@pytest.mark.parametrize(
    ("method", "status"),
    [("HEAD", "200 OK"), ("GET", "204 No Content"), ("GET", "304 Not Modified")],
)
def test_no_body_and_no_chunked(method: str, status: str) -> None:
    w = writer(method=method)
    head = w.start(status, [("Content-Type", "text/plain")])
    assert w.framing == "none"
    assert b"transfer-encoding" not in head.lower()
    assert w.body(b"ignored") == b""
    assert w.end() == b""
    assert w.keep_alive
    resp, body, complete = h11_read(method, head)
    assert body == b"" and complete


def test_head_keeps_the_apps_content_length() -> None:
    w = writer(method="HEAD")
    head = w.start("200 OK", [("Content-Length", "1234")])
    assert fields(head)["content-length"] == ["1234"]
    assert w.keep_alive


def test_no_content_length_on_204() -> None:
    w = writer()
    head = w.start("204 No Content", [("Content-Length", "0")])
    assert "content-length" not in fields(head)


def test_request_close_means_connection_close() -> None:
    w = writer(keep_alive=False)
    head = w.start("200 OK", [("Content-Length", "0")])
    assert fields(head)["connection"] == ["close"]
    w.end()
    assert not w.keep_alive


def test_http11_keep_alive_sends_no_connection_header() -> None:
    w = writer()
    head = w.start("200 OK", [("Content-Length", "0")])
    assert "connection" not in fields(head)


# --- Date and Server -----------------------------------------------------------------------------


def test_date_and_server_added() -> None:
    head = writer().start("200 OK", [])
    f = fields(head)
    assert f["server"] == ["wsgikit"]
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", f["date"][0])


def test_app_date_and_server_win() -> None:
    head = writer().start("200 OK", [("Server", "app"), ("date", "Thu, 01 Jan 1970 00:00:00 GMT")])
    f = fields(head)
    assert f["server"] == ["app"] and len(f["date"]) == 1 and "1970" in f["date"][0]


def test_date_and_server_can_be_disabled() -> None:
    head = writer(server_header=None, date_header=False).start("200 OK", [])
    f = fields(head)
    assert "server" not in f and "date" not in f


def test_http_date_is_cached_per_second() -> None:
    assert http_date() is http_date() or http_date() == http_date()
    assert http_date().startswith(b"Date: ") and http_date().endswith(b" GMT\r\n")


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    ["200", "OK", "20 OK", "2000 OK", "200 OK\r\nX: y", "200 O\x00K", "600 Nope",
     pytest.param(200, marks=python_build_only)],
)
def test_invalid_status(status: Any) -> None:
    with pytest.raises(ResponseError):
        writer().start(status, [])


@pytest.mark.parametrize(
    "header",
    [
        ("X-A", "a\r\nSet-Cookie: evil"),
        ("X-A", "a\nb"),
        ("X-A", "a\rb"),
        ("X-A", "a\x00b"),
        ("X-A", "a\x7fb"),
        ("X A", "b"),
        ("X-A:", "b"),
        ("", "b"),
        ("X-\u20ac", "b"),
        ("X-A", "\u20ac"),
        ("X-A", 5),
        (b"X-A", "b"),
        ("Connection", "close"),
        ("Transfer-Encoding", "chunked"),
        ("Keep-Alive", "timeout=5"),
        ("Upgrade", "h2c"),
        ("Content-Length", "abc"),
        ("Content-Length", "-1"),
    ],
)
def test_invalid_headers(header: Any) -> None:
    with pytest.raises(ResponseError):
        writer().start("200 OK", [header])


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols", "103 Early Hints"])
def test_a_1xx_status_is_not_a_final_response(status: str) -> None:
    """Found by the gateway fuzzer: an app's 1xx went out as its answer, and the client then
    took the next response on the connection for this request's."""
    with pytest.raises(ResponseError, match="1xx"):
        writer().start(status, [])


def test_differing_content_lengths_refused_identical_sent_once() -> None:
    with pytest.raises(ResponseError):
        writer().start("200 OK", [("Content-Length", "1"), ("Content-Length", "2")])
    head = writer().start("200 OK", [("Content-Length", "1"), ("content-length", "1")])
    assert fields(head)["content-length"] == ["1"]


def test_malformed_header_list() -> None:
    with pytest.raises(ResponseError):
        writer().start("200 OK", [("a", "b", "c")])  # type: ignore[list-item]


def test_latin1_values_are_allowed() -> None:
    head = writer().start("200 OK", [("X-A", "caf\xe9")])
    assert b"X-A: caf\xe9\r\n" in head


@python_build_only
def test_body_must_be_bytes() -> None:
    w = writer()
    w.start("200 OK", [])
    with pytest.raises(ResponseError):
        w.body("text")  # type: ignore[arg-type]
    assert w.body(bytearray(b"ab")) == b"2\r\nab\r\n"  # type: ignore[arg-type]


def test_call_order_is_enforced() -> None:
    w = writer()
    with pytest.raises(RuntimeError):
        w.body(b"x")
    w.start("200 OK", [])
    with pytest.raises(RuntimeError):
        w.start("200 OK", [])
    w.end()
    with pytest.raises(RuntimeError):
        w.end()


def test_invalid_construction() -> None:
    with pytest.raises(ValueError):
        writer(version="2.0")
    with pytest.raises(ValueError):
        writer(server_header="a\r\nb")


# --- helpers -----------------------------------------------------------------------------------


def test_continue_response() -> None:
    assert continue_response() == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_error_response_from_protocol_error() -> None:
    out = error_response(ContentTooLarge("body too big"))
    resp, body, complete = h11_read("POST", out)
    assert resp.status_code == 413
    assert body == b"body too big\n" and complete
    f = fields(out.partition(b"\r\n\r\n")[0])
    assert f["connection"] == ["close"]
    assert f["content-type"] == ["text/plain; charset=utf-8"]


def test_error_response_from_status_and_extra_headers() -> None:
    out = error_response(503, headers=[("Retry-After", "1")])
    assert out.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Retry-After: 1\r\n" in out
    assert out.endswith(b"\r\n\r\nService Unavailable\n")


def test_error_response_for_head_has_no_body() -> None:
    out = error_response(BadRequest("nope"), request_method="HEAD")
    assert out.endswith(b"\r\n\r\n")
    assert b"Content-Length: 5\r\n" in out


def test_error_response_reason_is_ascii_safe() -> None:
    out = error_response(400, "bad \u20ac\r\nX: y")
    body = out.partition(b"\r\n\r\n")[2]
    assert body.isascii()
    assert out.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (BadRequest("x"), b"HTTP/1.1 400 Bad Request\r\n"),
        (http11.RequestTimeout("x"), b"HTTP/1.1 408 Request Timeout\r\n"),
        (ContentTooLarge("x"), b"HTTP/1.1 413 Content Too Large\r\n"),
        (http11.URITooLong("x"), b"HTTP/1.1 414 URI Too Long\r\n"),
        (http11.HeaderFieldsTooLarge("x"), b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (http11.NotImplementedMethod("x"), b"HTTP/1.1 501 Not Implemented\r\n"),
        (http11.UnsupportedTransferCoding("x"), b"HTTP/1.1 501 Not Implemented\r\n"),
        (http11.HTTPVersionNotSupported("x"), b"HTTP/1.1 505 HTTP Version Not Supported\r\n"),
    ],
)
def test_every_protocol_error_maps_to_its_status_line(error: Any, line: bytes) -> None:
    assert error.close is True
    out = error_response(error)
    assert out.startswith(line)
    resp, body, complete = h11_read("GET", out)
    assert resp.status_code == error.status and body == b"x\n" and complete


def test_trailers_are_ignored_without_chunked_framing() -> None:
    w = writer()
    w.start("200 OK", [("Content-Length", "1")])
    w.body(b"x")
    assert w.end([("X-A", "1")]) == b""
    assert w.complete and w.keep_alive


def test_http_date_is_imf_fixdate_whatever_the_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our formatter agrees with email.utils (RFC 9110 §5.6.7) on every weekday and month."""
    from email.utils import formatdate

    import wsgikit.http11.writer as writer

    for t in range(0, 400 * 86400 * 366, 86400 * 366 // 7 + 3599):
        monkeypatch.setattr(writer.time, "time", lambda t=t: t + 0.5)
        assert http_date() == b"Date: %s\r\n" % formatdate(t, usegmt=True).encode()


# -- the cache of built heads -------------------------------------------------------------------


@pytest.fixture()
def empty_head_cache() -> Any:
    from wsgikit.http11 import writer as writer_module

    writer_module._HEADS.clear()
    return writer_module._HEADS


@pytest.mark.parametrize(
    "method, version, keep_alive, status, headers",
    [
        ("GET", "1.1", True, "200 OK", [("Content-Length", "2")]),
        ("GET", "1.1", False, "200 OK", [("Content-Length", "2")]),
        ("HEAD", "1.1", True, "200 OK", [("Content-Length", "2")]),
        ("GET", "1.0", True, "200 OK", [("Content-Length", "2")]),
        ("GET", "1.0", True, "200 OK", []),
        ("GET", "1.1", True, "200 OK", []),
        ("GET", "1.1", True, "204 No Content", [("Content-Length", "0")]),
        ("GET", "1.1", True, "200 OK", [("Date", "Tue, 01 Jan 2030 00:00:00 GMT")]),
        ("GET", "1.1", True, "200 OK", [("Server", "app/1")]),
    ],
)
def test_cached_head_is_the_head_built_afresh(
    empty_head_cache: Any, method: str, version: str, keep_alive: bool,
    status: str, headers: list[tuple[str, str]],
) -> None:
    first = writer(method, version, keep_alive)
    head1 = first.start(status, list(headers))
    assert len(empty_head_cache) == 1
    second = writer(method, version, keep_alive)
    head2 = second.start(status, list(headers))
    assert len(empty_head_cache) == 1  # the second start was served from the cache
    strip_date = re.compile(rb"Date: [^\r]*\r\n")
    assert strip_date.sub(b"", head2) == strip_date.sub(b"", head1)
    for attr in ("status_code", "framing", "content_length", "keep_alive"):
        assert getattr(second, attr) == getattr(first, attr), attr


def test_cache_keys_on_every_input(empty_head_cache: Any) -> None:
    """A head built for one request shape is never served to another."""
    heads = {
        writer("GET", "1.1", True).start("200 OK", [("A", "1")]),
        writer("GET", "1.1", False).start("200 OK", [("A", "1")]),
        writer("HEAD", "1.1", True).start("200 OK", [("A", "1")]),
        writer("GET", "1.0", True).start("200 OK", [("A", "1")]),
        writer("GET", "1.1", True, server_header="other").start("200 OK", [("A", "1")]),
        writer("GET", "1.1", True).start("201 Created", [("A", "1")]),
        writer("GET", "1.1", True).start("200 OK", [("A", "2")]),
    }
    assert len(heads) == 7
    assert len(empty_head_cache) == 7


def test_invalid_heads_are_refused_every_time_and_never_cached(
    empty_head_cache: Any,
) -> None:
    for _ in range(2):
        with pytest.raises(ResponseError):
            writer().start("200 OK", [("X-Evil", "a\r\nSet-Cookie: x=1")])
        with pytest.raises(ResponseError):
            writer().start("200 OK", [("X-List", ["not", "a", "str"])])  # type: ignore[list-item]
        with pytest.raises(ResponseError):
            writer().start("2000 OK", [])
    assert len(empty_head_cache) == 0


def test_head_cache_is_bounded(empty_head_cache: Any) -> None:
    from wsgikit.http11 import writer as writer_module

    sizes = []
    for i in range(writer_module._HEADS_MAX * 2 + 3):
        writer().start("302 Found", [("Location", f"/next/{i}")])
        sizes.append(len(empty_head_cache))
    assert max(sizes) == writer_module._HEADS_MAX  # it fills up to the bound, never past it
    assert sizes[0] == 1 and 0 < sizes[-1] <= writer_module._HEADS_MAX  # emptied, then refilled


def test_cached_head_gets_the_current_date(
    empty_head_cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    writer().start("200 OK", [])
    monkeypatch.setattr(time, "time", lambda: 4102444800.0)  # 2100-01-01T00:00:00Z
    assert b"\r\nDate: Fri, 01 Jan 2100 00:00:00 GMT\r\n" in writer().start("200 OK", [])


def test_large_heads_are_not_cached(empty_head_cache: Any) -> None:
    from wsgikit.http11 import writer as writer_module

    big = "x" * writer_module._HEAD_MAX_CACHED
    head = writer().start("200 OK", [("X-Big", big)])
    assert big.encode() in head and len(empty_head_cache) == 0
    writer().start("200 OK", [("X-Small", "y")])
    assert len(empty_head_cache) == 1


def test_count_body_counts_bytes_sent_around_body():
    """Bytes sent with sendfile count toward the promised length, as body() would count them."""
    writer = ResponseWriter(request_method="GET", http_version="1.1", request_keep_alive=True)
    writer.start("200 OK", [("Content-Length", "10")])
    writer.count_body(4)
    assert not writer.complete and not writer.keep_alive
    writer.count_body(6)
    assert writer.complete and writer.keep_alive and writer.body_bytes == 10
    with pytest.raises(ValueError):
        writer.count_body(1)  # past the Content-Length


def test_count_body_refuses_framings_that_wrap_the_body():
    writer = ResponseWriter(request_method="GET", http_version="1.1", request_keep_alive=True)
    writer.start("200 OK", [])  # chunked: raw bytes would break the framing
    with pytest.raises(RuntimeError):
        writer.count_body(1)
