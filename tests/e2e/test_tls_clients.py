"""Real clients over TLS against a trustme certificate with subjectAltName, served with the
production context (``make_ssl_context``): curl, requests and headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.conftest import require_module, require_program
from tests.support import apps
from tests.support.browser import CHROMIUM_FLAGS, TIMEOUT_MS
from wsgikit.config import ServerConfig
from wsgikit.server.tls import make_ssl_context

pytestmark = [pytest.mark.e2e, pytest.mark.server]


@pytest.fixture
def tls_site(tmp_path: Path, live_server: Callable[..., Any]) -> dict[str, Any]:
    trustme = require_module("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    for blob in leaf.cert_chain_pems:
        blob.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    context = make_ssl_context(ServerConfig(certfile=str(cert), keyfile=str(key)))
    srv = live_server(apps.environ_json, ssl_context=context)
    return {"server": srv, "ca": str(ca_file), "cert": str(cert), "port": srv.port}


def test_curl_verifies_the_certificate_and_reuses_the_connection(tls_site: dict[str, Any]):
    curl = require_program("curl")
    port = tls_site["port"]
    url = f"https://localhost:{port}/"
    result = subprocess.run(
        [curl, "-sv", "--cacert", tls_site["ca"], "--resolve", f"localhost:{port}:127.0.0.1",
         url, url, "--max-time", "10"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.replace("}{", "}\n{").split("\n"))
    assert first["HTTPS"] == "on" and first["wsgi.url_scheme"] == "https"
    assert first["REMOTE_PORT"] == second["REMOTE_PORT"]  # one connection, two requests
    assert "Re-using existing connection" in result.stderr
    assert "ALPN: server accepted http/1.1" in result.stderr or (
        "ALPN, server accepted to use http/1.1" in result.stderr)
    assert "SSL certificate verify ok" in result.stderr
    # and curl without the CA refuses the certificate
    untrusted = subprocess.run([curl, "-s", f"https://127.0.0.1:{port}/", "--max-time", "10"],
                               capture_output=True, text=True, timeout=30)
    assert untrusted.returncode == 60  # CURLE_PEER_FAILED_VERIFICATION


def test_requests_session_keeps_the_tls_connection(tls_site: dict[str, Any]):
    requests = require_module("requests")
    url = f"https://127.0.0.1:{tls_site['port']}/x"
    with requests.Session() as session:  # verify= per request: REQUESTS_CA_BUNDLE would win
        docs = [session.get(url, verify=tls_site["ca"], timeout=10).json() for _ in range(3)]
    assert {doc["REMOTE_PORT"] for doc in docs} == {docs[0]["REMOTE_PORT"]}
    assert all(doc["SSL_PROTOCOL"] == "TLSv1.3" for doc in docs)
    assert docs[0]["SSL_CLIENT_VERIFY"] == "NONE"


def _spki_sha256(cert_path: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture
def pinned_browser(tmp_path: Path, tls_site: dict[str, Any]) -> Iterator[Any]:
    """Chromium trusting exactly this certificate's key (SPKI pinning), nothing else."""
    executable = require_program("chromium")
    require_module("playwright")
    from playwright.sync_api import sync_playwright

    pin = "--ignore-certificate-errors-spki-list=" + _spki_sha256(tls_site["cert"])
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True,
            args=[*CHROMIUM_FLAGS, pin], timeout=TIMEOUT_MS,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def test_chromium_loads_the_page_over_tls(pinned_browser: Any, tls_site: dict[str, Any]):
    page = pinned_browser.new_page()
    response = page.goto(f"https://localhost:{tls_site['port']}/page")
    assert response is not None and response.status == 200
    doc = json.loads(page.inner_text("body"))
    assert doc["HTTPS"] == "on" and doc["PATH_INFO"] == "/page"
    assert doc["SSL_PROTOCOL"] == "TLSv1.3"
    protocol = page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
    assert protocol == "http/1.1"  # ALPN
    security = response.security_details()
    assert security is not None and security["protocol"] == "TLS 1.3"
