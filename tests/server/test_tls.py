"""TLS on the core server: handshakes off the worker pool, keep-alive, HTTPS in the environ,
Mozilla profiles, ALPN, session resumption, plain HTTP on the TLS port."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import require_module
from tests.support import apps
from tests.support.rawhttp import RawClient
from wsgikit.config import ServerConfig
from wsgikit.server.tls import PLAIN_HTTP_MESSAGE, make_ssl_context

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


def test_plain_http_to_the_tls_port_gets_a_plain_400(live_server, tls_contexts):
    server_ctx, _ = tls_contexts
    srv = live_server(apps.hello, ssl_context=server_ctx)
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.status == 400
    assert response.getheader("Connection") == "close"
    assert response.read().decode().strip() == PLAIN_HTTP_MESSAGE
    conn.close()
    assert srv.server.stats()["plain_http_on_tls"] == 1
    assert srv.server.stats()["client_malformed"] == 1


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    """A throwaway CA and a certificate for 127.0.0.1/localhost, as PEM files."""
    trustme = require_module("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    for blob in leaf.cert_chain_pems:
        blob.write_to_path(str(files["cert"]), append=True)
    return {name: str(path) for name, path in files.items()}


def _client_hello(server_name: str = "localhost") -> bytes:
    """The bytes of a real ClientHello (what a trickling client sends a byte at a time)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_silent_and_trickling_handshakes_hold_no_worker(live_server, tls_files):
    """100 clients stuck in their handshakes, 8 workers: a real HTTPS request is still answered
    at once, and the handshake timeout closes the stuck ones (each was a worker before)."""
    config = ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"])
    srv = live_server(apps.hello, ssl_context=make_ssl_context(config), threads=8,
                      header_timeout=30, handshake_timeout=2.0)
    hello = _client_hello()
    silent = [RawClient(srv.host, srv.port) for _ in range(50)]
    trickling = [RawClient(srv.host, srv.port) for _ in range(50)]
    stop = threading.Event()

    def trickle() -> None:  # one byte of the ClientHello per socket every 50 ms, at most 5 s
        deadline = time.monotonic() + 5
        for i in range(len(hello)):
            if stop.is_set() or time.monotonic() > deadline:
                return
            for client in trickling:
                try:
                    client.sock.send(hello[i:i + 1])
                except OSError:
                    pass
            time.sleep(0.05)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(0.3)  # every stuck client accepted and (partly) sent
        client_ctx = ssl.create_default_context(cafile=tls_files["ca"])
        started = time.monotonic()
        conn = http.client.HTTPSConnection(srv.host, srv.port, context=client_ctx, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.read() == b"Hello, World!"
        elapsed = time.monotonic() - started
        conn.close()
        # before: the header timeout (here 30 s; 9.7 s with the defaults)
        assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
        # every stuck client was in the handshake thread, or already closed by its timeout
        # (on a busy machine, opening the 100 connections can take most of the 2 s): none of
        # them was answered or holding a worker
        stats = srv.server.stats()
        assert stats["handshaking"] + stats["handshake_timeouts"] >= 90, stats
        assert stats["handshakes"] == 1, stats  # only the real client's
        # the handshake timeout (2 s from the accept) closes every stuck client
        assert all(client.is_closed_by_server(4.0) for client in silent + trickling)
        assert srv.server.stats()["handshake_timeouts"] == 100
        assert srv.server.stats()["client_timeout"] == 100
        assert srv.server.stats()["handshaking"] == 0
    finally:
        stop.set()
        trickler.join(5)
        for client in silent + trickling:
            client.close()


def test_clients_silent_or_trickling_after_the_handshake_hold_no_worker(live_server, tls_files):
    """The handshake done, a worker still sees the connection only once its request begins,
    and a request head trickling in holds none either."""
    config = ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"])
    srv = live_server(apps.hello, ssl_context=make_ssl_context(config), threads=8,
                      header_timeout=30)
    client_ctx = ssl.create_default_context(cafile=tls_files["ca"])
    silent = [RawClient(srv.host, srv.port, context=client_ctx, server_hostname="localhost")
              for _ in range(20)]
    trickling = [RawClient(srv.host, srv.port, context=client_ctx, server_hostname="localhost")
                 for _ in range(20)]
    try:
        for part in (b"GET / HT", b"TP/1.1\r\nHo"):  # half a head each, a moment apart
            for client in trickling:
                client.send(part)
            time.sleep(0.2)
        started = time.monotonic()
        with RawClient(srv.host, srv.port, context=client_ctx, server_hostname="localhost",
                       timeout=10) as fresh:
            fresh.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert fresh.read_response().body == b"Hello, World!"
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
        deadline = time.monotonic() + 2  # the 40 stuck connections wait parked, not in workers
        while srv.server.stats()["busy_workers"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.server.stats()["busy_workers"] == 0
        assert srv.server.stats()["parked_connections"] == 40
    finally:
        for client in silent + trickling:
            client.close()


def test_failed_handshakes_are_counted_and_logged_at_debug_only(live_server, tls_files, caplog):
    config = ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"])
    srv = live_server(apps.hello, ssl_context=make_ssl_context(config))
    caplog.set_level(logging.DEBUG, logger="wsgikit")
    for _ in range(20):  # a scanner sending garbage
        with RawClient(srv.host, srv.port) as client:
            client.send(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
            assert client.is_closed_by_server(5.0)
    deadline = time.monotonic() + 5
    while srv.server.stats()["handshake_failures"] < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.server.stats()["handshake_failures"] == 20
    assert srv.server.stats()["client_tls"] == 20  # the client-error log counts them too
    records = [r for r in caplog.records if r.name.startswith("wsgikit")]
    assert sum("handshake" in r.getMessage() for r in records) == 20
    assert all(r.levelno == logging.DEBUG for r in records)


def _get(host: str, port: int, context: ssl.SSLContext, session=None):
    """One HTTP/1.0 GET over TLS: (TLS facts, response body)."""
    with RawClient(host, port, context=context, server_hostname="localhost",
                   session=session) as client:
        tls = client.sock
        info = {
            "reused": tls.session_reused, "alpn": tls.selected_alpn_protocol(),
            "version": tls.version(),
        }
        client.send(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = client.read_until_close()
        info["session"] = tls.session  # after the reads: TLS 1.3 sends tickets late
    return info, data.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("version, tickets", [
    (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_2, False),
    (ssl.TLSVersion.TLSv1_3, True),
])
def test_resumed_sessions_are_reused(live_server, tls_files, version, tickets):
    """Resumption by session ticket, and (TLS 1.2 without tickets) by session id."""
    config = ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"])
    srv = live_server(apps.environ_json, ssl_context=make_ssl_context(config))
    client_ctx = ssl.create_default_context(cafile=tls_files["ca"])
    client_ctx.maximum_version = version
    if not tickets:
        client_ctx.options |= ssl.OP_NO_TICKET
    first, body = _get(srv.host, srv.port, client_ctx)
    assert not first["reused"] and json.loads(body)["SSL_SESSION_RESUMED"] == "Initial"
    second, body = _get(srv.host, srv.port, client_ctx, session=first["session"])
    assert second["reused"], "the server did not resume the session"
    assert json.loads(body)["SSL_SESSION_RESUMED"] == "Resumed"


def test_alpn_answers_http11(live_server, tls_files):
    config = ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"])
    srv = live_server(apps.hello, ssl_context=make_ssl_context(config))
    client_ctx = ssl.create_default_context(cafile=tls_files["ca"])
    client_ctx.set_alpn_protocols(["h2", "http/1.1"])
    info, body = _get(srv.host, srv.port, client_ctx)
    assert info["alpn"] == "http/1.1" and body == b"Hello, World!"


def test_modern_profile_refuses_tls12(live_server, tls_files):
    config = ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"],
                          tls_profile="modern")
    srv = live_server(apps.hello, ssl_context=make_ssl_context(config))
    tls12 = ssl.create_default_context(cafile=tls_files["ca"])
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(srv.host, srv.port, tls12)
    info, body = _get(srv.host, srv.port, ssl.create_default_context(cafile=tls_files["ca"]))
    assert info["version"] == "TLSv1.3" and body == b"Hello, World!"


def _peer_names(host: str, port: int, context: ssl.SSLContext, server_name: str) -> list[str]:
    """The DNS names of the certificate the server shows for ``server_name`` (SNI)."""
    with socket.create_connection((host, port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            cert = tls.getpeercert()
    return [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]


def test_sni_chooses_the_certificate_by_server_name(live_server, tmp_path):
    trustme = require_module("trustme")
    ca = trustme.CA()
    paths = []
    for i, names in enumerate([("localhost", "127.0.0.1"), ("api.example",), ("*.wild.example",)]):
        leaf = ca.issue_cert(*names)
        cert, key = tmp_path / f"c{i}.pem", tmp_path / f"k{i}.pem"
        for blob in leaf.cert_chain_pems:
            blob.write_to_path(str(cert), append=True)
        leaf.private_key_pem.write_to_path(str(key))
        paths.append((str(cert), str(key)))
    config = ServerConfig(certfile=[c for c, _ in paths], keyfile=[k for _, k in paths])
    srv = live_server(apps.hello, ssl_context=make_ssl_context(config))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    assert _peer_names(srv.host, srv.port, client, "api.example") == ["api.example"]
    assert _peer_names(srv.host, srv.port, client, "API.Example") == ["api.example"]
    assert _peer_names(srv.host, srv.port, client, "a.wild.example") == ["*.wild.example"]
    assert _peer_names(srv.host, srv.port, client, "localhost") == ["localhost"]
    unknown = ssl.create_default_context()
    ca.configure_trust(unknown)
    unknown.check_hostname = False  # an unknown name gets the first (default) certificate
    assert _peer_names(srv.host, srv.port, unknown, "other.example") == ["localhost"]


def test_client_certificates_reach_the_environ_like_mod_ssl(live_server, tmp_path):
    trustme = require_module("trustme")
    ca = trustme.CA()
    server_leaf = ca.issue_cert("localhost")
    cert, key, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    for blob in server_leaf.cert_chain_pems:
        blob.write_to_path(str(cert), append=True)
    server_leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    config = ServerConfig(certfile=str(cert), keyfile=str(key), ca_certs=str(ca_file),
                          cert_reqs="optional")
    srv = live_server(apps.environ_json, ssl_context=make_ssl_context(config))
    client_leaf = ca.issue_cert("client.example", common_name="alice")
    with_cert = ssl.create_default_context()
    ca.configure_trust(with_cert)
    client_leaf.configure_cert(with_cert)
    _, body = _get(srv.host, srv.port, with_cert)
    env = json.loads(body)
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert "CN=alice" in env["SSL_CLIENT_S_DN"] and env["SSL_CLIENT_S_DN_CN"] == "alice"
    assert ssl.PEM_cert_to_DER_cert(env["SSL_CLIENT_CERT"]) == ssl.PEM_cert_to_DER_cert(
        client_leaf.cert_chain_pems[0].bytes().decode())
    without = ssl.create_default_context()
    ca.configure_trust(without)
    _, body = _get(srv.host, srv.port, without)
    env = json.loads(body)
    assert env["SSL_CLIENT_VERIFY"] == "NONE" and "SSL_CLIENT_CERT" not in env
