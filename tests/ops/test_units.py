"""The ops modules on their own: TLS context errors, systemd helpers, reloader globs, watchdog."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from wsgikit.config import ServerConfig
from wsgikit.ops import systemd
from wsgikit.ops.reloader import iter_watched_files, snapshot
from wsgikit.ops.watchdog import RequestWatchdog
from wsgikit.server.listener import ListenError, bind_listeners, close_listeners
from wsgikit.server.tls import TLSConfigError, make_ssl_context


def test_no_tls_without_a_certificate() -> None:
    assert make_ssl_context(ServerConfig()) is None


def test_tls_context_from_files(tls_files: dict[str, str]) -> None:
    import ssl

    ctx = make_ssl_context(ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"],
                                        ca_certs=tls_files["ca"], cert_reqs="optional"))
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_tls_errors_name_the_file(tls_files: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(TLSConfigError, match="certfile file not found: /nope.pem"):
        make_ssl_context(ServerConfig(certfile="/nope.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TLSConfigError, match="cannot load certfile"):
        make_ssl_context(ServerConfig(certfile=str(garbage)))
    with pytest.raises(TLSConfigError, match="ca_certs file not found"):
        make_ssl_context(ServerConfig(certfile=tls_files["cert"], keyfile=tls_files["key"],
                                      ca_certs=str(tmp_path / "missing-ca.pem")))


def test_listen_fds_checks_the_pid() -> None:
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    assert systemd.listen_fds(env) == [3, 4]
    assert env == {}  # unset, as sd_listen_fds(1) does
    assert systemd.listen_fds({"LISTEN_PID": "1", "LISTEN_FDS": "1"}) == []  # not ours
    assert systemd.listen_fds({"LISTEN_PID": "x", "LISTEN_FDS": "1"}) == []
    assert systemd.listen_fds({}) == []


def test_notify_sends_a_datagram(tmp_path: Path) -> None:
    path = str(tmp_path / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": path}) is True
        assert sock.recv(100) == b"READY=1"
    assert systemd.notify("READY=1", {}) is False
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_bind_listeners_and_a_clear_error_for_a_taken_port() -> None:
    listeners = bind_listeners(ServerConfig(binds=("127.0.0.1:0",)))
    try:
        port = listeners[0].sock.getsockname()[1]
        assert listeners[0].url() == f"http://127.0.0.1:{port}"
        with pytest.raises(ListenError, match=f"127.0.0.1:{port}: address already in use"):
            bind_listeners(ServerConfig(binds=(f"127.0.0.1:{port}",)))
    finally:
        close_listeners(listeners)


def test_unix_bind_refuses_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "regular"
    path.write_text("data")
    with pytest.raises(ListenError, match="exists and is not a socket"):
        bind_listeners(ServerConfig(binds=(f"unix:{path}",)))
    assert path.read_text() == "data"


def test_reload_globs(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("")
    (tmp_path / "pkg" / "b.txt").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hook.py").write_text("")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "x.py").write_text("")
    found = {os.path.relpath(p, tmp_path) for p in iter_watched_files(
        str(tmp_path), ["*.py", "*.txt"], ["tests/*"])}
    assert found == {"pkg/a.py", "pkg/b.txt"}
    before = snapshot(str(tmp_path), ["*.py"], [])
    time.sleep(0.01)
    (tmp_path / "pkg" / "a.py").write_text("changed = True\n")
    after = snapshot(str(tmp_path), ["*.py"], [])
    assert before.keys() == after.keys()
    assert before[str(tmp_path / "pkg" / "a.py")] != after[str(tmp_path / "pkg" / "a.py")]


def test_watchdog_logs_once_and_forgets_finished_requests(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    def slow_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        release.wait(10)
        start_response("200 OK", [])
        return [b"done"]

    watchdog = RequestWatchdog(slow_app, warn_after=0.05, interval=3600)  # we call check()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/stuck", "QUERY_STRING": "a=1"}
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(watchdog(environ, lambda *a: None)))
    worker.start()
    try:
        time.sleep(0.2)
        with caplog.at_level(logging.WARNING, logger="wsgikit.watchdog"):
            assert watchdog.check() == 1
            assert watchdog.check() == 0  # once per request
        assert "request GET /stuck?a=1 has run" in caplog.text
        assert "release.wait(10)" in caplog.text  # the line it is stuck on
    finally:
        release.set()
        worker.join(10)
        watchdog.close()
    body = result[0]
    assert list(body) == [b"done"]
    body.close()
    assert watchdog._running == {}


def test_watchdog_validates_options() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        return []

    with pytest.raises(ValueError):
        RequestWatchdog(app, warn_after=0)
    with pytest.raises(TypeError):
        RequestWatchdog(app, warn_after="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RequestWatchdog(None, warn_after=1)  # type: ignore[arg-type]
