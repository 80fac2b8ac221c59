"""``proxy_protocol``: PROXY v1/v2 headers over real sockets, before HTTP and before TLS."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
from typing import Any, Callable

import pytest

from tests.support.rawhttp import RawClient
from tests.unit.test_proxy_protocol import tlv, v2, v2_tcp4
from wsgikit.config import ConfigError, ServerConfig
from wsgikit.server.proxy_protocol import PP2_TYPE_AUTHORITY, PP2_TYPE_SSL

pytestmark = pytest.mark.server

GET = b"GET /who HTTP/1.1\r\nHost: example.com\r\n\r\n"
KEYS = ("REMOTE_ADDR", "REMOTE_PORT", "SERVER_PORT", "SERVER_NAME", "wsgi.url_scheme", "HTTPS")


def who(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    doc = {k: environ.get(k) for k in KEYS}
    header = environ.get("wsgikit.proxy_protocol")
    doc["version"] = header.version if header is not None else None
    body = json.dumps(doc).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def proxied(live_server: Callable[..., Any]) -> Any:
    return live_server(who, proxy_protocol=True, trusted_proxies=("127.0.0.1",),
                       header_timeout=1.5)


def ask(server: Any, preface: bytes, requests: int = 1) -> list[dict[str, Any]]:
    with RawClient(server.host, server.port) as client:
        client.send(preface + GET * requests)
        return [json.loads(client.read_response().body) for _ in range(requests)]


def test_v1_sets_the_client_address_for_every_request_on_the_connection(proxied: Any) -> None:
    docs = ask(proxied, b"PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\r\n", requests=2)
    for doc in docs:  # keep-alive: one header, then any number of requests
        assert doc["REMOTE_ADDR"] == "203.0.113.7" and doc["REMOTE_PORT"] == "40001"
        assert doc["SERVER_PORT"] == "443" and doc["version"] == 1
        assert doc["wsgi.url_scheme"] == "http"


def test_v2_with_tlvs_sets_server_name_and_https(proxied: Any) -> None:
    tlvs = tlv(PP2_TYPE_AUTHORITY, b"shop.example") + tlv(PP2_TYPE_SSL, b"\x01" + b"\x00" * 4)
    (doc,) = ask(proxied, v2_tcp4("192.0.2.9", "192.0.2.1", 5555, 8443, tlvs))
    assert (doc["REMOTE_ADDR"], doc["REMOTE_PORT"]) == ("192.0.2.9", "5555")
    assert (doc["SERVER_NAME"], doc["SERVER_PORT"]) == ("shop.example", "8443")
    assert (doc["wsgi.url_scheme"], doc["HTTPS"]) == ("https", "on")


def test_v6_and_local_and_unknown(proxied: Any) -> None:
    (doc,) = ask(proxied, b"PROXY TCP6 2001:db8::7 2001:db8::1 1 80\r\n")
    assert doc["REMOTE_ADDR"] == "2001:db8::7"
    for preface in (v2(0, 0x00), b"PROXY UNKNOWN\r\n"):  # a balancer's own health check
        (doc,) = ask(proxied, preface)
        assert doc["REMOTE_ADDR"] == "127.0.0.1"


def test_a_header_trickled_byte_by_byte_holds_no_worker(live_server: Callable[..., Any]) -> None:
    server = live_server(who, proxy_protocol=True, trusted_proxies=("127.0.0.1",), threads=1,
                         header_timeout=5)
    header = b"PROXY TCP4 203.0.113.8 198.51.100.1 1234 80\r\n"
    with RawClient(server.host, server.port) as slow:
        slow.send(header[:10])
        (doc,) = ask(server, header.replace(b".8 ", b".9 "))  # the one worker is free
        assert doc["REMOTE_ADDR"] == "203.0.113.9"
        for i in range(10, len(header)):
            slow.send(header[i:i + 1])
            time.sleep(0.005)
        slow.send(GET)
        assert json.loads(slow.read_response().body)["REMOTE_ADDR"] == "203.0.113.8"


@pytest.mark.parametrize("preface", [
    GET,  # no header at all: a client that reached the port directly
    b"PROXY TCP4 203.0.113.7 198.51.100.1 40001\r\n",
    b"PROXY TCP4 nothost 198.51.100.1 1 2\r\n",
    b"PROXY UNKNOWN " + b"x" * 200,
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff",
])
def test_bad_headers_are_closed_without_a_response(proxied: Any, preface: bytes) -> None:
    with RawClient(proxied.host, proxied.port) as client:
        client.send(preface)
        assert client.read_until_close(timeout=3) == b""
    assert proxied.server.stats()["client_malformed"] >= 1


def test_an_incomplete_header_is_closed_at_the_header_timeout(proxied: Any) -> None:
    with RawClient(proxied.host, proxied.port) as client:
        client.send(b"PROXY TCP4 203.0.113.7")
        started = time.monotonic()
        assert client.read_until_close(timeout=5) == b""
        assert 1.0 < time.monotonic() - started < 4.0
    assert proxied.server.stats()["client_timeout"] == 1


def test_untrusted_peers_are_closed_and_logged_once(
    live_server: Callable[..., Any], caplog: pytest.LogCaptureFixture,
) -> None:
    server = live_server(who, proxy_protocol=True, trusted_proxies=("10.0.0.0/8",))
    caplog.set_level(logging.WARNING, logger="wsgikit")
    for _ in range(3):
        with RawClient(server.host, server.port) as client:
            client.send(b"PROXY TCP4 203.0.113.7 198.51.100.1 1 2\r\n" + GET)
            assert client.read_until_close(timeout=3) == b""
    lines = [r for r in caplog.records if "not a --trusted-proxy" in r.getMessage()]
    assert len(lines) == 1
    assert server.server.stats()["client_malformed"] == 3


def test_proxy_protocol_needs_trusted_proxies() -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        ServerConfig(proxy_protocol=True)


def test_the_header_comes_before_the_tls_handshake(
    live_server: Callable[..., Any], tmp_path: Any,
) -> None:
    from tests.conftest import require_module

    trustme = require_module("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    server = live_server(who, proxy_protocol=True, trusted_proxies=("127.0.0.1",),
                         ssl_context=server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        raw.sendall(b"PROXY TCP4 203.0.113.44 198.51.100.1 999 443\r\n")
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(GET)
            data = b""
            while b"}" not in data:
                chunk = tls.recv(4096)
                assert chunk, data
                data += chunk
    doc = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert (doc["REMOTE_ADDR"], doc["wsgi.url_scheme"]) == ("203.0.113.44", "https")
