"""Every kind of socket through the CLI: TLS (verified), Unix (curl), IPv6, fd://N, systemd."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import require_program
from tests.ops.conftest import ServeProcess, get_json, request
from tests.support.live import require_ipv6_loopback

pytestmark = [pytest.mark.server]


def _client_context(tls_files: dict[str, str], with_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls_files["ca"])  # verifies host and chain
    if with_cert:
        context.load_cert_chain(tls_files["client"])
    return context


def test_tls_with_a_verifying_client(
    serve: Callable[..., ServeProcess], tls_files: dict[str, str]
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--certfile", tls_files["cert"],
                 "--keyfile", tls_files["key"])
    url = proc.wait_listening()[0]
    assert url.startswith("https://127.0.0.1:")
    doc = get_json(url, context=_client_context(tls_files))
    assert doc["wsgi.url_scheme"] == "https"
    # a client that does not trust our CA refuses the server
    with pytest.raises(ssl.SSLCertVerificationError):
        request(url, context=ssl.create_default_context())
    assert proc.stop() == 0


def test_tls_client_certificate_reaches_the_environ(
    serve: Callable[..., ServeProcess], tls_files: dict[str, str]
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--certfile", tls_files["cert"],
                 "--keyfile", tls_files["key"], "--ca-certs", tls_files["ca"],
                 "--cert-reqs", "required")
    url = proc.wait_listening()[0]
    doc = get_json(url, context=_client_context(tls_files, with_cert=True))
    assert doc["SSL_CLIENT_S_DN_CN"] == "test client"
    assert "CN=test client" in doc["SSL_CLIENT_S_DN"]
    assert doc["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert doc["has_cert"] is True
    # without a client certificate the handshake (or the first read) fails
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        request(url, context=_client_context(tls_files))
    assert proc.stop() == 0


def test_encrypted_key_with_password(
    serve: Callable[..., ServeProcess], tls_files: dict[str, str], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(Path(tls_files["key"]).read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    ))
    base = ["opsapp:app", "--port", "0", "--certfile", tls_files["cert"],
            "--keyfile", str(encrypted)]
    wrong = serve(*base, "--keyfile-password", "wrong")
    assert wrong.proc.wait(30) == 2
    assert "TLS: cannot load certfile" in wrong.output()
    assert "Traceback" not in wrong.output()
    proc = serve(*base, env={"WSGIKIT_KEYFILE_PASSWORD": "s3cret"})
    assert get_json(proc.wait_listening()[0], context=_client_context(tls_files))["HTTPS"] == "on"
    assert proc.stop() == 0


def test_unix_socket_with_curl(serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    curl = require_program("curl")
    path = tmp_path / "wsgikit.sock"
    proc = serve("opsapp:app", "--bind", f"unix:{path}")
    proc.wait_listening()
    out = subprocess.run(
        [curl, "-sS", "--max-time", "10", "--unix-socket", str(path), "http://localhost/via-unix"],
        capture_output=True, text=True, timeout=20,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["PATH_INFO"] == "/via-unix"
    assert proc.stop() == 0


def test_stale_unix_socket_file_is_replaced(
    serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crashed server leaves
    proc = serve("opsapp:app", "--bind", f"unix:{path}")
    assert proc.wait_listening() == [f"unix:{path}"]
    assert proc.stop() == 0


def test_several_binds_ipv4_and_ipv6(serve: Callable[..., ServeProcess]) -> None:
    require_ipv6_loopback()
    proc = serve("opsapp:app", "--bind", "127.0.0.1:0", "--bind", "[::1]:0")
    urls = proc.wait_listening(count=2)
    assert urls[0].startswith("http://127.0.0.1:") and urls[1].startswith("http://[::1]:")
    for url in urls:
        assert get_json(url)["PATH_INFO"] == "/"
    assert proc.stop() == 0


def test_inherited_fd(serve: Callable[..., ServeProcess]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    try:
        proc = serve("opsapp:app", "--bind", f"fd://{sock.fileno()}", pass_fds=[sock.fileno()])
        proc.wait_listening()
        assert get_json(f"http://127.0.0.1:{port}")["pid"] == proc.pid
        assert proc.stop() == 0
    finally:
        sock.close()


def test_systemd_socket_activation_and_notify(
    serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(20)
    try:
        # A tiny launcher puts the socket on fd 3 and sets LISTEN_PID to its own pid, which
        # exec keeps: what systemd does before starting the service.
        launcher = (
            "import os, sys\n"
            f"os.dup2({sock.fileno()}, 3)\n"
            "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', "
            f"NOTIFY_SOCKET={notify_path!r})\n"
            "os.execv(sys.executable, [sys.executable, '-m', 'wsgikit', 'serve', 'opsapp:app',"
            " '--bind', '127.0.0.1:1'])\n"  # the --bind is ignored: the activated socket wins
        )
        proc = serve(argv0=[sys.executable, "-c", launcher], pass_fds=[sock.fileno()])
        try:
            assert notify.recv(4096) == b"READY=1"
        except TimeoutError:
            pytest.fail(f"no READY=1:\n{proc.output()}")
        assert get_json(f"http://127.0.0.1:{port}")["pid"] == proc.pid
        assert "using 1 socket(s) passed by systemd" in proc.output()
        assert proc.stop() == 0
        assert notify.recv(4096) == b"STOPPING=1"
    finally:
        notify.close()
        sock.close()
        if os.path.exists(notify_path):
            os.unlink(notify_path)
