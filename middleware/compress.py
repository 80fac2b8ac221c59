"""gzip responses for clients that ask for it, streaming chunk by chunk."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header, parse_options_header, quote_etag, unquote_etag
from werkzeug.wsgi import ClosingIterator

from middleware._wsgi import ExcInfo, HeaderList, add_vary, close_iterable, encoding_quality
from wsgikit.headers import Headers
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
        media = _media_type(content_type)
        for pattern in self.types:
            if pattern.endswith("/") and media.startswith(pattern):
                return True
            if pattern.startswith("+") and media.endswith(pattern):
                return True
            if media == pattern:
                return True
        return False

    def varies(self, code: str, headers: HeaderList) -> bool:
        """Whether this response's representation depends on Accept-Encoding (so ``Vary``).

        True when a 200 with these headers would be gzipped for a client that asks. A 304 or
        206 is not compressed itself, but must carry the ``Vary`` its 200 carries (RFC 9110
        §15.4.5, §15.3.7): a 206 is judged by its Content-Type, a 304 (which has none) is
        assumed to vary, the safe side: an extra Vary costs cache hits, a missing one can hand
        gzip to a client that cannot read it.
        """
        return self._varies(code, Headers(list(headers)))

    def _varies(self, code: str, headers: Headers) -> bool:
        if code.startswith(("1", "204")):
            return False
        if "Content-Encoding" in headers:
            return False  # the app's own encoding: its Vary is its business
        # Lower-cased first: werkzeug matches directive names case-sensitively, RFC 9111 §5.2
        # says they are case-insensitive (so "No-Transform" counts).
        cache_control = ", ".join(headers.get_all("Cache-Control")).lower()
        if cache_control and parse_cache_control_header(
            cache_control, cls=ResponseCacheControl
        ).no_transform:
            return False
        content_type = headers.get("Content-Type")
        if code == "304" and content_type is None:
            return True
        return self.compressible(content_type)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        wants_gzip = (
            environ.get("REQUEST_METHOD") != "HEAD"
            and encoding_quality(environ.get("HTTP_ACCEPT_ENCODING"), "gzip") > 0
        )
        response = _GzipResponse(self, start_response, wants_gzip)
        result = self.app(environ, response.start_response)
        if response.pending is not None and isinstance(result, (list, tuple)):
            response.commit_pending(compress=sum(len(chunk) for chunk in result) >= self.min_size)
        if response.committed and response.compressor is None:
            # decided, and not gzipped: the app's own iterable goes to the server untouched, so
            # a wsgi.file_wrapper still reaches it (sendfile) and each chunk costs nothing here
            return result
        return ClosingIterator(response.body(result), lambda: close_iterable(result))


class _GzipResponse:
    """One response on its way through ``CompressMiddleware``: whether to gzip it, and the gzip.

    The app calls ``start_response``. When the headers settle the question (no gzip wanted or
    allowed, or a Content-Length to compare with ``min_size``) the server's ``start_response``
    is called at once; otherwise the call is held in ``pending`` until the body decides: a
    list's size is known at once, an iterator's first non-empty chunk commits to compressing
    (so streams are not held back), an empty body is sent as it is.
    """

    def __init__(
        self, owner: CompressMiddleware, start_response: StartResponse, wants_gzip: bool
    ) -> None:
        self.owner = owner
        self.server_start_response = start_response
        self.wants_gzip = wants_gzip
        #: The app's start_response call while the decision waits for the body.
        self.pending: Optional[tuple[str, Headers, ExcInfo]] = None
        #: The gzip stream once committed to compressing, else None.
        self.compressor: Optional[zlib._Compress] = None
        #: The server's write() (wrapped to compress when gzipping), once committed.
        self.write: Optional[Callable[[bytes], Any]] = None
        #: The server's start_response has been called (gzip or not is decided).
        self.committed = False

    def start_response(
        self, status: str, headers: HeaderList, exc_info: ExcInfo = None
    ) -> Callable[[bytes], Any]:
        """The app's ``start_response``: add Vary, then decide now or hold the call."""
        code = status[:3]
        fields = Headers(list(headers))
        varies = self.owner._varies(code, fields)
        if varies:
            add_vary(fields, "Accept-Encoding")
        eligible = varies and code not in ("304", "206")
        if not (eligible and self.wants_gzip):
            return self.commit(status, fields, exc_info, compress=False)
        length = fields.get("Content-Length")
        if length is not None:
            small = length.isascii() and length.isdigit() and int(length) < self.owner.min_size
            return self.commit(status, fields, exc_info, compress=not small)
        self.pending = (status, fields, exc_info)
        return self.deferred_write

    def commit(
        self, status: str, headers: Headers, exc_info: ExcInfo, *, compress: bool
    ) -> Callable[[bytes], Any]:
        """Call the server's start_response, with gzip headers when ``compress``."""
        self.pending = None
        self.compressor = None
        self.committed = True
        if compress:
            self.compressor = zlib.compressobj(self.owner.level, zlib.DEFLATED, 31)
            del headers["Content-Length"]
            headers["Content-Encoding"] = "gzip"
            etag = headers.get("ETag")
            if etag:
                _weaken(headers, etag)
        if exc_info is not None:
            write = self.server_start_response(status, headers.items(), exc_info)
        else:
            write = self.server_start_response(status, headers.items())
        compressor = self.compressor
        if compressor is not None:
            self.write = lambda data: write(_squeeze(compressor, data))
        else:
            self.write = write
        return self.write

    def commit_pending(self, *, compress: bool) -> None:
        """Make the held decision, if one is still held."""
        if self.pending is not None:
            status, headers, exc_info = self.pending
            self.commit(status, headers, exc_info, compress=compress)

    def deferred_write(self, data: bytes) -> None:
        """The ``write`` handed out while undecided: writing a body commits to compressing."""
        self.commit_pending(compress=True)
        if self.write is None:
            raise RuntimeError("write() called before start_response()")
        self.write(data)

    def body(self, result: Iterable[bytes]) -> Iterator[bytes]:
        """The app's body, each chunk compressed and flushed once committed to gzip."""
        for chunk in result:
            if chunk:
                self.commit_pending(compress=True)
            if self.compressor is None:
                yield chunk
            elif chunk:
                yield _squeeze(self.compressor, chunk)
        self.commit_pending(compress=False)  # an empty body: nothing to compress
        if self.compressor is not None:
            yield bytes(self.compressor.flush(zlib.Z_FINISH))


@functools.lru_cache(maxsize=256)
def _media_type(content_type: str) -> str:
    """The lower-cased media type of a Content-Type; cached, since an app sends few distinct
    ones and werkzeug's parser is most of this middleware's cost per response."""
    return parse_options_header(content_type)[0].lower()


def _weaken(headers: Headers, etag: str) -> None:
    """Make a strong ETag weak: the gzipped bytes differ from what the app's tag names."""
    tag, weak = unquote_etag(etag)
    if weak or tag is None:
        return
    try:
        headers["ETag"] = quote_etag(tag, weak=True)
    except ValueError:  # a '"' inside the tag: no well-formed weak form, so no validator
        del headers["ETag"]


def _squeeze(compressor: Any, data: bytes) -> bytes:
    """Compress ``data`` and flush so the client can decode everything sent so far."""
    if not data:
        return b""
    return bytes(compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))
