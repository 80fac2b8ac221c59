"""Property-based tests: the parser never crashes or hangs, and valid requests round-trip.

Bounded: a fixed number of examples, a per-example deadline, and every pull loop has a ceiling
(a parser that loops forever fails the ceiling instead of hanging the suite).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import require_module
from tests.support.feed import CheckedParser
from wsgikit.http11 import (
    NEED_DATA,
    PAUSED,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    ProtocolError,
    RequestHead,
    RequestParser,
    Trailers,
)
from wsgikit.http11._head import FORBIDDEN_TRAILERS as _FORBIDDEN_TRAILERS

hypothesis = require_module("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

BOUNDED = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect", "content-type"}


def run(pieces: list[bytes], eof: bool = True) -> tuple[list[object], int | None]:
    """Feed ``pieces`` (then EOF); return (events, error status or None). Never hangs."""
    parser = CheckedParser(max_header_bytes=4096, max_body_bytes=100_000)
    events: list[object] = []
    ceiling = sum(len(p) for p in pieces) * 2 + 50
    calls = 0
    try:
        for piece in pieces + ([b""] if eof else []):
            parser.feed(piece)
            while True:
                calls += 1
                assert calls < ceiling, "parser does not make progress"
                event = parser.next_event()
                if event is NEED_DATA:
                    break
                if event is PAUSED:
                    parser.start_next()
                    continue
                events.append(event)
                if isinstance(event, ConnectionClosed):
                    break
    except ProtocolError as exc:
        assert 400 <= exc.status <= 505 and exc.reason.isascii()
        return merge(events), exc.status
    return merge(events), None


def merge(events: list[object]) -> list[object]:
    out: list[object] = []
    for event in events:
        if isinstance(event, BodyChunk):
            assert type(event.data) is bytes and event.data
            if out and isinstance(out[-1], BodyChunk):
                out[-1] = BodyChunk(out[-1].data + event.data)
                continue
        out.append(event)
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in points + [len(data)]:
        if p > start:
            pieces.append(data[start:p])
            start = p
    return pieces


SEED_REQUESTS = [
    b"GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
]


@BOUNDED
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0), max_size=8))
def test_arbitrary_bytes_only_raise_protocol_errors(data: bytes, cuts: list[int]) -> None:
    run(split(data, cuts))


@BOUNDED
@given(
    st.sampled_from(SEED_REQUESTS),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(0, 3), st.binary(min_size=1, max_size=3)),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_mutated_requests_never_crash_and_framing_does_not_depend_on_arrival(
    seed: bytes, edits: list[tuple[int, int, bytes]], cuts: list[int]
) -> None:
    data = bytearray(seed * 2)
    for where, how, what in edits:
        i = where % (len(data) + 1)
        if how == 0:
            data[i:i] = what  # insert
        elif how == 1:
            del data[i : i + len(what)]  # delete
        else:
            data[i : i + len(what)] = what  # replace
    raw = bytes(data)
    whole = run([raw])
    pieces = run(split(raw, cuts))
    bytewise = run([raw[i : i + 1] for i in range(len(raw))])
    # However the bytes arrive, the same requests, bodies and errors come out.
    assert whole == pieces == bytewise


# --- valid requests round-trip -----------------------------------------------------------------

token = st.text(alphabet=TCHARS, min_size=1, max_size=12)
field_name = token.filter(lambda n: n.lower() not in RESERVED)
# field-value: no leading/trailing whitespace (OWS is stripped), no CTLs; obs-text allowed.
field_value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=30,
).map(lambda v: v.strip(" \t"))
pchar = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@/", min_size=0, max_size=20
)


def is_not_connect(method: str) -> bool:
    return method != "CONNECT"  # 501 by design


trailer_name = field_name.filter(lambda n: n.lower() not in _FORBIDDEN_TRAILERS)


@st.composite
def requests(draw: Any) -> tuple[bytes, dict[str, Any]]:
    method = draw(
        st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]) | token.filter(is_not_connect)
    )
    path = "/" + draw(pchar)
    query = draw(st.none() | pchar.filter(lambda q: "?" not in q))
    version = draw(st.sampled_from(["1.0", "1.1"]))
    headers = draw(st.lists(st.tuples(field_name, field_value), max_size=8))
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked"] if version == "1.1" else ["length"]))
    target = path + ("" if query is None else "?" + query)
    lines = [f"{method} {target} HTTP/{version}"]
    all_headers = [("host", "example.test")] + [(n.lower(), v) for n, v in headers]
    lines.append("Host: example.test")
    lines.extend(f"{n}: {v}" for n, v in headers)
    trailers: list[tuple[str, str]] = []
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        all_headers.append(("content-length", str(len(body))))
        payload = body
    else:
        lines.append("Transfer-Encoding: chunked")
        all_headers.append(("transfer-encoding", "chunked"))
        sizes = draw(st.lists(st.integers(1, 64), max_size=10))
        chunks, rest = [], body
        for size in sizes:
            if not rest:
                break
            chunks.append(rest[:size])
            rest = rest[size:]
        if rest:
            chunks.append(rest)
        trailers = [
            (n.lower(), v)
            for n, v in draw(st.lists(st.tuples(trailer_name, field_value), max_size=3))
        ]
        payload = b"".join(b"%x\r\n%b\r\n" % (len(c), c) for c in chunks) + b"0\r\n"
        payload += "".join(f"{n}: {v}\r\n" for n, v in trailers).encode("latin-1") + b"\r\n"
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
    expected = {
        "method": method,
        "target": target,
        "path": path,
        "query": query or "",
        "http_version": version,
        "headers": tuple(all_headers),
        "body": body,
        "trailers": tuple(trailers),
        "chunked": framing == "chunked",
    }
    return raw, expected


@BOUNDED
@given(requests(), st.lists(st.integers(min_value=0), max_size=8))
def test_valid_requests_round_trip(request: tuple[bytes, dict[str, Any]], cuts: list[int]) -> None:
    raw, expected = request
    events, error = run(split(raw, cuts))
    assert error is None
    head = events[0]
    assert isinstance(head, RequestHead)
    for key in ("method", "target", "path", "query", "http_version", "headers", "chunked"):
        assert getattr(head, key) == expected[key], key
    body = b"".join(e.data for e in events if isinstance(e, BodyChunk))
    assert body == expected["body"]
    trailers = [e for e in events if isinstance(e, Trailers)]
    assert (trailers[0].headers if trailers else ()) == expected["trailers"]
    assert isinstance(events[-2], EndOfMessage)
    assert isinstance(events[-1], ConnectionClosed)


@BOUNDED
@given(st.lists(requests(), min_size=2, max_size=4))
def test_pipelined_valid_requests_round_trip(batch: list[tuple[bytes, dict[str, Any]]]) -> None:
    raw = b"".join(r for r, _ in batch)
    events, error = run([raw])
    assert error is None
    heads = [e for e in events if isinstance(e, RequestHead)]
    assert [h.target for h in heads] == [exp["target"] for _, exp in batch]
    assert sum(isinstance(e, EndOfMessage) for e in events) == len(batch)


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_slow_head_is_linear_enough_to_finish(size: int) -> None:
    """A 64 KiB head fed in small pieces completes (a quadratic rescan would crawl)."""
    fields = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 600) for i in range(99))
    raw = b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n"
    parser = RequestParser(max_header_bytes=len(raw))
    for i in range(0, len(raw), size):
        parser.feed(raw[i : i + size])
        event = parser.next_event()
        if i + size < len(raw):
            assert event is NEED_DATA
    assert isinstance(event, RequestHead) and len(event.headers) == 100
