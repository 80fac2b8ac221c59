"""The rule table: every broken app/server breaks exactly one rule and is caught, naming it, in
every mode; every valid app passes clean in every mode (no false positives)."""

from __future__ import annotations

import gc
import io
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

from wsgikit.conformance.pep3333 import ERROR, INFO, RULES, WARNING
from wsgikit.util import FileWrapper
from wsgikit.validate import Finding, Validator, WSGIConformanceError, WSGIWarning

TEXT = [("Content-Type", "text/plain")]


def base_environ(**overrides: Any) -> dict[str, Any]:
    """A conformant environ (GET /, no body, input not terminated)."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "example.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.test",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    for key, value in overrides.items():
        key = key.replace("__", ".")
        if value is DELETE:
            env.pop(key, None)
        else:
            env[key] = value
    return env


DELETE = object()


def post(body: bytes, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/octet-stream",
        "wsgi__input": io.BytesIO(body),
    }
    return base_environ(**{**fields, **overrides})


# ------------------------------------------------------------------ servers (drivers)


def serve(app: Callable[..., Any], environ: dict[str, Any], *, close_twice: bool = False,
          iterate_after_close: bool = False, close: bool = True, reraise: bool = True,
          write_callable: bool = True) -> list[bytes]:  # fmt: skip
    """Call ``app`` as a server does (or, with a flag, as a broken server does)."""
    state = {"sent": False}
    out: list[bytes] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        if exc_info is not None and state["sent"] and reraise:
            raise exc_info[1].with_traceback(exc_info[2])
        return out.append if write_callable else None

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                state["sent"] = True
            out.append(chunk)
    finally:
        if close:
            result.close()
            if close_twice:
                result.close()
            if iterate_after_close:
                next(iter(result), None)
    return out


def kwargs_server(app: Callable[..., Any], environ: dict[str, Any]) -> Any:
    return serve(lambda e, s: app(e, start_response=s), environ)


# ------------------------------------------------------------------ broken apps


def app_with(status: str = "200 OK", headers: Any = None, body: Any = (b"ok",)) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        start_response(status, TEXT if headers is None else headers)
        return list(body)

    return app


def hello(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def reads(action: Callable[[Any], Any]) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        action(environ)
        start_response("200 OK", TEXT)
        return [b"ok"]

    return app


class _StrInput:
    def read(self, size: int = -1) -> Any:
        return "abc"

    readline = read

    def readlines(self, hint: int = -1) -> Any:
        return ("a",)

    def __iter__(self) -> Iterator[Any]:
        return iter(())


class _GreedyInput(_StrInput):
    def read(self, size: int = -1) -> Any:
        return b"0123456789"


class _ClosingFailure:
    def __iter__(self) -> Iterator[bytes]:
        return iter([b"ok"])

    def close(self) -> None:
        raise ValueError("close failed")


def _start_twice(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", TEXT)
    start_response("200 OK", TEXT)
    return [b"ok"]


def _body_first(environ: Any, start_response: Any) -> Iterator[bytes]:
    yield b"ok"
    start_response("200 OK", TEXT)


def _late_write(environ: Any, start_response: Any) -> Any:
    write = start_response("200 OK", TEXT)

    def body() -> Iterator[bytes]:
        write(b"late")
        yield b""

    return body()


def _error_after_body(environ: Any, start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", TEXT)
    yield b"partial"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        start_response("500 Internal Server Error", TEXT, sys.exc_info())
    yield b""


def _write_str(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", TEXT)("text")
    return []


def _unreturned_wrapper(environ: Any, start_response: Any) -> Any:
    environ["wsgi.file_wrapper"](io.BytesIO(b"file"))
    start_response("200 OK", TEXT)
    return [b"ok"]


def _bad_file(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", TEXT)
    return environ["wsgi.file_wrapper"]("not a file")


@dataclass
class Case:
    rule: str
    app: Callable[..., Any] = hello
    environ: Callable[[], dict[str, Any]] = base_environ
    server: Callable[..., Any] = serve
    server_flags: dict[str, Any] = field(default_factory=dict)
    #: a wsgiref-only check: run under validator()'s rules (legacy=True), absent from the engine
    legacy: bool = False


class _NoTruthValue:
    """Like a numpy array: bool() raises, so it cannot "evaluate true" as PEP 3333 asks."""

    def __bool__(self) -> bool:
        raise ValueError("the truth value is ambiguous")


class _EnvironSubclass(dict):  # type: ignore[type-arg]
    pass


BROKEN: list[Case] = [
    # server side: the environ
    Case("S101", environ=lambda: _EnvironSubclass(base_environ())),
    Case("S102", environ=lambda: base_environ(SERVER_PROTOCOL=DELETE)),
    Case("S103", environ=lambda: base_environ(SERVER_PORT="")),
    Case("S104", environ=lambda: base_environ(HTTP_CONTENT_TYPE="text/plain")),
    Case("S105", environ=lambda: base_environ(HTTP_X_NUMBER=5)),
    Case("S106", environ=lambda: base_environ(PATH_INFO="/\u20ac")),
    Case("S107", environ=lambda: base_environ(QUERY_STRING=DELETE), legacy=True),
    Case("S108", environ=lambda: base_environ(wsgi__version=(1, 1))),
    Case("S109", environ=lambda: base_environ(wsgi__url_scheme="ftp")),
    Case("S110", environ=lambda: base_environ(wsgi__multithread=_NoTruthValue())),
    Case("S111", environ=lambda: base_environ(SCRIPT_NAME="app")),
    Case("S112", environ=lambda: base_environ(SCRIPT_NAME="/")),
    Case("S113", environ=lambda: base_environ(PATH_INFO="x")),
    Case("S113", environ=lambda: base_environ(PATH_INFO="*")),  # '*' only for OPTIONS
    Case("S114", environ=lambda: base_environ(PATH_INFO=DELETE), legacy=True),
    Case("S114", environ=lambda: base_environ(PATH_INFO=""), legacy=True),
    Case("S115", environ=lambda: base_environ(CONTENT_LENGTH="12a")),
    Case("S116", environ=lambda: base_environ(SERVER_PORT="http")),
    Case("S117", environ=lambda: base_environ(SERVER_PROTOCOL="SPDY/3")),
    Case("S118", environ=lambda: base_environ(REQUEST_METHOD="GE T")),
    Case("S119", environ=lambda: base_environ(REQUEST_METHOD="PROPFIND")),
    Case("S120", environ=lambda: base_environ(wsgi__input=object())),
    Case("S121", environ=lambda: base_environ(wsgi__errors=object())),
    Case("S122", environ=lambda: base_environ(wsgi__file_wrapper="nope")),
    Case("S123", environ=lambda: base_environ(wsgi__input_terminated="yes")),
    Case("S124", environ=lambda: base_environ(HTTP_X_A="a\r\nb")),
    Case("S125", environ=lambda: base_environ(SCRIPT_NAME="/app/")),
    Case("S126", environ=lambda: base_environ(SERVER_NAME="")),
    # server side: streams and the server's own calls
    Case(
        "S201",
        reads(lambda e: e["wsgi.input"].read(3)),
        lambda: post(b"abc", wsgi__input=_StrInput()),
    ),
    Case(
        "S202",
        reads(lambda e: e["wsgi.input"].readlines()),
        lambda: post(b"abc", wsgi__input=_StrInput()),
    ),
    Case("S203", server_flags={"write_callable": False}),
    Case("S204", _error_after_body, server_flags={"reraise": False}),
    Case("S205", server_flags={"close_twice": True}),
    Case("S206", server_flags={"iterate_after_close": True}),
    Case("S207", server_flags={"close": False}),
    Case(
        "S208",
        reads(lambda e: e["wsgi.input"].read(3)),
        lambda: post(b"abc", wsgi__input=_GreedyInput()),
    ),
    # application side: calls and start_response
    Case("A301", server=kwargs_server),
    Case("A302", lambda e, s: (s("200 OK", TEXT, exc_info=None), [b"ok"])[1]),
    Case("A303", _start_twice),
    Case("A304", lambda e, s: (s("200 OK", TEXT, "oops"), [b"ok"])[1]),
    Case("A305", app_with(status=b"200 OK")),  # type: ignore[arg-type]
    Case("A306", app_with(status="20X OK")),
    Case("A307", app_with(status="099 Too Low")),
    Case("A308", app_with(status="200OK")),
    Case("A309", app_with(status="200")),
    Case("A310", app_with(status="200 OK ")),
    Case("A311", app_with(headers=tuple(TEXT))),
    Case("A312", app_with(headers=[*TEXT, ["X-A", "b"]])),
    Case("A313", app_with(headers=[*TEXT, (b"X-A", "b")])),
    Case("A314", app_with(headers=[*TEXT, ("X-A", 1)])),
    Case("A315", app_with(headers=[*TEXT, ("Status", "200 OK")])),
    Case("A316", app_with(headers=[*TEXT, ("Bad Name", "b")])),
    Case("A317", app_with(headers=[*TEXT, ("X-Trailing-", "b")])),
    Case("A318", app_with(headers=[*TEXT, ("X-A", "a\r\nSet-Cookie: x=1")])),
    Case("A319", app_with(headers=[*TEXT, ("X-A", "\u20ac")])),
    Case("A320", app_with(headers=[*TEXT, ("X-A", " padded")])),
    Case("A321", app_with(headers=[*TEXT, ("Transfer-Encoding", "chunked")])),
    Case("A322", app_with(status="204 No Content", body=()), legacy=True),  # wsgiref's rule
    Case("A322", app_with(status="304 Not Modified", body=())),
    Case(
        "A322", app_with(status="304 Not Modified", headers=[("Content-Encoding", "gzip")], body=())
    ),
    Case("A323", app_with(headers=[])),
    Case("A324", app_with(headers=[*TEXT, ("Content-Length", "two")])),
    Case("A325", app_with(headers=[*TEXT, ("Content-Length", "2"), ("Content-Length", "3")])),
    Case("A326", app_with(headers=[*TEXT, ("X_Under", "b")])),
    Case("A327", app_with(headers=[*TEXT, ("ETag", "abc")])),
    # application side: the result and the body
    Case("A401", lambda e, s: (s("200 OK", TEXT), None)[1]),
    Case("A402", lambda e, s: (s("200 OK", TEXT), b"ok")[1]),
    Case("A403", lambda e, s: (s("200 OK", TEXT), 42)[1]),
    Case("A404", app_with(body=["text"])),
    Case("A405", _body_first),
    Case("A406", lambda e, s: []),
    Case("A407", _write_str),
    Case("A408", _late_write),
    Case("A410", app_with(headers=[*TEXT, ("Content-Length", "2")], body=[b"abc"])),
    Case("A411", app_with(headers=[*TEXT, ("Content-Length", "9")], body=[b"abc"])),
    Case("A412", app_with(status="204 No Content", headers=[], body=[b"x"])),
    Case("A413", app_with(status="204 No Content", headers=[("Content-Length", "5")], body=())),
    Case("A414", environ=lambda: base_environ(REQUEST_METHOD="HEAD")),
    Case("A415", lambda e, s: (s("200 OK", TEXT), _ClosingFailure())[1]),
    # application side: the streams and file_wrapper
    Case("A501", reads(lambda e: e["wsgi.input"].read()), lambda: post(b"abc"), legacy=True),
    Case("A502", reads(lambda e: e["wsgi.input"].read(1, 2)), lambda: post(b"abc")),
    Case(
        "A503",
        reads(lambda e: (e["wsgi.input"].read(3), e["wsgi.input"].read(3))),
        lambda: post(b"abc"),
    ),
    Case(
        "A504",
        reads(lambda e: e["wsgi.input"].read(5)),
        lambda: base_environ(REQUEST_METHOD="POST"),
    ),
    Case("A505", reads(lambda e: e["wsgi.input"].close())),
    Case("A506", reads(lambda e: e["wsgi.errors"].close())),
    Case("A507", reads(lambda e: e["wsgi.errors"].write(b"bytes"))),
    Case("A508", _bad_file),
    Case("A509", _unreturned_wrapper),
    Case("A510", reads(lambda e: e["wsgi.input"].read(-1)), lambda: post(b"abc"), legacy=True),
]


def _run(case: Case, mode: str) -> tuple[list[Finding], Optional[BaseException]]:
    found: list[Finding] = []
    validated = Validator(case.app, mode=mode, legacy=case.legacy, on_finding=found.append)
    raised: Optional[BaseException] = None
    environ = case.environ()
    try:
        case.server(validated, environ, **case.server_flags)
    except Exception as exc:  # noqa: BLE001 - broken apps may crash the fake server
        raised = exc
    del validated
    gc.collect()
    return found, raised


def test_table_is_big_and_covers_every_rule() -> None:
    assert len(BROKEN) >= 60
    assert {c.rule for c in BROKEN} == set(RULES), "every rule has a broken case, and only those"


@pytest.mark.parametrize("case", BROKEN, ids=[f"{c.rule}-{i}" for i, c in enumerate(BROKEN)])
def test_broken_caught_in_report_mode(case: Case) -> None:
    """Report mode: the rule (and no other non-info rule) is found, nothing is raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found, raised = _run(case, "report")
    ids = {f.rule.id for f in found if f.rule.level != INFO or f.rule.id == case.rule}
    assert ids == {case.rule}, [str(f) for f in found]
    if raised is not None:  # only the app's own failure may escape, never a validator error
        assert not isinstance(raised, WSGIConformanceError)
    finding = next(f for f in found if f.rule.id == case.rule)
    assert finding.rule.section and finding.detail and finding.where
    assert case.rule in str(finding) and finding.rule.section in str(finding)


