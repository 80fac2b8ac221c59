"""build_environ: PEP 3333 keys from a parsed head, built without the parser's I/O."""

from __future__ import annotations

import io

import pytest

from wsgikit.http11 import RequestHead, RequestParser
from wsgikit.server.environ import BUILT_KEYS, base_environ, build_environ, header_key


def parse(raw: bytes) -> RequestHead:
    parser = RequestParser()
    parser.feed(raw)
    event = parser.next_event()
    if not isinstance(event, RequestHead):
        raise AssertionError(f"expected a head, got {event!r}")
    return event


BASE = base_environ(server_name="127.0.0.1", server_port="8080")


def environ_for(raw: bytes, **kwargs: object) -> dict:
    return build_environ(parse(raw), BASE, wsgi_input=io.BytesIO(), **kwargs)  # type: ignore[arg-type]


def test_required_keys_and_types():
    env = environ_for(b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n", remote_addr="10.0.0.1",
                      remote_port="5555")
    for key in BUILT_KEYS:
        assert key in env, key
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/x"
    assert env["QUERY_STRING"] == "y=1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == "8080"
    assert env["REMOTE_ADDR"] == "10.0.0.1" and env["REMOTE_PORT"] == "5555"
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.input_terminated"] is True
    assert callable(env["wsgi.file_wrapper"])
    for key, value in env.items():
        if key.isupper():
            assert type(value) is str, key  # native strings only


def test_path_is_percent_decoded_as_latin1_and_raw_target_kept():
    env = environ_for(b"GET /caf%C3%A9/a%2Fb?q=%41 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert env["PATH_INFO"] == "/caf\u00c3\u00a9/a/b"
    assert env["PATH_INFO"].encode("latin-1") == "/café/a/b".encode()
    assert env["QUERY_STRING"] == "q=%41"
    assert env["REQUEST_URI"] == env["RAW_URI"] == "/caf%C3%A9/a%2Fb?q=%41"


def test_headers_become_http_keys_and_repeats_are_joined():
    env = environ_for(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
        b"X-Thing: 1\r\nX-Thing: 2\r\nAccept: a\r\n\r\nabc"
    )
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_THING"] == "1, 2"
    assert env["HTTP_HOST"] == "h"


def test_underscore_header_names_are_dropped():
    env = environ_for(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Auth-User: alice\r\nX_Auth_User: mallory\r\n\r\n"
    )
    assert env["HTTP_X_AUTH_USER"] == "alice"
    assert header_key("x_auth_user") is None
    assert header_key("x-auth-user") == "HTTP_X_AUTH_USER"


def test_chunked_request_has_no_content_length():
    env = environ_for(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert "CONTENT_LENGTH" not in env
    assert env["HTTP_TRANSFER_ENCODING"] == "chunked"


def test_absolute_form_host_wins():
    env = environ_for(b"GET http://real.example/p HTTP/1.1\r\nHost: other\r\n\r\n")
    assert env["HTTP_HOST"] == "real.example"
    assert env["PATH_INFO"] == "/p"


def test_os_environ_never_leaks(monkeypatch):
    monkeypatch.setenv("WSGIKIT_SECRET_FOR_TEST", "s3cret")
    env = environ_for(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert "WSGIKIT_SECRET_FOR_TEST" not in env
    assert "PATH" not in env and "HOME" not in env


def test_each_request_gets_its_own_dict():
    a = environ_for(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
    b = environ_for(b"GET /b HTTP/1.1\r\nHost: h\r\nX-Only-B: 1\r\n\r\n")
    assert a["PATH_INFO"] == "/a" and "HTTP_X_ONLY_B" not in a
    assert b["PATH_INFO"] == "/b" and b["HTTP_X_ONLY_B"] == "1"
    assert "REQUEST_METHOD" not in BASE


@pytest.mark.parametrize("queue_wait", [0.0, 0.25])
def test_queue_wait_is_exposed(queue_wait):
    env = environ_for(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", queue_wait=queue_wait)
    assert env["wsgikit.queue_wait"] == queue_wait


def test_server_builds_every_required_key_and_the_url_keys() -> None:
    """BUILT_KEYS (what the server always sets) is PEP 3333's required keys (the one table the
    validator checks too) plus the three URL keys PEP 3333 lets a server omit."""
    from wsgikit.conformance import pep3333

    assert BUILT_KEYS[: len(pep3333.REQUIRED_KEYS)] == tuple(pep3333.REQUIRED_KEYS)
    assert set(BUILT_KEYS) - set(pep3333.REQUIRED_KEYS) == {"SCRIPT_NAME", "PATH_INFO",
                                                             "QUERY_STRING"}
