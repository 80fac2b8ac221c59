"""StaticFilesMiddleware through WebTest with the validator around the whole stack."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import webtest

from middleware.static import StaticFilesMiddleware
from wsgikit.validate import validator

CSS = b"body { color: red; }\n" * 50


def fallback(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = b"from the app: " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "css").mkdir(parents=True)
    (root / "css" / "site.css").write_bytes(CSS)
    (root / "css" / "site.css.gz").write_bytes(gzip.compress(CSS))
    (root / "css" / "site.css.br").write_bytes(b"pretend-brotli")
    (root / "app.3f2a9c1d.js").write_bytes(b"console.log(1)\n")
    (root / "index.html").write_bytes(b"<h1>home</h1>\n")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_bytes(b"<h1>docs</h1>\n")
    (root / "data.bin").write_bytes(bytes(range(256)))
    (root / ".env").write_bytes(b"SECRET=1\n")
    (root / "%2e%2e").write_bytes(b"literal percent name\n")
    (tmp_path / "secret.txt").write_bytes(b"outside the root\n")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "escape_dir").symlink_to(tmp_path)
    (root / "inside_link.txt").symlink_to(root / "index.html")
    return root


def client(root: Path, **options: Any) -> webtest.TestApp:
    options.setdefault("prefix", "/static")
    return webtest.TestApp(validator(StaticFilesMiddleware(fallback, directory=str(root),
                                                            **options)))


# (request path, what must happen): "app" = falls through to the wrapped app.
TRAVERSAL = [
    ("/static/../secret.txt", "app"),
    ("/static/css/../../secret.txt", "app"),
    ("/static/%2e%2e/secret.txt", "literal"),  # the server decoded once; '%2e%2e' is a name
    ("/static/..%2fsecret.txt", "app"),
    ("/static//etc/passwd", "app"),
    ("/static/\\..\\secret.txt", "app"),
    ("/static/css\\site.css", "app"),
    ("/static/index.html\x00.png", "app"),
    ("/static/CON", "app"),
    ("/static/nul.txt", "app"),
    ("/static/com1", "app"),
    ("/static/lpt9.css", "app"),
    ("/static/AUX .txt", "app"),
    ("/static/C:/Windows/win.ini", "app"),
    ("/static/escape.txt", "app"),
    ("/static/escape_dir/secret.txt", "app"),
    ("/static/.env", "app"),
    ("/static/./index.html", "app"),
    ("/static/css//site.css", "app"),
    ("/staticx/index.html", "app"),
    ("/static/inside_link.txt", "file"),
]


@pytest.mark.parametrize(("path", "outcome"), TRAVERSAL)
def test_traversal_table(site: Path, path: str, outcome: str) -> None:
    app = client(site)
    environ_path = path.replace("%2f", "/") if "%2f" in path else path
    if "%2e%2e" in path:
        # a real server decodes %2e%2e once; here we request the literal name it decodes to
        res = app.get("/static/%252e%252e/secret.txt", expect_errors=True)
        assert res.status_int in (200, 404)
        assert b"outside the root" not in res.body
        assert app.get("/static/%252e%252e").body == b"literal percent name\n"
        return
    res = app.get(environ_path.replace("\x00", "%00").replace(" ", "%20").replace("\\", "%5C"))
    assert b"outside the root" not in res.body and b"SECRET" not in res.body
    if outcome == "app":
        assert res.body.startswith(b"from the app: ")
    else:
        assert res.body == b"<h1>home</h1>\n"


def test_symlinks_followed_when_allowed(site: Path) -> None:
    res = client(site, follow_symlinks=True).get("/static/escape.txt")
    assert res.body == b"outside the root\n"


def test_get_headers(site: Path) -> None:
    res = client(site).get("/static/css/site.css")
    assert res.body == CSS
    assert res.headers["Content-Type"] == "text/css; charset=utf-8"
    assert res.headers["Content-Length"] == str(len(CSS))
    assert res.headers["ETag"].startswith('"')
    assert res.headers["Last-Modified"].endswith("GMT")
    assert res.headers["Cache-Control"] == "max-age=60"  # no "public": see _cache_control
    assert res.headers["Vary"] == "Accept-Encoding"
    assert res.headers["Accept-Ranges"] == "bytes"
    assert "Content-Encoding" not in res.headers


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("a.js", "text/javascript; charset=utf-8"), ("a.MJS", "text/javascript; charset=utf-8"),
     ("a.svg", "image/svg+xml; charset=utf-8"), ("a.wasm", "application/wasm"),
     # werkzeug.utils.get_content_type: JSON gets no charset (RFC 8259 §11 defines none; JSON
     # is always UTF-8); XML types get one, as text/* do (static files are taken as UTF-8).
     ("a.woff2", "font/woff2"), ("a.json", "application/json"),
     ("a.xml", "application/xml; charset=utf-8"),
     ("a.png", "image/png"), ("noextension", "application/octet-stream")],
)
def test_pinned_content_types(tmp_path: Path, name: str, content_type: str) -> None:
    (tmp_path / name).write_bytes(b"x")
    assert client(tmp_path).get(f"/static/{name}").headers["Content-Type"] == content_type


def test_content_types(site: Path) -> None:
    app = client(site)
    assert app.get("/static/data.bin").headers["Content-Type"] == "application/octet-stream"
    assert app.get("/static/index.html").headers["Content-Type"] == "text/html; charset=utf-8"


def test_hashed_names_are_immutable(site: Path) -> None:
    res = client(site).get("/static/app.3f2a9c1d.js")
    assert res.headers["Cache-Control"] == "max-age=31536000, immutable"


def test_max_age_zero_means_revalidate(site: Path) -> None:
    assert client(site, max_age=0).get("/static/index.html").headers["Cache-Control"] == "no-cache"


def test_conditional_get(site: Path) -> None:
    app = client(site)
    first = app.get("/static/css/site.css")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    res = app.get("/static/css/site.css", headers={"If-None-Match": etag}, status=304)
    assert res.body == b"" and res.headers["ETag"] == etag
    app.get("/static/css/site.css", headers={"If-None-Match": '"other"'}, status=200)
    app.get("/static/css/site.css", headers={"If-Modified-Since": modified}, status=304)
    app.get("/static/css/site.css",
            headers={"If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"}, status=200)
    os.utime(site / "css" / "site.css", (1_000_000_000, 1_000_000_000))
    app.get("/static/css/site.css", headers={"If-None-Match": etag}, status=200)


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [("bytes=0-9", 206, bytes(range(10)), "bytes 0-9/256"),
     ("bytes=250-", 206, bytes(range(250, 256)), "bytes 250-255/256"),
     ("bytes=-3", 206, bytes([253, 254, 255]), "bytes 253-255/256"),
     ("bytes=10-5000", 206, bytes(range(10, 256)), "bytes 10-255/256"),
     ("bytes=300-400", 416, None, "bytes */256"),
     ("bytes=0-1,5-6", 200, bytes(range(256)), None),
     ("furlongs=0-9", 200, bytes(range(256)), None)],
)
def test_range(site: Path, header: str, status: int, body: bytes | None,
               content_range: str | None) -> None:
    res = client(site).get("/static/data.bin", headers={"Range": header}, status=status)
    if body is not None:
        assert res.body == body
        assert res.headers["Content-Length"] == str(len(body))
    assert res.headers.get("Content-Range") == content_range
    if status == 416:
        assert b"outside the 256 bytes" in res.body


def test_if_range(site: Path) -> None:
    app = client(site)
    etag = app.get("/static/data.bin").headers["ETag"]
    res = app.get("/static/data.bin", headers={"Range": "bytes=0-1", "If-Range": etag}, status=206)
    assert res.body == b"\x00\x01"
    res = app.get("/static/data.bin", headers={"Range": "bytes=0-1", "If-Range": '"stale"'},
                  status=200)
    assert len(res.body) == 256


def test_head(site: Path) -> None:
    app = webtest.TestApp(validator(StaticFilesMiddleware(fallback, directory=str(site))))
    res = app.head("/static/css/site.css")
    assert res.body == b"" and res.headers["Content-Length"] == str(len(CSS))


class Wire:
    """Records the response as the server would see it (WebTest decodes gzip bodies itself)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers: dict[str, str] = {}
        self.body = b""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            self.headers = dict(headers)
            return start_response(status, headers)

        chunks = list(self.app(environ, recording_start_response))
        self.body = b"".join(chunks)
        return chunks


