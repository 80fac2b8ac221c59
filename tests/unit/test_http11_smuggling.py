"""Request smuggling classes: one table, each case fed three ways, each refused with its status.

A smuggling bug is a request two HTTP implementations frame differently. The classes below come
from the CVEs of our peers (waitress CVE-2019-16785/16786/16789/16792, CVE-2022-24761; gunicorn
CVE-2024-1135, CVE-2024-6827; h11 CVE-2025-43859) and the PortSwigger catalogue. Every case
also proves that a request pipelined after the bad one is never parsed (error_three_ways feeds
each case followed by a valid request and checks that the parser stays in ERROR).
"""

from __future__ import annotations

import pytest

from tests.support.feed import error_three_ways, feed_three_ways
from wsgikit.http11 import BodyChunk, ProtocolError, RequestHead, RequestParser

H = b"POST / HTTP/1.1\r\nHost: a\r\n"
TE = H + b"Transfer-Encoding: chunked\r\n"


def chunked(body: bytes) -> bytes:
    return TE + b"\r\n" + body


SMUGGLING = [
    # --- CL.TE / TE.CL: both framings present --------------------------------------------------
    pytest.param(
        H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400, id="CL.TE"
    ),
    pytest.param(
        H + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n",
        400,
        id="TE.CL",
    ),
    pytest.param(
        H + b"Content-Length: 0\r\nTransfer-Encoding: identity\r\n\r\n", 400, id="CL-TE-identity"
    ),
    # --- Content-Length --------------------------------------------------------------------------
    pytest.param(
        H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, id="CL-differing"
    ),
    pytest.param(H + b"Content-Length: 5, 6\r\n\r\nhello!", 400, id="CL-list-differing"),
    pytest.param(H + b"Content-Length: 5, 5\r\n\r\nhello", 400, id="CL-list-identical"),
    pytest.param(
        H + b"Content-Length: 5\r\nContent-Length: 05\r\n\r\nhello",
        400,
        id="CL-same-value-spelled-differently",
    ),
    pytest.param(H + b"Content-Length: +5\r\n\r\nhello", 400, id="CL-plus"),
    pytest.param(H + b"Content-Length: -5\r\n\r\nhello", 400, id="CL-minus"),
    pytest.param(H + b"Content-Length: 0x5\r\n\r\nhello", 400, id="CL-hex"),
    pytest.param(H + b"Content-Length: 5 5\r\n\r\nhello", 400, id="CL-inner-space"),
    pytest.param(H + b"Content-Length: 5_0\r\n\r\nhello", 400, id="CL-underscore"),
    pytest.param(H + b"Content-Length: 5.0\r\n\r\nhello", 400, id="CL-decimal"),
    pytest.param(H + b"Content-Length: \xd9\xa5\r\n\r\nhello", 400, id="CL-unicode-digit"),
    pytest.param(H + b"Content-Length:\r\n\r\n", 400, id="CL-empty"),
    pytest.param(H + b"Content-Length : 5\r\n\r\nhello", 400, id="CL-space-before-colon"),
    pytest.param(H + b"Content-Length:\x0b5\r\n\r\nhello", 400, id="CL-vertical-tab"),
    # --- Transfer-Encoding variants --------------------------------------------------------------
    pytest.param(
        H + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, id="TE-chunked-identity"
    ),
    pytest.param(H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, id="TE-xchunked"),
    pytest.param(H + b"Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n", 501, id="TE-chunkedx"),
    pytest.param(H + b"Transfer-Encoding: chunk\r\n\r\n0\r\n\r\n", 501, id="TE-chunk"),
    pytest.param(
        H + b" Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, id="TE-leading-space-line"
    ),
    pytest.param(
        H + b"X: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, id="TE-folded-into-X"
    ),
    pytest.param(
        H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, id="TE-space-before-colon"
    ),
    pytest.param(H + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400, id="TE-vertical-tab"),
    pytest.param(H + b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n', 400, id="TE-quoted"),
    pytest.param(H + b"Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400, id="TE-parameter"),
    pytest.param(H + b"Transfer-Encoding:\r\n\r\n", 400, id="TE-empty"),
    pytest.param(H + b"Transfer-Encoding: ,\r\n\r\n", 400, id="TE-only-commas"),
    pytest.param(
        H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        400,
        id="TE-chunked-then-identity-lines",
    ),
    pytest.param(
        H + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, id="TE-chunked-twice"
    ),
    pytest.param(
        H + b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400, id="TE-not-ending-in-chunked"
    ),
    pytest.param(
        H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, id="TE-chunked-not-last"
    ),
    pytest.param(
        H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, id="TE-gzip-chunked"
    ),
    pytest.param(
        H + b"Transfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n", 501, id="TE-unknown-coding"
    ),
    pytest.param(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, id="TE-in-HTTP/1.0"
    ),
    pytest.param(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        400,
        id="TE-CL-in-HTTP/1.0",
    ),
    # --- field syntax ------------------------------------------------------------------------
    pytest.param(H + b"X-A: 1\r\n\tfolded\r\nContent-Length: 0\r\n\r\n", 400, id="obs-fold-tab"),
    pytest.param(H + b"X-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n", 400, id="obs-fold-space"),
    pytest.param(H + b"X-A: 1\rContent-Length: 5\r\n\r\nhello", 400, id="bare-CR-in-head"),
    pytest.param(H + b"X-A: 1\nContent-Length: 5\r\n\r\nhello", 400, id="bare-LF-in-head"),
    pytest.param(b"GET / HTTP/1.1\nHost: a\n\n", 400, id="bare-LF-everywhere"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400, id="bare-LF-ends-head"),
    pytest.param(b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400, id="bare-CR-ends-request-line"),
    pytest.param(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="bare-LF-before-request-line"),
    pytest.param(H + b"Content-Length\t: 0\r\n\r\n", 400, id="tab-before-colon"),
    pytest.param(H + b"X-A: a\x00b\r\n\r\n", 400, id="NUL-in-value"),
    pytest.param(H + b"X-A: a\x01b\r\n\r\n", 400, id="CTL-in-value"),
    pytest.param(H + b"X\x00A: b\r\n\r\n", 400, id="NUL-in-name"),
    pytest.param(b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="NUL-in-target"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="duplicate-Host"),
    # --- chunk-size tricks ---------------------------------------------------------------------
    pytest.param(chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-0x-prefix"),
    pytest.param(chunked(b"+5\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-plus"),
    pytest.param(chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-minus"),
    pytest.param(chunked(b"5_0\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-underscore"),
    pytest.param(chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-leading-space"),
    pytest.param(chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400, id="chunk-trailing-space"),
    pytest.param(chunked(b"5\t\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-trailing-tab"),
    pytest.param(chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-empty-size"),
    pytest.param(chunked(b"g\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-not-hex"),
    pytest.param(chunked(b"1" * 17 + b"\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-size-too-long"),
    pytest.param(chunked(b"0" * 20 + b"5\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-size-zero-padded"),
    pytest.param(chunked(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 413, id="chunk-size-overflow"),
    pytest.param(chunked(b"5\nhello\r\n0\r\n\r\n"), 400, id="chunk-line-bare-LF"),
    pytest.param(chunked(b"5\rhello\r\n0\r\n\r\n"), 400, id="chunk-line-bare-CR"),
    # --- chunk extensions --------------------------------------------------------------------
    pytest.param(chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-ext-bare-CR"),
    pytest.param(chunked(b"5;a\nb\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-ext-bare-LF"),
    pytest.param(chunked(b'5;a="b\r\nhello\r\n0\r\n\r\n'), 400, id="chunk-ext-unclosed-quote"),
    pytest.param(chunked(b"5;\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-ext-empty"),
    pytest.param(chunked(b"5;a=\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-ext-empty-value"),
    pytest.param(chunked(b"5;a\x00\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-ext-NUL"),
    pytest.param(
        chunked(b"5;" + b"a" * 5000 + b"\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-ext-too-long"
    ),
    # --- chunk data framing --------------------------------------------------------------------
    pytest.param(chunked(b"5\r\nhelloXX0\r\n\r\n"), 400, id="chunk-data-no-CRLF"),
    pytest.param(chunked(b"5\r\nhello\n0\r\n\r\n"), 400, id="chunk-data-bare-LF"),
    pytest.param(chunked(b"5\r\nhello\r0\r\n\r\n"), 400, id="chunk-data-bare-CR"),
    pytest.param(chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400, id="chunk-size-shorter-than-data"),
    # --- trailers ----------------------------------------------------------------------------
    pytest.param(chunked(b"0\r\nX: " + b"a" * 9000 + b"\r\n\r\n"), 431, id="trailer-too-big"),
    pytest.param(chunked(b"0\r\nContent-Length: 5\r\n\r\n"), 400, id="trailer-content-length"),
    pytest.param(
        chunked(b"0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, id="trailer-transfer-encoding"
    ),
    pytest.param(chunked(b"0\r\nHost: evil\r\n\r\n"), 400, id="trailer-host"),
    pytest.param(chunked(b"0\r\nAuthorization: x\r\n\r\n"), 400, id="trailer-authorization"),
    pytest.param(chunked(b"0\r\nX: y\n\r\n"), 400, id="trailer-bare-LF"),
    pytest.param(chunked(b"0\r\nX: y\r\n\n"), 400, id="trailer-bare-LF-end"),
    pytest.param(chunked(b"0\r\nX: y\rZ: 1\r\n\r\n"), 400, id="trailer-bare-CR"),
    pytest.param(chunked(b"0\r\n folded\r\n\r\n"), 400, id="trailer-obs-fold"),
    pytest.param(chunked(b"0\r\nX : y\r\n\r\n"), 400, id="trailer-space-before-colon"),
    pytest.param(chunked(b"0\r\nX: a\x00b\r\n\r\n"), 400, id="trailer-NUL"),
    pytest.param(chunked(b"0\r\n\n"), 400, id="last-chunk-bare-LF-end"),
    pytest.param(chunked(b"0\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, id="request-as-trailer"),
]


@pytest.mark.parametrize(("data", "status"), SMUGGLING)
def test_smuggling_class_is_refused(data: bytes, status: int) -> None:
    error = error_three_ways(data)
    assert error.status == status, error.reason
    assert error.close is True


def test_pipelined_request_after_a_400_is_never_parsed() -> None:
    smuggled = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    parser = RequestParser()
    parser.feed(H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 400
    for _ in range(3):
        with pytest.raises(ProtocolError):
            parser.next_event()
    with pytest.raises(ProtocolError):
        parser.start_next()


def test_body_that_looks_like_a_request_stays_body() -> None:
    """The classic payload inside a well-framed body is just body bytes."""
    inner = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    events = feed_three_ways(H + b"Content-Length: %d\r\n\r\n" % len(inner) + inner)
    assert b"".join(e.data for e in events if isinstance(e, BodyChunk)) == inner
    assert sum(isinstance(e, RequestHead) for e in events) == 1


def test_identical_repeated_content_length_is_accepted() -> None:
    events = feed_three_ways(H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
    head = events[0]
    assert isinstance(head, RequestHead) and head.content_length == 5


def test_te_with_optional_whitespace_is_accepted() -> None:
    events = feed_three_ways(H + b"Transfer-Encoding: \t chunked \t\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert b"".join(e.data for e in events if isinstance(e, BodyChunk)) == b"hello"


def test_chunk_ext_with_bws_and_quoted_value_is_accepted() -> None:
    events = feed_three_ways(chunked(b'5 ; a = "x;y" ;b=c\r\nhello\r\n0\r\n\r\n'))
    assert b"".join(e.data for e in events if isinstance(e, BodyChunk)) == b"hello"
