"""Fuzz target: ``wsgikit.http11.RequestParser``, every event, fed in random pieces.

Input: one flags byte, then the bytes a client sends. The flags byte seeds where the bytes are
cut into ``feed()`` calls and says whether EOF follows. Findings:

* any exception but ``ProtocolError`` (a ``RuntimeError`` is an illegal state transition);
* events out of order (``RequestHead BodyChunk* Trailers? EndOfMessage`` per request, then
  ``PAUSED``; ``ConnectionClosed`` only between requests), a Content-Length body of another
  length, or an event after an error;
* no progress: more ``next_event()`` calls than the input can justify (a hang in pure code);
* the same bytes cut differently giving other requests or bodies, or an error one way and none
  the other: the parser promises the same events however the bytes arrive (body chunk
  boundaries aside). The error's *status* may differ when a message breaks a size limit and
  has a syntax error too (431 or 414 one way, 400 the other: which is seen first depends on
  how much has arrived); both refuse and close, so only the fact of the error is compared.
"""

from __future__ import annotations

import random
from typing import Any

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

#: Small limits, so that 4 KiB inputs reach every limit and its status.
LIMITS = dict(
    max_request_line=256,
    max_header_count=12,
    max_field_bytes=200,
    max_header_bytes=1024,
    max_body_bytes=2048,
    max_chunk_ext_bytes=48,
    max_trailer_bytes=128,
)


class Finding(AssertionError):
    """A broken invariant: the fuzzer reports it as a crash."""


def cut(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut into pieces at points chosen by ``seed`` (0: one piece)."""
    if seed == 0 or len(data) < 2:
        return [data] if data else []
    rng = random.Random(seed)
    pieces = []
    pos = 0
    while pos < len(data):
        step = rng.choice((1, 1, 2, 3, 5, 8, 64, 1000))
        pieces.append(data[pos : pos + step])
        pos += step
    return pieces


def run(pieces: list[bytes], eof: bool, parser: RequestParser | None = None) -> list[Any]:
    """Feed ``pieces`` (then EOF if ``eof``); return the events, bodies merged, checked."""
    p = parser if parser is not None else RequestParser(**LIMITS)
    out: list[Any] = []
    budget = 8 * sum(len(x) for x in pieces) + 64  # next_event() calls the input can justify
    phase = "head"  # what the next event may be: head | body | end | paused | closed
    body: list[bytes] = []
    length: int | None = None

    def drain() -> bool:
        """Pull events until NEED_DATA; False once the parser is finished (error or closed)."""
        nonlocal budget, phase, body, length
        while True:
            budget -= 1
            if budget < 0:
                raise Finding(f"no progress: parser state {p.state}")
            try:
                event = p.next_event()
            except ProtocolError as exc:
                out.append(("error", exc.status))
                try:
                    p.next_event()
                except ProtocolError as again:
                    if again is not exc:
                        raise Finding("a second error after the first") from again
                else:
                    raise Finding("next_event() after an error did not raise")
                phase = "closed"
                return False
            if event is NEED_DATA:
                if phase == "paused":
                    raise Finding("NEED_DATA while paused")
                return True
            if event is PAUSED:
                if phase != "paused":
                    raise Finding(f"PAUSED in phase {phase}")
                p.start_next()
                phase = "head"
                continue
            kind = type(event)
            if kind is RequestHead:
                if phase != "head":
                    raise Finding(f"RequestHead in phase {phase}")
                head: RequestHead = event  # type: ignore[assignment]
                if head.chunked and head.content_length is not None:
                    raise Finding("both chunked and Content-Length framing")
                length = None if head.chunked else (head.content_length or 0)
                out.append(("head", head.method, head.target, head.http_version,
                            head.headers, head.keep_alive, head.expect_continue))
                phase, body = "body", []
            elif kind is BodyChunk:
                if phase != "body":
                    raise Finding(f"BodyChunk in phase {phase}")
                body.append(event.data)  # type: ignore[union-attr]
            elif kind is Trailers:
                if phase != "body" or length is not None:
                    raise Finding(f"Trailers in phase {phase} (length {length})")
                phase = "end"
                out.append(("trailers", event.headers))  # type: ignore[union-attr]
            elif kind is EndOfMessage:
                if phase not in ("body", "end"):
                    raise Finding(f"EndOfMessage in phase {phase}")
                data = b"".join(body)
                if length is not None and len(data) != length:
                    raise Finding(f"body of {len(data)} bytes, Content-Length {length}")
                out.append(("body", data))
                phase = "paused"
            elif kind is ConnectionClosed:
                if phase != "head" or not p.eof:
                    raise Finding(f"ConnectionClosed in phase {phase}")
                out.append(("closed",))
                phase = "closed"
                return False
            else:
                raise Finding(f"unknown event {event!r}")

    for piece in pieces:
        p.feed(piece)
        if not drain():
            return out
    if eof:
        p.feed(b"")
        if drain():
            raise Finding(f"NEED_DATA after EOF in state {p.state}")
    return out


def same_events(whole: list[Any], split: list[Any]) -> None:
    """Raise a Finding unless both runs gave the same events (error statuses aside)."""
    if [e[:1] if e[0] == "error" else e for e in whole] != [
        e[:1] if e[0] == "error" else e for e in split
    ]:
        raise Finding(f"the same bytes cut differently gave other events:\n{whole}\n{split}")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    flags, wire = data[0], data[1:]
    eof = bool(flags & 1)
    same_events(run(cut(wire, 0), eof), run(cut(wire, flags >> 1), eof))
