"""CompressMiddleware: negotiation, skips, streaming, headers."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Optional

import pytest
import webtest

from middleware.compress import CompressMiddleware
from wsgikit.validate import validator

TEXT = b"hello compressible world " * 100


def make_app(body: bytes = TEXT, status: str = "200 OK", content_type: str = "text/plain",
             length: bool = True, extra: Optional[list[tuple[str, str]]] = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        no_body = status[:3] in ("204", "304")
        headers = [*([] if no_body else [("Content-Type", content_type)]), *(extra or [])]
        if length and not no_body:
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body] if status[:3] not in ("204", "304") else []
    return app


class Wire:
    """What the server receives (WebTest would transparently gunzip the body)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []

    def header(self, name: str) -> Optional[str]:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def record(status: str, headers: Any, exc_info: Any = None) -> Any:
            self.status, self.headers = status, list(headers)
            return start_response(status, headers)

        self.chunks = list(self.app(environ, record))
        return self.chunks


def run(app: Any, method: str = "GET", accept: Optional[str] = "gzip", status: Any = None,
        **options: Any
        ) -> tuple[Wire, Any]:
    wire = Wire(validator(CompressMiddleware(app, **options)))
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    res = webtest.TestApp(wire).request("/", method=method, headers=headers, status=status)
    return wire, res


def test_gzip_when_accepted() -> None:
    wire, res = run(make_app())
    assert wire.header("Content-Encoding") == "gzip"
    assert wire.header("Vary") == "Accept-Encoding"
    assert wire.header("Content-Length") is None
    assert gzip.decompress(b"".join(wire.chunks)) == TEXT
    assert len(b"".join(wire.chunks)) < len(TEXT)
    assert res.body == TEXT


@pytest.mark.parametrize(
    ("accept", "compressed"),
    [("gzip", True), ("GZIP;q=0.5", True), ("*", True), ("br, gzip;q=0.1", True),
     ("gzip;q=0", False), ("identity", False), ("br", False), ("*;q=0", False), (None, False),
     ("deflate, *;q=0", False)],
)
def test_accept_encoding_q_values(accept: Optional[str], compressed: bool) -> None:
    wire, _ = run(make_app(), accept=accept)
    assert (wire.header("Content-Encoding") == "gzip") is compressed
    assert wire.header("Vary") == "Accept-Encoding"


@pytest.mark.parametrize(
    "app",
    [make_app(body=b"tiny"), make_app(content_type="image/png"),
     make_app(body=gzip.compress(TEXT), extra=[("Content-Encoding", "gzip")]),
     make_app(status="204 No Content", body=b""),
     make_app(status="304 Not Modified", body=b""),
     make_app(extra=[("Cache-Control", "no-transform")]),
     make_app(status="206 Partial Content", extra=[("Content-Range", "bytes 0-2499/9999")])],
    ids=["small", "png", "already-encoded", "204", "304", "no-transform", "206"],
)
def test_skipped(app: Any) -> None:
    wire, _ = run(app)
    body = b"".join(wire.chunks)
    if wire.header("Content-Encoding") == "gzip":  # the app's own encoding, not done twice
        assert gzip.decompress(body) == TEXT
    else:
        assert not body.startswith(b"\x1f\x8b")


def test_head_is_not_compressed() -> None:
    wire, res = run(make_app(), method="HEAD")
    assert wire.header("Content-Encoding") is None
    assert wire.header("Content-Length") == str(len(TEXT))


def test_compressible_types() -> None:
    for content_type in ("application/json", "application/vnd.api+json", "image/svg+xml",
                         "text/html; charset=utf-8"):
        wire, _ = run(make_app(content_type=content_type))
        assert wire.header("Content-Encoding") == "gzip", content_type


def test_strong_etag_weakened() -> None:
    wire, _ = run(make_app(extra=[("ETag", '"abc"')]))
    assert wire.header("ETag") == 'W/"abc"'


