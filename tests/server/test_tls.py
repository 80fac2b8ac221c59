"""TLS on the core server: handshake in a worker, keep-alive, HTTPS in the environ."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest

from tests.conftest import require_module
from tests.support import apps

pytestmark = pytest.mark.server


@pytest.fixture
def tls_contexts():
    trustme = require_module("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def test_tls_keep_alive_and_environ(live_server, tls_contexts):
    server_ctx, client_ctx = tls_contexts
    srv = live_server(apps.environ_json, ssl_context=server_ctx)
    conn = http.client.HTTPSConnection(srv.host, srv.port, context=client_ctx, timeout=5)
    ports = set()
    for _ in range(2):
        conn.request("GET", "/tls")
        response = conn.getresponse()
        env = json.loads(response.read())
        ports.add(env["REMOTE_PORT"])
        assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
    conn.close()
    assert len(ports) == 1


def test_tls_file_wrapper_streams(live_server, tls_contexts, tmp_path):
    server_ctx, client_ctx = tls_contexts
    path = tmp_path / "f.bin"
    path.write_bytes(b"t" * 200_000)
    srv = live_server(apps.file_app(str(path)), ssl_context=server_ctx)
    conn = http.client.HTTPSConnection(srv.host, srv.port, context=client_ctx, timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"t" * 200_000
    conn.close()


def test_plain_http_to_a_tls_port_is_closed(live_server, tls_contexts):
    server_ctx, _ = tls_contexts
    srv = live_server(apps.hello, ssl_context=server_ctx, header_timeout=2)
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        conn.request("GET", "/")
        conn.getresponse()
    conn.close()