def test_precompressed_siblings(site: Path) -> None:
    wire = Wire(validator(StaticFilesMiddleware(fallback, directory=str(site))))
    webtest.TestApp(wire).get("/static/css/site.css", headers={"Accept-Encoding": "gzip"})
    assert wire.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(wire.body) == CSS
    assert wire.headers["Content-Length"] == str(len(wire.body))
    app = client(site)
    res = app.get("/static/css/site.css", headers={"Accept-Encoding": "gzip"})
    assert res.headers["ETag"].endswith('-gzip"')
    assert res.headers["Content-Type"] == "text/css; charset=utf-8"
    assert res.headers["Vary"] == "Accept-Encoding"
    assert res.body == CSS  # WebTest decoded it
    # WebTest cannot decode br, so ask through its request object without decoding.
    req = webtest.TestRequest.blank("/static/css/site.css", headers={"Accept-Encoding": "gzip, br"})
    raw = req.get_response(validator(StaticFilesMiddleware(fallback, directory=str(site))))
    assert raw.headers["Content-Encoding"] == "br" and raw.body == b"pretend-brotli"
    assert raw.headers["ETag"] != res.headers["ETag"]
    res = app.get("/static/css/site.css", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
    assert "Content-Encoding" not in res.headers and res.body == CSS
    res = client(site, precompressed=False).get("/static/css/site.css",
                                                 headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in res.headers


def test_index_files(site: Path) -> None:
    app = client(site)
    assert app.get("/static/").body == b"<h1>home</h1>\n"
    assert app.get("/static/docs/").body == b"<h1>docs</h1>\n"
    res = app.get("/static/docs?x=1", status=301)
    assert res.headers["Location"].endswith("/static/docs/?x=1")
    res = app.get("/static", status=301, extra_environ={"SCRIPT_NAME": "/my site"})
    assert res.headers["Location"].endswith("/my%20site/static/")
    assert app.get("/static/css").body.startswith(b"from the app")  # no index.html there
    assert client(site, index=None).get("/static/").body.startswith(b"from the app")


def test_other_methods(site: Path) -> None:
    app = client(site)
    res = app.post("/static/index.html", status=405)
    assert res.headers["Allow"] == "GET, HEAD" and b"POST" in res.body
    assert app.post("/static/missing.txt").body.startswith(b"from the app")


def test_no_app_gives_404(site: Path) -> None:
    app = webtest.TestApp(validator(StaticFilesMiddleware(directory=str(site))))
    assert b"Not Found" in app.get("/static/missing", status=404).body


def test_no_prefix_serves_from_root(site: Path) -> None:
    assert client(site, prefix="").get("/index.html").body == b"<h1>home</h1>\n"


def test_file_wrapper_is_used(site: Path) -> None:
    used: list[Any] = []

    class Wrapper:
        def __init__(self, filelike: Any, blksize: int = 8192) -> None:
            used.append(filelike)
            self.filelike = filelike

        def __iter__(self) -> Any:
            return iter(lambda: self.filelike.read(8192), b"")

        def close(self) -> None:
            self.filelike.close()

    app = webtest.TestApp(StaticFilesMiddleware(fallback, directory=str(site)),
                          extra_environ={"wsgi.file_wrapper": Wrapper})
    assert app.get("/static/index.html").body == b"<h1>home</h1>\n"
    assert len(used) == 1 and used[0].closed


def test_package_data() -> None:
    app = webtest.TestApp(validator(StaticFilesMiddleware(
        fallback, package="middleware", package_path="", prefix="/pkg")))
    assert app.get("/pkg/py.typed").status_int == 200


@pytest.mark.parametrize(
    ("options", "error"),
    [({}, ValueError), ({"directory": "/nonexistent-dir"}, ValueError),
     ({"directory": ".", "package": "middleware"}, ValueError),
     ({"directory": ".", "prefix": "static"}, ValueError),
     ({"directory": ".", "max_age": -1}, ValueError),
     ({"directory": 42}, TypeError),
     ({"package": "no_such_package_xyz"}, ValueError)],
)
def test_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        StaticFilesMiddleware(fallback, **options)


def test_app_must_be_callable(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        StaticFilesMiddleware("not an app", directory=str(tmp_path))  # type: ignore[arg-type]


def test_range_through_a_sendfile_style_wrapper(site: Path) -> None:
    """A server that sends from ``fileno()`` at ``tell()`` for Content-Length bytes (wsgikit,
    gunicorn) gets exactly the range without reading through Python."""
    sent: list[bytes] = []

    class SendfileWrapper:
        def __init__(self, filelike: Any, blksize: int = 8192) -> None:
            self.filelike = filelike

        def __iter__(self) -> Any:
            return iter(())

        def close(self) -> None:
            self.filelike.close()

    def server(environ: dict[str, Any]) -> tuple[str, bytes]:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            captured.update(status=status, headers=dict(headers))
            return lambda data: None

        mw = StaticFilesMiddleware(fallback, directory=str(site))
        result = mw(environ, start_response)
        assert isinstance(result, SendfileWrapper)
        length = int(captured["headers"]["Content-Length"])
        fd, offset = result.filelike.fileno(), result.filelike.tell()
        sent.append(os.pread(fd, length, offset))
        result.close()
        return captured["status"], sent[-1]

    environ = webtest.TestRequest.blank(
        "/static/data.bin", headers={"Range": "bytes=100-109"},
        environ={"wsgi.file_wrapper": SendfileWrapper}).environ
    assert server(environ) == ("206 Partial Content", bytes(range(100, 110)))


def test_if_range_dates_and_weak_tags(site: Path) -> None:
    """If-Range through werkzeug's parse_if_range_header: every HTTP-date form (RFC 9110
    §5.6.7 asks recipients to accept all three), a strong comparison for entity-tags."""
    from email.utils import parsedate_to_datetime

    app = client(site)
    first = app.get("/static/data.bin")
    etag, modified = first.headers["ETag"], parsedate_to_datetime(first.headers["Last-Modified"])
    rfc850 = modified.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    asctime = modified.strftime("%a %b %e %H:%M:%S %Y")
    for date in (first.headers["Last-Modified"], rfc850, asctime):
        res = app.get("/static/data.bin", headers={"Range": "bytes=0-1", "If-Range": date},
                      status=206)
        assert res.body == b"\x00\x01", date
    older = "Sun, 06 Nov 1994 08:49:37 GMT"
    for if_range in ("W/" + etag, older, etag.strip('"')):  # weak, stale, unquoted
        res = app.get("/static/data.bin", headers={"Range": "bytes=0-1", "If-Range": if_range},
                      status=200)
        assert len(res.body) == 256, if_range


def test_without_a_server_file_wrapper(site: Path) -> None:
    """WebTest has no wsgi.file_wrapper: werkzeug's wrap_file falls back to its own."""
    app = StaticFilesMiddleware(fallback, directory=str(site))
    environ = webtest.TestRequest.blank("/static/data.bin", headers={"Range": "bytes=2-4"}).environ
    environ.pop("wsgi.file_wrapper", None)
    result = app(environ, lambda status, headers, exc_info=None: None)
    try:
        assert b"".join(result) == b"\x02\x03\x04"
    finally:
        result.close()
