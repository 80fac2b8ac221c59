"""Certificates that rotate without a restart: SIGHUP (one process and --workers) and the file
watch (--tls-reload-interval), under load, with a bad certificate refused."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.ops.conftest import ServeProcess
from tests.support.certs import make_ca_and_leaf

pytestmark = pytest.mark.server


def _pem_to_der(path: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(Path(path).read_text())


def _served_cert(url: str, context: ssl.SSLContext) -> bytes:
    """The DER certificate a new connection to ``url`` is shown."""
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


@pytest.fixture
def two_certs(tmp_path: Path) -> dict[str, dict[str, str]]:
    """An old and a new certificate (each from its own CA), and the paths the server reads."""
    old = make_ca_and_leaf(_mkdir(tmp_path / "old"), "localhost", "127.0.0.1")
    new = make_ca_and_leaf(_mkdir(tmp_path / "new"), "localhost", "127.0.0.1")
    live = {"cert": str(tmp_path / "live-cert.pem"), "key": str(tmp_path / "live-key.pem")}
    shutil.copy(old["cert"], live["cert"])
    shutil.copy(old["key"], live["key"])
    return {"old": old, "new": new, "live": live}


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _client(certs: dict[str, dict[str, str]]) -> ssl.SSLContext:
    """Trusts both CAs (a client of a server that rotates between them)."""
    context = ssl.create_default_context(cafile=certs["old"]["ca"])
    context.load_verify_locations(cafile=certs["new"]["ca"])
    return context


def _install(source: dict[str, str], live: dict[str, str]) -> None:
    """Replace the served files as renewal tools do: write beside, then rename over."""
    for kind in ("key", "cert"):
        tmp = live[kind] + ".tmp"
        shutil.copy(source[kind], tmp)
        os.replace(tmp, live[kind])


def _serve_tls(serve: Callable[..., ServeProcess], certs: dict[str, dict[str, str]],
               *extra: str) -> tuple[ServeProcess, str]:
    proc = serve("opsapp:app", "--port", "0", "--certfile", certs["live"]["cert"],
                 "--keyfile", certs["live"]["key"], *extra)
    return proc, proc.wait_listening()[0]


#: How a reused connection the server closed while idle shows up as the next GET goes out: a
#: TCP EOF or reset, or over TLS the close_notify (or a bare EOF) read instead of a response.
_CLOSED_WHILE_IDLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                      ssl.SSLEOFError, ssl.SSLZeroReturnError)


class _Load:
    """Client threads sending requests (new connections and keep-alive ones) until stopped."""

    def __init__(self, url: str, context: ssl.SSLContext, threads: int = 4) -> None:
        host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
        self.host, self.port, self.context = host, int(port), context
        self.ok = 0
        self.retried = 0  # idempotent GETs re-sent after an idle connection was closed
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i % 2 == 0,), daemon=True)
                         for i in range(threads)]

    def _run(self, keep_alive: bool) -> None:
        deadline = time.monotonic() + 30  # bounded whatever happens
        conn = None
        reused = responding = False
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(self.host, self.port, timeout=10,
                                                       context=self.context)
                    reused = False
                responding = False
                conn.request("GET", "/")
                response = conn.getresponse()
                responding = True  # a status line came: from here on nothing is retried
                body = response.read()
                assert response.status == 200 and body, (response.status, body)
                with self._lock:
                    self.ok += 1
                reused = True
            except Exception as exc:  # every failure is counted and shown
                if conn is not None:
                    conn.close()
                conn = None
                if reused and not responding and isinstance(exc, _CLOSED_WHILE_IDLE):
                    # an idle keep-alive connection the server closed as this GET went out:
                    # no response began, so, as urllib3 and the balancers do (RFC 9112 §9.3.1),
                    # it is sent again on a new connection; a failure there counts
                    with self._lock:
                        self.retried += 1
                    continue
                with self._lock:
                    self.failures.append(repr(exc))
            if not keep_alive and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def test_sighup_rotates_the_certificate_under_load(
    serve: Callable[..., ServeProcess], two_certs: dict[str, dict[str, str]]
) -> None:
    proc, url = _serve_tls(serve, two_certs)
    client = _client(two_certs)
    assert _served_cert(url, client) == _pem_to_der(two_certs["old"]["cert"])
    with _Load(url, client) as load:
        time.sleep(0.5)
        _install(two_certs["new"], two_certs["live"])
        proc.signal(signal.SIGHUP)
        proc.wait_for(r"SIGHUP: TLS certificate reloaded")
        before = load.ok
        time.sleep(0.5)
        assert _served_cert(url, client) == _pem_to_der(two_certs["new"]["cert"])
    assert load.failures == []
    assert load.ok > before > 0
    assert proc.stop() == 0


def test_a_bad_new_certificate_is_refused_and_the_old_one_stays(
    serve: Callable[..., ServeProcess], two_certs: dict[str, dict[str, str]]
) -> None:
    proc, url = _serve_tls(serve, two_certs)
    client = _client(two_certs)
    Path(two_certs["live"]["cert"]).write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
    proc.signal(signal.SIGHUP)
    line = proc.wait_for(r"SIGHUP: new TLS certificate refused, the current one stays in "
                         r"service: (.*)")[0]
    assert two_certs["live"]["cert"] in line.group(1)
    assert _served_cert(url, client) == _pem_to_der(two_certs["old"]["cert"])
    # a key that does not match the certificate: refused too
    shutil.copy(two_certs["new"]["cert"], two_certs["live"]["cert"])
    proc.signal(signal.SIGHUP)
    proc.wait_for(r"new TLS certificate refused", count=2)
    assert _served_cert(url, client) == _pem_to_der(two_certs["old"]["cert"])
    assert proc.stop() == 0


def test_the_file_watch_reloads_changed_files_in_every_worker(
    serve: Callable[..., ServeProcess], two_certs: dict[str, dict[str, str]]
) -> None:
    proc, url = _serve_tls(serve, two_certs, "--workers", "2", "--threads", "2",
                           "--tls-reload-interval", "0.2")
    proc.wait_for(r"worker \d+ started", count=2)
    client = _client(two_certs)
    with _Load(url, client, threads=2) as load:
        time.sleep(0.3)
        _install(two_certs["new"], two_certs["live"])
        proc.wait_for(r"certificate files changed: TLS certificate reloaded", count=2)
    assert load.failures == [] and load.ok > 0
    for _ in range(6):  # whichever worker accepts
        assert _served_cert(url, client) == _pem_to_der(two_certs["new"]["cert"])
    assert proc.stop() == 0


def test_sighup_with_workers_reloads_the_certificate(
    serve: Callable[..., ServeProcess], two_certs: dict[str, dict[str, str]]
) -> None:
    proc, url = _serve_tls(serve, two_certs, "--workers", "2", "--threads", "2")
    proc.wait_for(r"worker \d+ started", count=2)
    client = _client(two_certs)
    with _Load(url, client, threads=2) as load:
        time.sleep(0.3)
        _install(two_certs["new"], two_certs["live"])
        proc.signal(signal.SIGHUP)
        proc.wait_for(r"SIGHUP: TLS certificate reloaded")
        proc.wait_for(r"worker \d+ started", count=4)
        time.sleep(0.5)
    assert load.failures == [] and load.ok > 0
    deadline = time.monotonic() + 10  # until the old workers have drained
    while _served_cert(url, client) != _pem_to_der(two_certs["new"]["cert"]):
        assert time.monotonic() < deadline, "old workers still answer with the old certificate"
        time.sleep(0.1)
    assert proc.stop() == 0
