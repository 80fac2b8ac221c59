"""Named WSGI fixture apps for the server tests; each does one observable thing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, World!"]


def echo(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The request body, read with read()."""
    body = environ["wsgi.input"].read()
    start_response(
        "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))]
    )
    return [body]


def echo_lines(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The request body's lines, read by iterating wsgi.input, as a JSON list."""
    lines = [line.decode("latin-1") for line in environ["wsgi.input"]]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(lines).encode()]


def environ_json(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The str values of the environ, as JSON."""
    data = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int, float))}
    body = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def no_read(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Answers without touching the request body."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
    return [b"ignored"]


def status_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """``/204``, ``/304``...: answers that status with a body the server must not send."""
    code = environ["PATH_INFO"].strip("/") or "200"
    start_response(f"{code} Whatever", [("Content-Type", "text/plain")])
    return [b"must not be sent" if code in ("204", "304") else b"body"]


def error_before_headers(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("secret detail that must not reach the client")


def error_after_headers(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part"
    raise RuntimeError("failed mid-body")


def crlf_header(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("X-Bad", "value\r\nSet-Cookie: injected=1")])
    return [b"no"]


def hop_by_hop_header(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Transfer-Encoding", "chunked")])
    return [b"no"]


def write_callable(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"returned"]


def streaming(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(5):
        yield f"part {i}\n".encode()


class Recorder:
    """An app that records each request's path and method, and the close() calls."""

    def __init__(self, body: bytes = b"ok", *, read_body: bool = False) -> None:
        self.body = body
        self.read_body = read_body
        self.paths: list[str] = []
        self.closes = 0
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            self.paths.append(environ["REQUEST_METHOD"] + " " + environ["PATH_INFO"])
        if self.read_body:
            try:
                environ["wsgi.input"].read()
            except Exception as exc:  # a disconnect mid-body: record, then re-raise
                self.errors.append(exc)
                raise
        start_response("200 OK", [("Content-Length", str(len(self.body)))])
        return _Closing(self, [self.body])


class _Closing:
    def __init__(self, owner: Recorder, parts: list[bytes]) -> None:
        self.owner = owner
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.parts)

    def close(self) -> None:
        with self.owner.lock:
            self.owner.closes += 1


class Gate:
    """An app that blocks until ``release()`` (bounded), for busy-pool and shutdown tests."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.entered = threading.Semaphore(0)
        self.event = threading.Event()
        self.timeout = timeout

    def release(self) -> None:
        self.event.set()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        self.entered.release()
        self.event.wait(self.timeout)
        start_response("200 OK", [("Content-Length", "4")])
        return [b"done"]


def slow(seconds: float) -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        time.sleep(seconds)
        start_response("200 OK", [("Content-Length", "4")])
        return [b"slow"]

    return app


def file_app(path: str, *, content_length: bool = True) -> Callable[..., Any]:
    """Serves ``path`` through ``wsgi.file_wrapper`` (sendfile on plain TCP)."""

    def app(environ: Environ, start_response: StartResponse) -> Any:
        f = open(path, "rb")
        headers = [("Content-Type", "application/octet-stream")]
        if content_length:
            import os

            headers.append(("Content-Length", str(os.fstat(f.fileno()).st_size)))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 65536)

    return app
