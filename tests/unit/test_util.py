"""wsgikit.util against wsgiref.util: same answers on the same inputs (a differential test)."""

from __future__ import annotations

import io
import wsgiref.util
from typing import Any

import pytest

from wsgikit import util

PATHS = ["", "/", "/a", "/a/", "//a//b", "/a/./b", "/./", "/.", "/a/../b", "/%20x", "/\xe9/\x80"]
SCRIPTS = ["", "/", "/app", "/app/", "/sp ace"]


def _env(**extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = dict(extra)
    wsgiref.util.setup_testing_defaults(env)
    return env


def test_public_names_match_wsgiref() -> None:
    assert util.__all__ == wsgiref.util.__all__
    for name in wsgiref.util.__all__ + ["is_hop_by_hop"]:
        assert callable(getattr(util, name))


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("path", PATHS)
def test_shift_path_info_matches_wsgiref(script: str, path: str) -> None:
    ours = {"SCRIPT_NAME": script, "PATH_INFO": path}
    theirs = dict(ours)
    for _ in range(4):  # shift until exhausted, comparing every step
        assert util.shift_path_info(ours) == wsgiref.util.shift_path_info(theirs)
        assert ours == theirs


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"HTTPS": "on"},
        {"HTTPS": "1", "SERVER_PORT": "8443"},
        {"SERVER_PORT": "8080", "HTTP_HOST": ""},
        {"HTTP_HOST": "example.com:81", "SCRIPT_NAME": "/sp ace", "PATH_INFO": "/a;b=c,d?e"},
        {"QUERY_STRING": "a=1&b=%20", "PATH_INFO": "/\xe9"},
        {"wsgi.url_scheme": "https", "SERVER_PORT": "443", "HTTP_HOST": ""},
    ],
)
def test_uris_and_scheme_match_wsgiref(extra: dict[str, str]) -> None:
    env = _env(**extra)
    assert util.guess_scheme(env) == wsgiref.util.guess_scheme(env)
    assert util.application_uri(env) == wsgiref.util.application_uri(env)
    for include_query in (True, False):
        assert util.request_uri(env, include_query) == wsgiref.util.request_uri(env, include_query)


def test_setup_testing_defaults_matches_wsgiref() -> None:
    for extra in ({}, {"HTTPS": "yes"}, {"PATH_INFO": "/x"}, {"SERVER_NAME": "h"}):
        ours, theirs = dict(extra), dict(extra)
        util.setup_testing_defaults(ours)
        wsgiref.util.setup_testing_defaults(theirs)
        for stream in ("wsgi.input", "wsgi.errors"):
            assert type(ours.pop(stream)) is type(theirs.pop(stream))
        assert ours == theirs


def test_is_hop_by_hop() -> None:
    for name in ("Connection", "KEEP-ALIVE", "te", "Transfer-Encoding", "upgrade", "Trailers"):
        assert util.is_hop_by_hop(name) and wsgiref.util.is_hop_by_hop(name)
    for name in ("Content-Length", "Trailer", "Via", "X-Connection"):
        assert not util.is_hop_by_hop(name)


def test_file_wrapper_iterates_in_blocks_and_passes_close_through() -> None:
    f = io.BytesIO(b"abcdefg")
    wrapper = util.FileWrapper(f, 3)
    assert iter(wrapper) is wrapper
    assert list(wrapper) == [b"abc", b"def", b"g"]
    wrapper.close()
    assert f.closed

    class NoClose:
        def read(self, size: int = -1) -> bytes:
            return b""

    assert not hasattr(util.FileWrapper(NoClose()), "close")


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("path", PATHS)
def test_request_path_is_request_uri_without_the_application_base(script: str, path: str) -> None:
    """request_path names the same request as request_uri: scheme and host aside."""
    env = _env(SCRIPT_NAME=script, PATH_INFO=path, QUERY_STRING="a=1")
    prefix = "http://" + env["HTTP_HOST"]
    uri = util.request_uri(env)
    assert uri.startswith(prefix)
    # request_uri always has the "/" after the host; request_path keeps SCRIPT_NAME as it is
    assert util.request_path(env).lstrip("/") == uri[len(prefix) :].lstrip("/")
    assert util.request_path(env) == util.request_path(env, include_query=False) + "?a=1"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SCRIPT_NAME": "/nonconformant", "PATH_INFO": "/"}, "/nonconformant/"),
        ({"SCRIPT_NAME": "/session_demo", "PATH_INFO": "/login"}, "/session_demo/login"),
        ({"SCRIPT_NAME": "", "PATH_INFO": "/x", "QUERY_STRING": "q=1&r"}, "/x?q=1&r"),
        ({}, "/"),
        ({"SCRIPT_NAME": "/app"}, "/app"),
        # control characters and latin-1 bytes-in-str cannot forge a second log line
        ({"PATH_INFO": "/a\r\nFAKE: 1\x00\xe9"}, "/a%0D%0AFAKE%3A%201%00%E9"),
        ({"PATH_INFO": "/q", "QUERY_STRING": "x=\r\n"}, "/q?x=%0D%0A"),
    ],
)  # fmt: skip
def test_request_path(environ: dict[str, Any], expected: str) -> None:
    assert util.request_path(environ) == expected
