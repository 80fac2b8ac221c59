"""gzip responses for clients that ask for it, streaming chunk by chunk."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from middleware._wsgi import (
    ClosingIterator,
    ExcInfo,
    Headers,
    add_vary,
    close_iterable,
    encoding_quality,
    get_header,
    remove_header,
    set_header,
)
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

#: Types worth compressing; everything else (images, video, archives, fonts) already is.
DEFAULT_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/ld+json",
    "application/manifest+json",
    "application/wasm",
    "image/svg+xml",
    "+json",
    "+xml",
)


class CompressMiddleware:
    """gzip the response when Accept-Encoding allows it (q-values honoured, ``q=0`` refuses).

    Skipped for HEAD, 1xx/204/304, 206, responses that already have a Content-Encoding,
    ``Cache-Control: no-transform``, types not in ``types`` and bodies below ``min_size``
    (known from Content-Length, or from a list body; an iterator's size is unknown, so it is
    compressed unless empty). Each chunk the app yields is compressed and flushed at once, so
    streaming responses keep streaming; Content-Length is removed and a strong ETag weakened.
    ``Vary: Accept-Encoding`` goes on every response whose 200 would be compressed, the 304s
    and 206s that are not included (see :meth:`varies`).

    Reads REQUEST_METHOD and HTTP_ACCEPT_ENCODING. Writes nothing to the environ.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        min_size: int = 500,
        level: int = 6,
        types: Iterable[str] = DEFAULT_TYPES,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
            raise ValueError(f"min_size must be a non-negative int, got {min_size!r}")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
            raise ValueError(f"level must be an int from 1 to 9, got {level!r}")
        if isinstance(types, str):
            raise TypeError("types must be a list of media types, not one string")
        self.app = app
        self.min_size = min_size
        self.level = level
        self.types = tuple(t.lower() for t in types)

    def compressible(self, content_type: Optional[str]) -> bool:
        """True for a media type in ``types`` (prefixes ending in '/', suffixes like '+json')."""
        if not content_type:
            return False
        media = content_type.split(";", 1)[0].strip().lower()
        for pattern in self.types:
            if pattern.endswith("/") and media.startswith(pattern):
                return True
            if pattern.startswith("+") and media.endswith(pattern):
                return True
            if media == pattern:
                return True
        return False

    def varies(self, code: str, headers: Headers) -> bool:
        """Whether this response's representation depends on Accept-Encoding (so ``Vary``).

        True when a 200 with these headers would be gzipped for a client that asks. A 304 or
        206 is not compressed itself, but must carry the ``Vary`` its 200 carries (RFC 9110
        §15.4.5, §15.3.7): a 206 is judged by its Content-Type, a 304 (which has none) is
        assumed to vary, the safe side: an extra Vary costs cache hits, a missing one can hand
        gzip to a client that cannot read it.
        """
        if code.startswith(("1", "204")):
            return False
        if get_header(headers, "Content-Encoding") is not None:
            return False  # the app's own encoding: its Vary is its business
        if "no-transform" in (get_header(headers, "Cache-Control") or "").lower():
            return False
        content_type = get_header(headers, "Content-Type")
        if code == "304" and content_type is None:
            return True
        return self.compressible(content_type)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        wants_gzip = (
            environ.get("REQUEST_METHOD") != "HEAD"
            and encoding_quality(environ.get("HTTP_ACCEPT_ENCODING"), "gzip") > 0
        )
        state: dict[str, Any] = {"compressor": None, "pending": None}

        def commit(response: tuple[str, Headers, ExcInfo], compress: bool) -> Any:
            """Call the server's start_response, with gzip headers when ``compress``."""
            status, headers, exc_info = response
            state["pending"] = None
            if compress:
                compressor = zlib.compressobj(self.level, zlib.DEFLATED, 31)
                state["compressor"] = compressor
                headers = set_header(remove_header(headers, "Content-Length"),
                                     "Content-Encoding", "gzip")
                etag = get_header(headers, "ETag")
                if etag and not etag.startswith("W/"):
                    headers = set_header(headers, "ETag", "W/" + etag)
            else:
                state["compressor"] = None
            if exc_info is not None:
                write = start_response(status, headers, exc_info)
            else:
                write = start_response(status, headers)
            if compress:
                compressor = state["compressor"]
                state["write"] = lambda data: write(_squeeze(compressor, data))
            else:
                state["write"] = write
            return state["write"]

        def edit(status: str, headers: Headers, exc_info: ExcInfo = None) -> Any:
            code = status[:3]
            varies = self.varies(code, headers)
            if varies:
                headers = add_vary(headers, "Accept-Encoding")
            eligible = varies and code not in ("304", "206")
            length = get_header(headers, "Content-Length")
            if not (eligible and wants_gzip):
                return commit((status, headers, exc_info), compress=False)
            if length is not None:
                small = length.isascii() and length.isdigit() and int(length) < self.min_size
                return commit((status, headers, exc_info), compress=not small)
            # Size unknown: decide once the body is seen (a list's size is known at once; an
            # iterator's first chunk commits to compressing, so streams are not held back).
            state["pending"] = (status, headers, exc_info)
            state["commit"] = commit

            def deferred_write(data: bytes) -> None:
                pending = state["pending"]
                if pending is not None:
                    commit(pending, compress=True)
                write = state.get("write")
                if write is None:
                    raise RuntimeError("write() called before start_response()")
                write(data)

            return deferred_write

        result = self.app(environ, edit)
        pending = state["pending"]
        if pending is not None and isinstance(result, (list, tuple)):
            size = sum(len(chunk) for chunk in result)
            commit(pending, compress=size >= self.min_size)
        return ClosingIterator(_compress_stream(result, state), [lambda: close_iterable(result)])


def _squeeze(compressor: Any, data: bytes) -> bytes:
    """Compress ``data`` and flush so the client can decode everything sent so far."""
    if not data:
        return b""
    return bytes(compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))


def _compress_stream(result: Iterable[bytes], state: dict[str, Any]) -> Iterator[bytes]:
    for chunk in result:
        pending = state["pending"]
        if pending is not None and chunk:
            state["commit"](pending, compress=True)
        compressor = state["compressor"]
        if compressor is None:
            yield chunk
        elif chunk:
            yield _squeeze(compressor, chunk)
    pending = state["pending"]
    if pending is not None:  # an empty body: nothing to compress
        state["commit"](pending, compress=False)
    compressor = state["compressor"]
    if compressor is not None:
        yield bytes(compressor.flush(zlib.Z_FINISH))
