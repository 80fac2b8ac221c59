"""Feed a request parser three ways (h11 ``test_io.tr``): whole, byte by byte, trailing bytes.

Every parser test goes through ``feed_three_ways`` (valid input) or ``error_three_ways`` (invalid
input), so a parser that only works when a request arrives in one ``recv`` cannot pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.compiled import COMPILED
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
from wsgikit.http11.parser import _TRANSITIONS, _State


def _checked_parser_class() -> type[RequestParser]:
    """CheckedParser for the Python build; the plain parser for the compiled build.

    A compiled class cannot be subclassed from Python, and its attribute assignments cannot be
    watched: there the transitions are checked in make test's Python pass only.
    """
    if COMPILED:
        return RequestParser

    class CheckedParser(RequestParser):
        """A RequestParser whose every state change is checked against the transition table.

        The parser assigns ``_state`` directly on the path every request takes (see
        ``RequestParser._goto``); this subclass sees those assignments too, so a direct
        assignment that the table does not allow fails the test that made it.
        """

        __slots__ = ()

        def __setattr__(self, name: str, value: object) -> None:
            if name == "_state":
                try:
                    old = self._state
                except AttributeError:  # __init__
                    old = None
                if old is not None and value is not old and value is not _State.ERROR:
                    if value not in _TRANSITIONS[old]:
                        raise AssertionError(f"illegal parser transition {old.name} -> {value}")
            super().__setattr__(name, value)

    return CheckedParser


CheckedParser = _checked_parser_class()


#: A complete request appended after the case in the third way: it must stay buffered, unparsed.
NEXT_REQUEST = b"GET /next HTTP/1.1\r\nHost: next.example\r\n\r\n"

ParserFactory = Callable[[], RequestParser]

# One message never needs more calls than bytes plus a few events; more means a loop.
_MAX_EXTRA_CALLS = 16


def check_types(event: object) -> None:
    """Event fields are bytes or native str (or plain ints/bools/None), never bytearray."""
    if not isinstance(event, (RequestHead, BodyChunk, Trailers)):
        return
    for name, value in event._asdict().items():
        _check_value(name, value)


def _check_value(name: str, value: Any) -> None:
    if isinstance(value, tuple):
        for item in value:
            _check_value(name, item)
        return
    if value is None or type(value) in (bytes, str, int, bool):
        return
    raise AssertionError(f"event field {name} has type {type(value).__name__}")


def drain(parser: RequestParser, limit: int) -> list[object]:
    """Pull events until NEED_DATA, PAUSED or ConnectionClosed (returned last, except NEED_DATA)."""
    out: list[object] = []
    for _ in range(limit):
        event = parser.next_event()
        if event is NEED_DATA:
            return out
        check_types(event)
        out.append(event)
        if event is PAUSED or isinstance(event, ConnectionClosed):
            return out
    raise AssertionError(f"parser produced more than {limit} events without pausing (a loop?)")


def normalize(events: list[object]) -> list[object]:
    """Merge consecutive BodyChunks (how a body is split depends on how bytes arrived)."""
    out: list[object] = []
    for event in events:
        if isinstance(event, BodyChunk) and out and isinstance(out[-1], BodyChunk):
            out[-1] = BodyChunk(out[-1].data + event.data)
        elif isinstance(event, BodyChunk) and not event.data:
            raise AssertionError("empty BodyChunk emitted")
        else:
            out.append(event)
    return out


def _run(parser: RequestParser, pieces: list[bytes], eof: bool) -> list[object]:
    events: list[object] = []
    limit = sum(len(p) for p in pieces) + _MAX_EXTRA_CALLS
    for i, piece in enumerate(pieces):
        if not piece:
            continue  # feed(b"") would mean EOF
        parser.feed(piece)
        got = drain(parser, limit)
        events.extend(got)
        if got and got[-1] is PAUSED and i != len(pieces) - 1:
            raise AssertionError(f"request complete after byte {i + 1} of {len(pieces)}")
    if eof:
        parser.feed(b"")
        events.extend(drain(parser, limit))
    return events


def feed_three_ways(
    data: bytes, *, eof: bool = False, make_parser: ParserFactory = CheckedParser
) -> list[object]:
    """Parse ``data`` whole, byte by byte, and followed by NEXT_REQUEST; return the events.

    Asserts the three ways agree (after merging body chunks), that byte by byte the message only
    completes with its last byte, that trailing bytes stay buffered until ``start_next()`` and then
    parse as the next request. The returned list ends with ``EndOfMessage`` (the ``PAUSED``
    marker is checked and dropped) or ``ConnectionClosed``.
    """
    whole = normalize(_run(make_parser(), [data], eof))
    bytewise = normalize(_run(make_parser(), [data[i : i + 1] for i in range(len(data))], eof))
    if whole != bytewise:
        raise AssertionError(f"whole and byte-by-byte differ:\n{whole}\n{bytewise}")

    parser = make_parser()
    parser.feed(data + NEXT_REQUEST)
    trailing = normalize(drain(parser, len(data) + _MAX_EXTRA_CALLS))
    if not eof:
        if trailing != whole:
            raise AssertionError(f"with trailing bytes the events differ:\n{whole}\n{trailing}")
        if whole[-1] is not PAUSED:
            raise AssertionError(f"request did not complete: {whole}")
        if not parser.has_buffered_data:
            raise AssertionError("the pipelined request is not reported as buffered")
        if parser.next_event() is not PAUSED:
            raise AssertionError("the parser did not stay PAUSED before start_next()")
        parser.start_next()
        head = parser.next_event()
        if not (isinstance(head, RequestHead) and head.target == "/next"):
            raise AssertionError(f"the pipelined request did not parse: {head!r}")
        if not isinstance(parser.next_event(), EndOfMessage):
            raise AssertionError("the pipelined request did not end")
    if whole and whole[-1] is PAUSED:
        whole.pop()
    return whole


def error_three_ways(
    data: bytes, *, eof: bool = False, make_parser: ParserFactory = CheckedParser
) -> ProtocolError:
    """Assert ``data`` is refused the same way whole, byte by byte and with trailing bytes.

    Returns the error (from the whole feed). After the error every further call must raise, and
    the trailing request must never be parsed.
    """
    errors = []
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    if not eof:  # a truncated message would swallow the trailing bytes as its body
        ways.append([data + NEXT_REQUEST])
    for pieces in ways:
        parser = make_parser()
        try:
            events = _run(parser, pieces, eof)
        except ProtocolError as exc:
            errors.append(exc)
            for again in (parser.next_event, lambda p=parser: p.feed(b"more")):
                try:
                    again()
                except ProtocolError as exc2:
                    if exc2.status != exc.status:
                        raise AssertionError("a later call raised a different error") from exc2
                else:
                    raise AssertionError("the parser accepted a call after an error")
            continue
        raise AssertionError(f"no error for {data!r}, events: {events}")
    statuses = {e.status for e in errors}
    if len(statuses) != 1:
        raise AssertionError(f"the three ways disagree on the status: {errors}")
    for exc in errors:
        if not exc.reason or not exc.reason.isascii() or not exc.close:
            raise AssertionError(f"bad reason/close on {exc!r}")
    return errors[0]


__all__ = [
    "NEXT_REQUEST",
    "CheckedParser",
    "BodyChunk",
    "EndOfMessage",
    "Trailers",
    "check_types",
    "drain",
    "error_three_ways",
    "feed_three_ways",
    "normalize",
]
