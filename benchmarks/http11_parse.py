"""Micro-benchmark: wsgikit.http11 parse and serialise throughput against h11 (and llhttp).

    python -m benchmarks.http11_parse            # about 10 seconds
    python -m benchmarks.http11_parse --quick

Cases: a typical ~400-byte browser GET (fresh parser per request, as h11 must be; and one
keep-alive parser reused, the server's real path), a 64 KiB POST body, a chunked POST, the same
head fed one byte at a time, and the writer's hello-world response. Numbers are requests per
second on one core, best of several rounds; compare ratios, not absolute values.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from wsgikit.http11 import (
    NEED_DATA,
    BodyChunk,
    EndOfMessage,
    ProtocolError,
    RequestHead,
    RequestParser,
    ResponseWriter,
)

GET = (
    b"GET /static/app.js?v=1736 HTTP/1.1\r\n"
    b"Host: localhost:8000\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=abc123def456; theme=dark\r\n"
    b"Referer: http://localhost:8000/\r\n"
    b"\r\n"
)
BODY = b"x" * 65536
POST = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"400\r\n" + b"y" * 1024 + b"\r\n" for _ in range(16))
    + b"0\r\n\r\n"
)

#: Worst cases for the field-line regex: long whitespace runs and a bad byte at the end. They
#: must be refused in time linear in their size (a backtracking pattern would take seconds).
PATHOLOGICAL = [
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a" + b" " * 30000 + b"b" + b" " * 30000 + b"\x00\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX:" + b" " * 60000 + b"\x00\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a " * 30000 + b"\x00\r\n\r\n",
]


def wsgikit_refuse(data: bytes) -> Callable[[], None]:
    def run() -> None:
        parser = RequestParser(max_field_bytes=65536, max_header_bytes=65536)
        parser.feed(data)
        try:
            parser.next_event()
        except ProtocolError:
            return
        raise SystemExit("benchmark self-check failed: pathological head accepted")

    return run


def wsgikit_fresh(data: bytes) -> Callable[[], None]:
    def run() -> None:
        parser = RequestParser()
        parser.feed(data)
        while not isinstance(parser.next_event(), EndOfMessage):
            pass

    return run


def wsgikit_keepalive(data: bytes) -> Callable[[], None]:
    parser = RequestParser()

    def run() -> None:
        parser.feed(data)
        while not isinstance(parser.next_event(), EndOfMessage):
            pass
        parser.next_event()  # PAUSED
        parser.start_next()

    return run


def wsgikit_bytewise(data: bytes) -> Callable[[], None]:
    pieces = [data[i : i + 1] for i in range(len(data))]

    def run() -> None:
        parser = RequestParser()
        for piece in pieces:
            parser.feed(piece)
            event = parser.next_event()
        while not isinstance(event, EndOfMessage):
            event = parser.next_event()

    return run


def h11_fresh(data: bytes) -> Callable[[], None]:
    import h11

    def run() -> None:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        while type(conn.next_event()) is not h11.EndOfMessage:
            pass

    return run


def h11_bytewise(data: bytes) -> Callable[[], None]:
    import h11

    pieces = [data[i : i + 1] for i in range(len(data))]

    def run() -> None:
        conn = h11.Connection(h11.SERVER)
        for piece in pieces:
            conn.receive_data(piece)
            event = conn.next_event()
        while type(event) is not h11.EndOfMessage:
            event = conn.next_event()

    return run


def httptools_fresh(data: bytes) -> Callable[[], None]:
    import httptools

    class Sink:
        def on_header(self, name: bytes, value: bytes) -> None:
            pass

        def on_body(self, body: bytes) -> None:
            pass

    def run() -> None:
        httptools.HttpRequestParser(Sink()).feed_data(data)

    return run


def wsgikit_writer() -> None:
    writer = ResponseWriter(request_method="GET", http_version="1.1", request_keep_alive=True)
    writer.start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    writer.body(b"Hello, world!")
    writer.end()


def h11_writer_factory() -> Callable[[], None]:
    import h11

    def run() -> None:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        conn.next_event()
        conn.next_event()
        conn.send(
            h11.Response(
                status_code=200, headers=[("Content-Type", "text/plain"), ("Content-Length", "13")]
            )
        )
        conn.send(h11.Data(data=b"Hello, world!"))
        conn.send(h11.EndOfMessage())

    return run


def measure(func: Callable[[], None], seconds: float) -> float:
    """Calls per second, best of 5 rounds of about ``seconds / 5`` each."""
    n = 1
    while True:  # calibrate
        start = time.perf_counter()
        for _ in range(n):
            func()
        elapsed = time.perf_counter() - start
        if elapsed > 0.02:
            break
        n *= 2
    per_round = max(1, int(n * (seconds / 5) / elapsed))
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(per_round):
            func()
        best = max(best, per_round / (time.perf_counter() - start))
    return best


def check() -> None:
    """The cases parse to what they should (a wrong answer must never look fast)."""
    parser = RequestParser()
    parser.feed(POST)
    head = parser.next_event()
    if not isinstance(head, RequestHead) or head.content_length != len(BODY):
        raise SystemExit("benchmark self-check failed: POST head")
    got = b""
    while True:
        event = parser.next_event()
        if isinstance(event, BodyChunk):
            got += event.data
        elif isinstance(event, EndOfMessage) or event is NEED_DATA:
            break
    if got != BODY:
        raise SystemExit("benchmark self-check failed: POST body")


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--quick", action="store_true", help="about 2 seconds per row")
    opts = args.parse_args(argv)
    seconds = 0.5 if opts.quick else 1.5
    check()
    rows: list[tuple[str, Callable[[], None], Callable[[], None] | None, Callable[[], None] | None]]
    rows = [
        ("GET 400 B, fresh parser", wsgikit_fresh(GET), h11_fresh(GET), httptools_fresh(GET)),
        ("GET 400 B, keep-alive parser", wsgikit_keepalive(GET), None, None),
        ("POST 64 KiB body", wsgikit_fresh(POST), h11_fresh(POST), httptools_fresh(POST)),
        (
            "POST chunked 16 KiB",
            wsgikit_fresh(CHUNKED),
            h11_fresh(CHUNKED),
            httptools_fresh(CHUNKED),
        ),
        ("GET fed byte by byte", wsgikit_bytewise(GET), h11_bytewise(GET), None),
        ("response hello (writer)", wsgikit_writer, h11_writer_factory(), None),
    ]
    rows += [
        (f"pathological 60 KiB head #{i}", wsgikit_refuse(data), None, None)
        for i, data in enumerate(PATHOLOGICAL, 1)
    ]
    print(f"GET request: {len(GET)} bytes")
    print(f"{'case':32} {'wsgikit/s':>12} {'h11/s':>12} {'ratio':>7} {'llhttp/s':>12}")
    for name, ours, h11_run, llhttp_run in rows:
        ours_rate = measure(ours, seconds)
        h11_rate = measure(h11_run, seconds) if h11_run else 0.0
        llhttp_rate = measure(llhttp_run, seconds) if llhttp_run else 0.0
        ratio = f"{ours_rate / h11_rate:6.1f}x" if h11_rate else "      -"
        llhttp_text = f"{llhttp_rate:12,.0f}" if llhttp_rate else f"{'-':>12}"
        h11_text = f"{h11_rate:12,.0f}" if h11_rate else f"{'-':>12}"
        print(f"{name:32} {ours_rate:12,.0f} {h11_text} {ratio} {llhttp_text}")


if __name__ == "__main__":
    main()
