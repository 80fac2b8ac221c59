"""The WSGI apps every server runs, so each one does exactly the same work.

Each app declares its Content-Length, so every server can keep the connection alive and wrk never
sees a close-delimited body (which it counts as a read error). The expected bodies are exported
for the harness's correctness check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Callable

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

HELLO_BODY = b"Hello, World!"
MIB = 1024 * 1024
CHUNK = 64 * 1024
# A non-repeating-looking pattern: a server that corrupts or truncates it is caught by the check.
BIG_BODY = bytes(range(256)) * (MIB // 256)
POST_SIZE = 64 * 1024
POST_BODY = (bytes(range(97, 123)) * (POST_SIZE // 26 + 1))[:POST_SIZE]


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """13 bytes of text: measures the per-request cost of the server itself."""
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO_BODY)))],
    )
    return [HELLO_BODY]


def body_1m(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """1 MiB in one bytes object: measures the send path for a large body."""
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG_BODY)))],
    )
    return [BIG_BODY]


def _chunks() -> Iterator[bytes]:
    view = memoryview(BIG_BODY)
    for start in range(0, len(BIG_BODY), CHUNK):
        yield bytes(view[start : start + CHUNK])


def stream_1m(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """1 MiB from a generator in 16 chunks of 64 KiB: measures per-chunk write overhead."""
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG_BODY)))],
    )
    return _chunks()


def echo(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Read the whole request body (Content-Length bounded) and send it back."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
    )
    return [body]


EXPECTED_BODIES = {
    "hello": HELLO_BODY,
    "body_1m": BIG_BODY,
    "stream_1m": BIG_BODY,
}
