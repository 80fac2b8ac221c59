"""wsgikit.handlers: wsgiref's gateway classes, with checks always on and no os.environ leaks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from io import BytesIO, StringIO
from typing import Any

import pytest

from wsgikit.handlers import BaseCGIHandler, BaseHandler, SimpleHandler, StartResponseError

MARKER = "WSGIKIT_TEST_SECRET"


def _run(app: Any, **environ: str) -> tuple[bytes, str]:
    env = {"SERVER_PROTOCOL": "HTTP/1.0", "REQUEST_METHOD": "GET", **environ}
    out, err = BytesIO(), StringIO()
    SimpleHandler(BytesIO(), out, err, env).run(app)
    return out.getvalue(), err.getvalue()


def _app(status: str = "200 OK", headers: Any = None, body: Any = b"hi") -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[Any]:
        start_response(status, [("Content-Type", "text/plain")] if headers is None else headers)
        return [body]

    return app


def test_simple_handler_environ_has_no_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MARKER, "s3cret")
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return []

    _run(app, PATH_INFO="/x")
    assert seen["PATH_INFO"] == "/x" and seen["wsgi.version"] == (1, 0)
    assert MARKER not in seen
    assert "PATH" not in seen  # nothing of os.environ at all


def test_base_cgi_handler_reads_os_environ_when_the_request_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MARKER, "set-after-import")  # long after wsgikit.handlers was imported
    h = BaseCGIHandler(BytesIO(), BytesIO(), StringIO(), {"SERVER_PROTOCOL": "HTTP/1.0"})
    h.setup_environ()
    assert h.environ[MARKER] == "set-after-import"


def test_import_does_not_read_os_environ() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        class Tripwire(dict):
            def _trip(self, *a, **k):
                raise SystemExit("os.environ read at import time")
            items = keys = values = __iter__ = __getitem__ = get = copy = _trip
        real = os.environ
        os.environ = Tripwire()
        import wsgikit.handlers, wsgikit.simple_server
        os.environ = real
        print("clean")
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=os.getcwd()
    )
    assert run.stdout.strip() == "clean", run.stderr


def test_cgi_handler_end_to_end() -> None:
    code = (
        "from wsgikit.handlers import CGIHandler\n"
        "def app(e, s):\n"
        "    s('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [(e['PATH_INFO'] + '|' + e['QUERY_STRING'] + '|' + str(e['wsgi.run_once'])"
        ").encode('latin-1')]\n"
        "CGIHandler().run(app)\n"
    )
    env = {**os.environ, "REQUEST_METHOD": "GET", "PATH_INFO": "/p", "QUERY_STRING": "q=1",
           "SERVER_NAME": "h", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.0"}  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert run.stdout == (
        b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n/p|q=1|True"
    ), run.stderr


def test_per_request_state_lives_on_the_instance() -> None:
    h = SimpleHandler(BytesIO(), BytesIO(), StringIO(), {})
    for name in ("status", "result", "headers", "headers_sent", "bytes_sent", "environ"):
        assert name in vars(h), name
    assert vars(BaseHandler())["headers_sent"] is False


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("200", "at least 4 characters"),
        ("2x0 OK", "3-digit code"),
        ("200OK", "space after code"),
        ("200 OK\r\nX-Injected: 1", "forbidden character"),
    ],
)
def test_bad_status_gets_a_500_and_a_logged_reason(status: str, message: str) -> None:
    out, err = _run(_app(status=status))
    assert out.startswith(b"HTTP/1.0 500 Internal Server Error\r\n")
    assert b"X-Injected" not in out
    assert message in err


@pytest.mark.parametrize(
    "headers",
    [
        [("Connection", "close")],
        [("X-A", "v\r\nSet-Cookie: admin=1")],
        [("Bad Name", "v")],
        [("X-A", b"bytes")],
    ],
)
def test_bad_headers_never_reach_the_wire(headers: Any) -> None:
    out, err = _run(_app(headers=headers))
    assert out.startswith(b"HTTP/1.0 500 Internal Server Error\r\n")
    assert b"Set-Cookie" not in out and b"Connection" not in out and b"Bad Name" not in out
    assert "Error" in err


def test_headers_mutated_after_start_response_are_rechecked() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [("Content-Type", "text/plain")]
        start_response("200 OK", headers)
        headers.append(("X-Late", "a\r\nSet-Cookie: admin=1"))
        return [b"body"]

    out, err = _run(app)
    assert b"Set-Cookie" not in out
    assert out.startswith(b"HTTP/1.0 500 Internal Server Error\r\n")
    assert "HeaderError" in err


def test_checks_hold_under_python_O() -> None:
    code = textwrap.dedent(
        """
        from io import BytesIO, StringIO
        from wsgikit.handlers import SimpleHandler
        def app(e, s):
            s("200 OK", [("Transfer-Encoding", "chunked")])
            return [b"x"]
        out = BytesIO()
        SimpleHandler(BytesIO(), out, StringIO(), {"SERVER_PROTOCOL": "HTTP/1.0"}).run(app)
        print(out.getvalue().split(b"\\r\\n")[0].decode())
        """
    )
    run = subprocess.run(
        [sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert run.stdout.strip() == "HTTP/1.0 500 Internal Server Error", run.stderr


def test_write_rejects_str_with_both_error_classes() -> None:
    h = SimpleHandler(BytesIO(), BytesIO(), StringIO(), {"SERVER_PROTOCOL": "HTTP/1.0"})
    h.setup_environ()
    write = h.start_response("200 OK", [])
    with pytest.raises(TypeError, match="bytes"):
        write("text")  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        write("text")  # type: ignore[arg-type]


def test_start_response_twice_without_exc_info_is_an_error() -> None:
    h = SimpleHandler(BytesIO(), BytesIO(), StringIO(), {"SERVER_PROTOCOL": "HTTP/1.0"})
    h.setup_environ()
    h.start_response("200 OK", [])
    with pytest.raises(AssertionError, match="Headers already set"):
        h.start_response("200 OK", [])


def test_exc_info_after_headers_sent_reraises_the_apps_exception() -> None:
    class Boom(Exception):
        pass

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"partial")
        try:
            raise Boom("late")
        except Boom:
            start_response("500 Oops", [], sys.exc_info())
        return []

    out, err = _run(app)
    assert out.endswith(b"partial") and b"500" not in out
    assert "Boom: late" in err


def test_hop_by_hop_error_is_a_value_error_too() -> None:
    h = SimpleHandler(BytesIO(), BytesIO(), StringIO(), {"SERVER_PROTOCOL": "HTTP/1.0"})
    h.setup_environ()
    with pytest.raises(StartResponseError, match="Hop-by-hop"):
        h.start_response("200 OK", [("Keep-Alive", "timeout=5")])
    assert issubclass(StartResponseError, ValueError)
    assert h.headers is None and h.status is None  # nothing recorded for a refused call


def test_read_environ_matches_wsgiref(monkeypatch: pytest.MonkeyPatch) -> None:
    import wsgiref.handlers

    from wsgikit.handlers import read_environ

    monkeypatch.setenv("PATH_INFO", "/caf\xe9")  # re-encoded to latin-1 native strings
    monkeypatch.setenv("HTTP_X_A", "\u20ac")
    monkeypatch.setenv("REDIRECT_QUERY_STRING", "q=\xe9")
    monkeypatch.setenv("NOT_A_REQUEST_VAR", "\xe9")
    ours = read_environ()
    assert ours == wsgiref.handlers.read_environ()
    assert ours["HTTP_X_A"] == "\u20ac".encode(sys.getfilesystemencoding()).decode("latin-1")


def test_iis_cgi_handler_strips_the_duplicated_script_name() -> None:
    code = (
        "from wsgikit.handlers import IISCGIHandler\n"
        "def app(e, s):\n"
        "    s('200 OK', [])\n"
        "    return [(e['SCRIPT_NAME'] + '|' + e['PATH_INFO']).encode('latin-1')]\n"
        "IISCGIHandler().run(app)\n"
    )
    env = {**os.environ, "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/app.py",
           "PATH_INFO": "/app.py/users/1", "SERVER_PROTOCOL": "HTTP/1.0"}  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert run.stdout.endswith(b"\r\n\r\n/app.py|/users/1"), run.stderr
