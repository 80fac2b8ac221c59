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