@pytest.mark.parametrize("case", BROKEN, ids=[f"{c.rule}-{i}" for i, c in enumerate(BROKEN)])
def test_broken_caught_in_warn_mode(case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found, raised = _run(case, "warn")
    assert case.rule in {f.rule.id for f in found}
    assert not isinstance(raised, WSGIConformanceError)
    messages = [str(w.message) for w in caught if issubclass(w.category, WSGIWarning)]
    if case.legacy:  # validator() warns only where wsgiref does and prints its other findings
        messages += capsys.readouterr().err.replace("WSGIWarning: ", "").splitlines()
    if RULES[case.rule].level == INFO:
        assert not any(case.rule in m for m in messages)
    else:
        assert any(m.startswith(case.rule) for m in messages), messages


@pytest.mark.parametrize("case", BROKEN, ids=[f"{c.rule}-{i}" for i, c in enumerate(BROKEN)])
def test_broken_caught_in_raise_mode(case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    rule = RULES[case.rule]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found, raised = _run(case, "raise")
    assert case.rule in {f.rule.id for f in found}
    if rule.level == ERROR and case.rule.startswith("S"):
        # the server's fault: warned, never raised into the app's request (a 500 for nothing)
        assert not isinstance(raised, WSGIConformanceError), raised
        warned = [str(w.message) for w in caught if issubclass(w.category, WSGIWarning)]
        printed = capsys.readouterr().err
        assert any(m.startswith(case.rule) for m in warned) or case.rule in printed
    elif rule.level == ERROR:
        assert isinstance(raised, WSGIConformanceError), raised
        assert isinstance(raised, AssertionError)
        assert raised.finding.rule.id == case.rule
        if case.legacy and raised.finding.legacy is not None:
            return  # validator() raises with wsgiref's own text
        assert str(raised).startswith(f"{case.rule} {rule.name} ({rule.section})")
    else:
        assert not isinstance(raised, WSGIConformanceError)
        warned = [str(w.message) for w in caught if issubclass(w.category, WSGIWarning)]
        assert any(m.startswith(case.rule) for m in warned) == (rule.level == WARNING)


# ------------------------------------------------------------------ valid apps


def v_list(e: Any, s: Any) -> Any:
    s("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def v_generator(e: Any, s: Any) -> Iterator[bytes]:
    s("200 OK", TEXT)
    yield b"a"
    yield b""
    yield b"b"


def v_write_only(e: Any, s: Any) -> Any:
    write = s("200 OK", TEXT)
    write(b"written")
    return []


def v_write_then_iterable(e: Any, s: Any) -> Any:
    write = s("200 OK", [*TEXT, ("Content-Length", "6")])
    write(b"abc")
    return [b"def"]


def v_exc_info_before_body(e: Any, s: Any) -> Any:
    s("200 OK", TEXT)
    try:
        raise ValueError("oops")
    except ValueError:
        s("500 Internal Server Error", TEXT, sys.exc_info())
    return [b"error page"]


def v_empty_body(e: Any, s: Any) -> Any:
    s("200 OK", [*TEXT, ("Content-Length", "0")])
    return []


def v_no_content(e: Any, s: Any) -> Any:
    s("204 No Content", [])
    return []


def v_no_content_typed(e: Any, s: Any) -> Any:
    """Django's and Flask's default 204: a Content-Type is unused, and not forbidden."""
    s("204 No Content", [("Content-Type", "text/html; charset=utf-8")])
    return []


def v_not_modified(e: Any, s: Any) -> Any:
    s("304 Not Modified", [("ETag", '"v1"'), ("Content-Length", "1234")])
    return []


def v_file_wrapper(e: Any, s: Any) -> Any:
    s("200 OK", [*TEXT, ("Content-Length", "4")])
    return e["wsgi.file_wrapper"](io.BytesIO(b"file"), 2)


def v_streamed(e: Any, s: Any) -> Iterator[bytes]:
    s("200 OK", [("Content-Type", "text/event-stream")])
    for i in range(5):
        yield b"data: %d\n\n" % i


def v_readline_size(e: Any, s: Any) -> Any:
    stream = e["wsgi.input"]
    lines = [stream.readline(65536), stream.readline(65536)]
    s("200 OK", TEXT)
    return [b"|".join(lines)]


class _Closable:
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield b"closable"

    def close(self) -> None:
        self.closed = True


def v_close(e: Any, s: Any) -> Any:
    s("200 OK", TEXT)
    return _Closable()


def v_read_to_eof_terminated(e: Any, s: Any) -> Any:
    body = e["wsgi.input"].read()
    s("200 OK", TEXT)
    return [body]


def v_read_content_length(e: Any, s: Any) -> Any:
    body = e["wsgi.input"].read(int(e.get("CONTENT_LENGTH") or 0))
    s("200 OK", TEXT)
    return [body]


def v_iterate_input(e: Any, s: Any) -> Any:
    lines = list(e["wsgi.input"])
    s("200 OK", TEXT)
    return lines


def v_readlines(e: Any, s: Any) -> Any:
    lines = e["wsgi.input"].readlines()
    s("200 OK", TEXT)
    return lines


def v_errors(e: Any, s: Any) -> Any:
    e["wsgi.errors"].write("log line\n")
    e["wsgi.errors"].writelines(["a\n", "b\n"])
    e["wsgi.errors"].flush()
    s("200 OK", TEXT)
    return [b"logged"]


def v_relative_redirect(e: Any, s: Any) -> Any:
    s("302 Found", [("Location", "../elsewhere?x=1"), ("Content-Length", "0")])
    return []


def v_header_values(e: Any, s: Any) -> Any:
    s("200 OK", [*TEXT, ("X-Tab", "a\tb"), ("X-Latin", "caf\xe9"), ("ETag", 'W/"weak"'),
                 ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])  # fmt: skip
    return [b"ok"]


def v_exc_info_none_positional(e: Any, s: Any) -> Any:
    s("599 Custom Reason", TEXT, None)
    return [b"ok"]


def v_head_with_length(e: Any, s: Any) -> Any:
    s("200 OK", [*TEXT, ("Content-Length", "100")])
    return [] if e["REQUEST_METHOD"] == "HEAD" else [b"x" * 100]


def v_script_name(e: Any, s: Any) -> Any:
    s("200 OK", TEXT)
    return [(e["SCRIPT_NAME"] + e["PATH_INFO"]).encode("latin-1")]


def v_read_zero(e: Any, s: Any) -> Any:
    e["wsgi.input"].read(0)  # a zero-size read never blocks and reads nothing
    s("200 OK", TEXT)
    return [b"ok"]


def v_read_no_size(e: Any, s: Any) -> Any:
    body = e[
        "wsgi.input"
    ].read()  # PEP 3333: "A server should allow read() ... without an argument"
    s("200 OK", TEXT)
    return [body]


def v_read_minus_one(e: Any, s: Any) -> Any:
    body = e["wsgi.input"].read(-1)
    s("200 OK", TEXT)
    return [body]


def v_send_file_bodiless(e: Any, s: Any) -> Any:
    """Like Flask's and Pyramid's send_file: the wrapper is made before HEAD/304 is known."""
    wrapped = e["wsgi.file_wrapper"](io.BytesIO(b"file"))
    if e.get("HTTP_IF_NONE_MATCH") == '"v1"':
        s("304 Not Modified", [("ETag", '"v1"')])
    else:
        s("200 OK", [*TEXT, ("Content-Length", "4"), ("ETag", '"v1"')])
        if e["REQUEST_METHOD"] != "HEAD":
            return wrapped
    wrapped.close()
    return []


def v_send_file_range(e: Any, s: Any) -> Any:
    """Like werkzeug's and WebOb's range support: a 206 sends part of a file_wrapper."""
    wrapped = e["wsgi.file_wrapper"](io.BytesIO(b"0123456789"))
    s("206 Partial Content", [*TEXT, ("Content-Range", "bytes 0-3/10"), ("Content-Length", "4")])

    def part() -> Iterator[bytes]:
        try:
            yield next(iter(wrapped))[:4]
        finally:
            wrapped.close()

    return part()


def chunked_environ() -> dict[str, Any]:
    return base_environ(REQUEST_METHOD="POST", wsgi__input=io.BytesIO(b"chunked body"),
                        wsgi__input_terminated=True)  # fmt: skip


def lines_environ() -> dict[str, Any]:
    return post(b"line one\nline two\n")


VALID: list[tuple[Callable[..., Any], Callable[[], dict[str, Any]]]] = [
    (v_list, base_environ),
    (v_generator, base_environ),
    (v_write_only, base_environ),
    (v_write_then_iterable, base_environ),
    (v_exc_info_before_body, base_environ),
    (v_empty_body, base_environ),
    (v_no_content, base_environ),
    (v_not_modified, base_environ),
    (v_file_wrapper, base_environ),
    (v_streamed, base_environ),
    (v_readline_size, lines_environ),
    (v_close, base_environ),
    (v_read_to_eof_terminated, chunked_environ),
    (v_read_content_length, lines_environ),
    (v_iterate_input, lines_environ),
    (v_readlines, lines_environ),
    (v_errors, base_environ),
    (v_relative_redirect, base_environ),
    (v_header_values, base_environ),
    (v_exc_info_none_positional, base_environ),
    (v_head_with_length, lambda: base_environ(REQUEST_METHOD="HEAD")),
    (v_head_with_length, base_environ),
    (v_script_name, lambda: base_environ(SCRIPT_NAME="/app", PATH_INFO="")),
    (v_list, lambda: base_environ(REQUEST_METHOD="OPTIONS", wsgi__input_terminated=False)),
    (v_list, lambda: base_environ(REQUEST_METHOD="OPTIONS", PATH_INFO="*")),
    (v_read_zero, lambda: base_environ(REQUEST_METHOD="POST")),
    (v_read_no_size, lines_environ),
    (v_read_minus_one, lines_environ),
    (v_list, lambda: base_environ(QUERY_STRING=DELETE)),  # PEP 3333: "may be empty or absent"
    (v_script_name, lambda: base_environ(SCRIPT_NAME="", PATH_INFO="")),  # the app root
    (v_list, lambda: base_environ(SCRIPT_NAME=DELETE, PATH_INFO=DELETE)),
    (v_list, lambda: base_environ(wsgi__multithread=1, wsgi__multiprocess=0, wsgi__run_once=0)),
    (v_send_file_bodiless, lambda: base_environ(REQUEST_METHOD="HEAD")),
    (v_send_file_bodiless, lambda: base_environ(HTTP_IF_NONE_MATCH='"v1"')),
    (v_send_file_bodiless, base_environ),
    (v_send_file_range, lambda: base_environ(HTTP_RANGE="bytes=0-3")),
    (v_no_content_typed, base_environ),
]


@pytest.mark.parametrize("mode", ["raise", "warn", "report"])
@pytest.mark.parametrize(
    ("app", "environ"), VALID, ids=[f"{i}-{a.__name__}" for i, (a, _) in enumerate(VALID)]
)
def test_valid_app_is_clean(
    app: Callable[..., Any], environ: Callable[[], dict[str, Any]], mode: str
) -> None:
    assert len(VALID) >= 20
    found: list[Finding] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body = serve(Validator(app, mode=mode, on_finding=found.append), environ())
        gc.collect()
    assert found == []
    assert isinstance(body, list)


_DOC_ROW = re.compile(
    r"^   \* - ``(?P<id>[SA]\d{3})``\n"
    r"     - ``(?P<name>[a-z0-9-]+)``\n"
    r"     - (?P<level>\w+)\n"
    r"     - (?P<title>.*) \((?P<section>(?:[^()]|\(\))*)\)$",  # sections may hold "()"
    re.MULTILINE,
)


def _documented_rules() -> dict[str, dict[str, str]]:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "validator.rst").read_text("utf-8")
    table = doc[doc.index("The rules\n---------") : doc.index("Where each anchor's checks live")]
    rows = [m.groupdict() for m in _DOC_ROW.finditer(table)]
    assert len(rows) == table.count("   * - ``"), "a row of the rule table does not parse"
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "a rule ID appears twice in the docs table"
    return {row["id"]: row for row in rows}


def test_docs_rule_table_matches_the_code() -> None:
    """docs/validator.rst's table and pep3333.RULES: the same IDs, names, levels, sections."""
    documented = _documented_rules()
    assert set(documented) - set(RULES) == set(), "documented but not in pep3333.RULES"
    assert set(RULES) - set(documented) == set(), "in pep3333.RULES but not documented"
    for rule_id, row in documented.items():
        rule = RULES[rule_id]
        section = rule.section.removeprefix("PEP 3333: ")
        expected = (rule.name, rule.level, section, rule.title)
        assert (row["name"], row["level"], row["section"], row["title"]) == expected, rule_id


def test_docs_table_check_can_fail() -> None:
    """The row parser sees a changed level or section (so the test above can fail)."""
    row = "   * - ``A413``\n     - ``content-length-on-no-body``\n     - warning\n     - x (y)"
    match = _DOC_ROW.search(row)
    assert match is not None and match["level"] == "warning" and match["section"] == "y"


def _testing_defaults(**seed: Any) -> dict[str, Any]:
    from wsgiref.util import setup_testing_defaults

    environ: dict[str, Any] = {k.replace("__", "."): v for k, v in seed.items()}
    setup_testing_defaults(environ)
    return environ


TESTING_DEFAULTS_SEEDS: list[dict[str, Any]] = [
    {},
    {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "0"},
    {"REQUEST_METHOD": "HEAD"},
    {"PATH_INFO": ""},
    {"SCRIPT_NAME": "", "PATH_INFO": ""},
    {"SCRIPT_NAME": "/app"},
    {"HTTPS": "on"},
    {"wsgi__url_scheme": "https"},
    {"QUERY_STRING": "a=1"},
]


@pytest.mark.parametrize("seed", TESTING_DEFAULTS_SEEDS, ids=repr)
@pytest.mark.parametrize("mode", ["raise", "warn", "report"])
def test_setup_testing_defaults_environ_is_clean(seed: dict[str, Any], mode: str) -> None:
    """The standard library's own test environ (0 for the flags, no QUERY_STRING) is valid."""
    from wsgikit.validate import environ_problems

    assert environ_problems(_testing_defaults(**seed)) == []
    found: list[Finding] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        serve(
            Validator(v_read_no_size, mode=mode, on_finding=found.append), _testing_defaults(**seed)
        )
        gc.collect()
    assert found == []


@pytest.mark.parametrize(
    ("rule", "app", "environ"),
    [
        ("S107", v_list, lambda: base_environ(QUERY_STRING=DELETE)),
        ("S114", v_list, lambda: base_environ(SCRIPT_NAME="", PATH_INFO="")),
        ("A501", v_read_no_size, lines_environ),
        ("A510", v_read_minus_one, lines_environ),
        ("A322", v_no_content_typed, base_environ),
    ],
)
def test_wsgiref_only_checks_stay_in_validator(
    rule: str, app: Callable[..., Any], environ: Callable[[], dict[str, Any]]
) -> None:
    """docs/validator.rst's difference table: validator() keeps each, the engine has none."""
    from wsgikit.validate import validator

    engine: list[Finding] = []
    serve(Validator(app, mode="report", on_finding=engine.append), environ())
    legacy: list[Finding] = []
    serve(Validator(app, mode="report", legacy=True, on_finding=legacy.append), environ())
    gc.collect()
    assert engine == []
    assert [f.rule.id for f in legacy] == [rule]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # S107 warns in validator(), as in wsgiref
        with pytest.raises((AssertionError, WSGIWarning)):
            serve(validator(app), environ())


def test_file_wrapper_stand_in_is_a_class() -> None:
    """Servers test isinstance(result, environ["wsgi.file_wrapper"]) after the app returns
    (gunicorn does): the stand-in must be a class, and must answer as the server's would."""
    seen: dict[str, Any] = {}

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [*TEXT, ("Content-Length", "4")])
        seen["made"] = environ["wsgi.file_wrapper"](io.BytesIO(b"file"))
        return seen["made"]

    for checked in (Validator(app, mode="report"), Validator(app, legacy=True)):
        environ = base_environ()
        result = checked(environ, lambda status, headers, exc_info=None: print)
        stand_in = environ["wsgi.file_wrapper"]
        assert isinstance(stand_in, type)
        assert isinstance(result, stand_in) is False  # the validator's own iterator: iterate it
        assert isinstance(seen["made"], stand_in) is True
        assert type(seen["made"]) is FileWrapper  # the server's own object, not the guard's
        assert isinstance(FileWrapper(io.BytesIO()), stand_in) is True
        assert b"".join(result) == b"file"
        result.close()
