"""Every middleware passes close() through and keeps streaming responses streaming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import webtest

from middleware.access_log import AccessLogMiddleware
from middleware.compress import CompressMiddleware
from middleware.cors import CORSMiddleware
from middleware.dispatch import DispatchMiddleware
from middleware.errors import ErrorMiddleware
from middleware.proxy import ProxyHeadersMiddleware
from middleware.request_id import RequestIdMiddleware
from middleware.static import StaticFilesMiddleware
from wsgikit.validate import validator

HERE = str(Path(__file__).parent)

MIDDLEWARE: dict[str, Callable[[Any], Any]] = {
    "proxy": lambda app: ProxyHeadersMiddleware(app, trusted=["127.0.0.1"]),
    "static": lambda app: StaticFilesMiddleware(app, directory=HERE, prefix="/static"),
    "dispatch": lambda app: DispatchMiddleware(mounts={"/app": app}),
    "compress": lambda app: CompressMiddleware(app, min_size=0),
    "errors": lambda app: ErrorMiddleware(app),
    "access_log": lambda app: AccessLogMiddleware(app, format="%s"),
    "request_id": lambda app: RequestIdMiddleware(app),
    "cors": lambda app: CORSMiddleware(app, allow_origins=["https://a.example"]),
}


class StreamingApp:
    """Yields chunks one at a time and records how far it got and whether it was closed."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        app = self

        class Body:
            def __iter__(self) -> Iterator[bytes]:
                for i in range(3):
                    app.produced += 1
                    yield f"chunk {i} ".encode() * 20

            def close(self) -> None:
                app.closed += 1

        return Body()


def call(name: str) -> tuple[StreamingApp, Any]:
    inner = StreamingApp()
    stack = validator(MIDDLEWARE[name](inner))
    environ = webtest.TestRequest.blank(
        "/app/x", headers={"Accept-Encoding": "gzip", "Origin": "https://a.example"},
        environ={"REMOTE_ADDR": "127.0.0.1"}).environ
    return inner, stack(environ, lambda status, headers, exc_info=None: (lambda data: None))


@pytest.mark.parametrize("name", sorted(MIDDLEWARE))
def test_close_reaches_app_after_full_iteration(name: str) -> None:
    inner, result = call(name)
    body = b"".join(result)
    assert body
    assert inner.closed == 0
    result.close()
    assert inner.closed == 1


@pytest.mark.parametrize("name", sorted(MIDDLEWARE))
def test_close_reaches_app_when_abandoned_early(name: str) -> None:
    inner, result = call(name)
    iterator = iter(result)
    next(iterator)
    result.close()
    assert inner.closed == 1


@pytest.mark.parametrize("name", sorted(MIDDLEWARE))
def test_streaming_is_not_buffered(name: str) -> None:
    inner, result = call(name)
    iterator = iter(result)
    first = next(iterator)
    assert first
    assert inner.produced == 1, f"{name} read {inner.produced} chunks before yielding one"
    result.close()


def test_every_middleware_module_is_covered() -> None:
    import middleware

    modules = {p.stem for p in Path(middleware.__file__).parent.glob("*.py")}
    mine = {"proxy", "static", "dispatch", "compress", "errors", "access_log", "request_id",
            "cors"}
    assert mine <= modules and mine == set(MIDDLEWARE)


def test_the_documented_stack_end_to_end(tmp_path: Path) -> None:
    """All eight stacked as docs/middleware.rst shows, the validator around the whole stack."""
    import gzip
    import io

    (tmp_path / "site.css").write_bytes(b"a { color: red }\n" * 100)
    log = io.StringIO()

    def website(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("kaput")
        body = (environ["REMOTE_ADDR"] + " " + environ["wsgikit.request_id"] + "\n").encode() * 50
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    app: Any = DispatchMiddleware(website, mounts={"/api": website})
    app = StaticFilesMiddleware(app, directory=str(tmp_path), prefix="/static")
    app = CompressMiddleware(app)
    app = CORSMiddleware(app, allow_origins=["https://a.example"])
    app = ErrorMiddleware(app)
    app = AccessLogMiddleware(app, stream=log, format='%h %L "%r" %s')
    app = RequestIdMiddleware(app)
    app = ProxyHeadersMiddleware(app, trusted=["10.0.0.0/8"])
    stack = validator(app)

    client = webtest.TestApp(stack, extra_environ={"REMOTE_ADDR": "10.0.0.1"})
    res = client.get("/api/x", headers={"X-Forwarded-For": "198.51.100.4", "X-Request-ID": "r1",
                                        "Origin": "https://a.example"})
    assert res.body.startswith(b"198.51.100.4 r1\n")
    assert res.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert res.headers["X-Request-ID"] == "r1"
    raw = webtest.TestRequest.blank("/static/site.css", headers={"Accept-Encoding": "gzip"},
                                    environ={"REMOTE_ADDR": "10.0.0.1"}).get_response(stack)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw.body) == b"a { color: red }\n" * 100
    err = client.get("/boom", status=500, headers={"Accept": "application/json"})
    assert err.json["request_id"] == err.headers["X-Request-ID"]
    lines = log.getvalue().splitlines()
    assert lines[0] == '198.51.100.4 r1 "GET /api/x HTTP/1.0" 200'
    assert lines[1].endswith('"GET /static/site.css HTTP/1.0" 200')
    assert lines[2] == f'10.0.0.1 {err.json["request_id"]} "GET /boom HTTP/1.0" 500'