def test_streaming_each_chunk_decodable_as_it_arrives() -> None:
    def streaming(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        for i in range(3):
            yield f"data: event {i}\n\n".encode()

    wire = CompressMiddleware(streaming, min_size=0)
    environ = webtest.TestRequest.blank("/", headers={"Accept-Encoding": "gzip"}).environ
    result = wire(environ, lambda status, headers, exc_info=None: None)
    decoder = zlib.decompressobj(31)
    iterator = iter(result)
    for i in range(3):
        # each event is readable by the client before the next is produced
        assert decoder.decompress(next(iterator)) == f"data: event {i}\n\n".encode()
    tail = b"".join(iterator)
    assert decoder.decompress(tail) == b"" and decoder.eof
    result.close()  # type: ignore[attr-defined]


def test_write_callable_is_compressed() -> None:
    def legacy(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(TEXT[:1000])
        return [TEXT[1000:]]

    wire, res = run(legacy)
    assert res.body == TEXT


def test_lazy_start_response_in_generator() -> None:
    def gen(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield TEXT

    wire, res = run(gen)
    assert wire.header("Content-Encoding") == "gzip" and res.body == TEXT


@pytest.mark.parametrize(
    ("options", "error"),
    [({"min_size": -1}, ValueError), ({"level": 0}, ValueError), ({"level": True}, ValueError),
     ({"types": "text/"}, TypeError)],
)
def test_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CompressMiddleware(make_app(), **options)
    with pytest.raises(TypeError):
        CompressMiddleware(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("body", "compressed"), [(b"tiny", False), (TEXT, True)])
def test_list_body_without_content_length_sized_before_deciding(body: bytes, compressed: bool
                                                                 ) -> None:
    wire, res = run(make_app(body=body, length=False))
    assert (wire.header("Content-Encoding") == "gzip") is compressed
    assert res.body == body


def test_empty_generator_without_length_is_not_compressed() -> None:
    def empty(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return
        yield b""  # pragma: no cover

    wire, res = run(empty)
    assert wire.header("Content-Encoding") is None and res.body == b""


def test_write_without_length_commits_to_gzip() -> None:
    def legacy(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"tiny ")
        return [b"tail"]

    wire, res = run(legacy)
    assert wire.header("Content-Encoding") == "gzip" and res.body == b"tiny tail"


def test_error_page_replacing_headers_is_recomputed() -> None:
    def fails_late(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise RuntimeError("late")
        except RuntimeError:
            import sys

            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain"), ("Content-Length", "5")],
                           sys.exc_info())
        yield b"oops\n"

    wire, res = run(fails_late, status=500)
    assert wire.status.startswith("500") and wire.header("Content-Encoding") is None
    assert res.body == b"oops\n"


def test_a_content_length_of_non_ascii_digits_is_not_a_size() -> None:
    # "²".isdigit() is true and int("²") raises: the size check crashed on it.
    app = make_app(length=False, extra=[("Content-Length", "\u00b2")])
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append((status, headers))
        return lambda data: None

    environ = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT_ENCODING": "gzip", "PATH_INFO": "/"}
    body = b"".join(CompressMiddleware(app)(environ, start_response))
    assert seen[0][0] == "200 OK"
    assert gzip.decompress(body) == TEXT  # an unknown size is compressed, like a large one


@pytest.mark.parametrize(
    ("app", "vary"),
    [
        (make_app(status="304 Not Modified", body=b"", extra=[("ETag", '"a"')]), True),
        (make_app(status="206 Partial Content", extra=[("Content-Range", "bytes 0-2499/9999")]),
         True),
        (make_app(status="206 Partial Content", content_type="image/png",
                  extra=[("Content-Range", "bytes 0-9/99")]), False),
        (make_app(body=b"tiny"), True),  # not compressed, but a bigger 200 would be
        (make_app(status="204 No Content", body=b""), False),
        (make_app(content_type="image/png"), False),
        (make_app(extra=[("Cache-Control", "no-transform")]), False),
        (make_app(body=gzip.compress(TEXT), extra=[("Content-Encoding", "gzip")]), False),
    ],
    ids=["304", "206", "206-png", "small", "204", "png", "no-transform", "app-encoded"],
)  # fmt: skip
def test_vary_on_every_response_whose_200_would_be_compressed(app: Any, vary: bool) -> None:
    """RFC 9110 §15.4.5: a 304 carries the Vary its 200 would; a 206 likewise (REDbot's
    MISSING_HDRS_304/206). Neither is compressed itself."""
    for accept in ("gzip", None):
        wire, _ = run(app, accept=accept)
        assert (wire.header("Vary") == "Accept-Encoding") is vary, (accept, wire.headers)
        if wire.status[:3] in ("304", "206"):
            assert wire.header("Content-Encoding") is None


@pytest.mark.parametrize(
    ("cache_control", "compressed"),
    [(["No-Transform"], False),  # directive names are case-insensitive (RFC 9111 §5.2)
     (["max-age=60", "no-transform"], False),  # a second Cache-Control field counts too
     (['private="no-transform"'], True),  # a field name inside private="...", not a directive
     (["max-age=60"], True)],
    ids=["case", "second-field", "quoted-argument", "other"],
)
def test_no_transform_is_parsed_as_cache_control(cache_control: list[str],
                                                 compressed: bool) -> None:
    wire, res = run(make_app(extra=[("Cache-Control", value) for value in cache_control]))
    assert (wire.header("Content-Encoding") == "gzip") is compressed
    assert res.body == TEXT


@pytest.mark.parametrize(
    ("etag", "sent"),
    [('W/"abc"', 'W/"abc"'),  # already weak: left alone
     ("abc", 'W/"abc"'),  # unquoted (malformed): quoted as it is weakened
     ('"a"b"', None)],  # a quote inside: no well-formed weak form, so no validator at all
)
def test_etag_weakening_edge_cases(etag: str, sent: Optional[str]) -> None:
    wire, _ = run(make_app(extra=[("ETag", etag)]))
    assert wire.header("Content-Encoding") == "gzip"
    assert wire.header("ETag") == sent


def test_vary_fields_merged_into_one() -> None:
    wire, _ = run(make_app(extra=[("Vary", "Cookie"), ("vary", "accept-encoding, Origin")]))
    assert [v for k, v in wire.headers if k.lower() == "vary"] == [
        "Cookie, accept-encoding, Origin"]


def test_vary_star_left_alone() -> None:
    wire, _ = run(make_app(extra=[("Vary", "*")]))
    assert [v for k, v in wire.headers if k.lower() == "vary"] == ["*"]


def test_header_injection_from_the_app_is_refused_with_its_name() -> None:
    """Headers are edited through wsgikit.headers.Headers, which checks every field."""
    from wsgikit.headers import HeaderError

    app = make_app(extra=[("X-Note", "a\r\nSet-Cookie: x=1")])
    environ = webtest.TestRequest.blank("/", headers={"Accept-Encoding": "gzip"}).environ
    with pytest.raises(HeaderError, match="X-Note"):
        CompressMiddleware(app)(environ, lambda status, headers, exc_info=None: None)


def test_one_response_object_per_request() -> None:
    """Two interleaved responses keep their own decision and gzip stream."""
    def streaming(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for _ in range(2):
            yield environ["PATH_INFO"].encode() * 100

    middleware = CompressMiddleware(streaming, min_size=0)
    results = []
    for path, accept in (("/a", "gzip"), ("/b", "identity")):
        environ = webtest.TestRequest.blank(path, headers={"Accept-Encoding": accept}).environ
        results.append(iter(middleware(environ, lambda status, headers, exc_info=None: None)))
    a, b = ([next(it)] for it in results)
    a += list(results[0])
    b += list(results[1])
    assert gzip.decompress(b"".join(a)) == b"/a" * 200
    assert b"".join(b) == b"/b" * 200
