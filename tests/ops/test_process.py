"""Process lifecycle through the CLI: graceful drain, pre-fork workers, SIGHUP, --reload."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.ops.conftest import ServeProcess, get_json, process_alive, request, wait_until

pytestmark = [pytest.mark.server, pytest.mark.slow]




def _workers(proc: ServeProcess) -> list[int]:
    """PIDs of workers started and not yet seen to exit, from the master's log."""
    out = proc.output()
    started = [int(p) for p in re.findall(r"worker (\d+) started", out)]
    gone = {int(p) for p in re.findall(r"worker (\d+) (?:exited|died)", out)}
    return [pid for pid in started if pid not in gone]


def test_sigterm_under_load_loses_no_request(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--threads", "8", "--graceful-timeout", "15")
    url = proc.wait_listening()[0]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(request, url, "/sleep/0.8", timeout=20) for _ in range(8)]
        time.sleep(0.3)  # all eight are in flight
        proc.signal(signal.SIGTERM)
        results = [f.result(timeout=30) for f in futures]
    assert [status for status, _, _ in results] == [200] * 8
    assert proc.proc.wait(20) == 0
    assert "SIGTERM: draining" in proc.output()
    with pytest.raises(OSError):
        request(url, timeout=2)  # no longer accepting


def test_workers_share_the_listener_and_a_killed_worker_is_replaced(
    serve: Callable[..., ServeProcess],
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "2")
    url = proc.wait_listening()[0]
    proc.wait_for(r"worker \d+ started", count=2)
    first = _workers(proc)
    assert len(first) == 2 and proc.pid not in first
    wait_until(lambda: get_json(url)["pid"] in first, what="a worker answering")
    victim = first[0]
    os.kill(victim, signal.SIGKILL)
    proc.wait_for(rf"worker {victim} died \(signal SIGKILL\); starting a replacement")
    proc.wait_for(r"worker \d+ started", count=3)
    now = _workers(proc)
    assert victim not in now and len(now) == 2
    # both of the current workers serve; the master keeps the count
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        while seen != set(now) and time.monotonic() < deadline:
            docs = pool.map(lambda _: get_json(url, "/sleep/0.05"), range(8))
            seen.update(doc["pid"] for doc in docs)
    assert seen <= set(now) and seen, seen
    assert proc.stop() == 0
    for pid in now:
        wait_until(lambda pid=pid: not process_alive(pid), what=f"worker {pid} to exit")


def test_sigterm_drains_every_worker(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "4")
    url = proc.wait_listening()[0]
    proc.wait_for(r"worker \d+ started", count=2)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(request, url, "/sleep/0.8", timeout=20) for _ in range(6)]
        time.sleep(0.3)
        proc.signal(signal.SIGTERM)
        assert [f.result(timeout=30)[0] for f in futures] == [200] * 6
    assert proc.proc.wait(30) == 0
    assert "all workers stopped" in proc.output()


def test_sighup_reloads_code_into_new_workers(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "2")
    url = proc.wait_listening()[0]
    proc.wait_for(r"worker \d+ started", count=2)
    old = _workers(proc)
    assert get_json(url)["version"] == "v1"
    source = app_dir / "opsapp.py"
    source.write_text(source.read_text().replace('VERSION = "v1"', 'VERSION = "v2-longer"'))
    proc.signal(signal.SIGHUP)
    proc.wait_for(r"SIGHUP: starting 2 new worker")
    wait_until(lambda: all(not process_alive(pid) for pid in old), what="old workers to drain",
               proc=proc)
    assert get_json(url)["version"] == "v2-longer"
    # a broken new version keeps the running workers
    source.write_text("this is not python\n")
    proc.signal(signal.SIGHUP)
    proc.wait_for(r"reloading the app failed, keeping the old workers")
    assert get_json(url)["version"] == "v2-longer"
    assert proc.stop() == 0


def test_ttin_and_ttou_change_the_worker_count(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "2")
    proc.wait_listening()
    proc.wait_for(r"worker \d+ started", count=2)
    proc.signal(signal.SIGTTIN)
    proc.wait_for(r"worker \d+ started", count=3)
    wait_until(lambda: len(_workers(proc)) == 3, what="three workers")
    proc.signal(signal.SIGTTOU)
    proc.wait_for(r"SIGTTOU: 2 worker")
    wait_until(lambda: len(_workers(proc)) == 2, what="back to two workers", proc=proc)
    assert proc.stop() == 0


def test_worker_that_cannot_start_stops_the_master(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    """Replacements that fail to start, again and again: exit 1 instead of looping forever."""
    log_path = app_dir / "access.log"
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--access-log", str(log_path))
    proc.wait_listening()
    proc.wait_for(r"worker \d+ started", count=2)
    os.unlink(log_path)
    log_path.mkdir()  # every new worker now fails to open its access log
    for pid in _workers(proc):
        os.kill(pid, signal.SIGKILL)
    assert proc.proc.wait(60) == 1
    assert "workers keep failing to start; giving up" in proc.output()


def test_reload_picks_up_an_edited_module(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--reload", "--reload-interval", "0.2")
    url = proc.wait_listening()[0]
    assert "development mode (--reload)" in proc.output()
    wait_until(lambda: _answers(url) == "v1", what="the first child to serve")
    first_pid = get_json(url)["pid"]
    source = app_dir / "opsapp.py"
    time.sleep(0.05)
    source.write_text(source.read_text().replace('VERSION = "v1"', 'VERSION = "v2-edited"'))
    wait_until(lambda: _answers(url) == "v2-edited", what="the edited code to be served")
    assert get_json(url)["pid"] != first_pid
    assert get_json(url)["pid"] != proc.pid  # the app runs in a child process
    assert "opsapp.py changed; restarting" in proc.output()
    # an excluded file does not restart it
    assert proc.stop() == 0


def test_reload_exclude_and_broken_code(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    (app_dir / "scratch").mkdir()
    (app_dir / "scratch" / "notes.py").write_text("x = 1\n")
    proc = serve("opsapp:app", "--port", "0", "--reload", "--reload-interval", "0.2",
                 "--reload-exclude", "scratch/*")
    url = proc.wait_listening()[0]
    wait_until(lambda: _answers(url) == "v1", what="the first child to serve")
    pid = get_json(url)["pid"]
    (app_dir / "scratch" / "notes.py").write_text("x = 2  # edited\n")
    time.sleep(1.0)
    assert get_json(url)["pid"] == pid  # excluded: no restart
    source = app_dir / "opsapp.py"
    good = source.read_text()
    source.write_text("def broken(:\n")
    proc.wait_for(r"the server exited with code 2; waiting for a file change")
    source.write_text(good.replace('VERSION = "v1"', 'VERSION = "v3-fixed"'))
    wait_until(lambda: _answers(url) == "v3-fixed", what="the fixed code to be served")
    assert proc.stop() == 0


def _answers(url: str) -> str:
    try:
        return str(get_json(url, timeout=2)["version"])
    except (OSError, AssertionError, ValueError):
        return ""


def test_max_requests_recycles_workers(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--threads", "2",
                 "--max-requests", "3", "--max-requests-jitter", "2")
    url = proc.wait_listening()[0]
    proc.wait_for(r"worker \d+ started", count=2)
    first = set(_workers(proc))
    pids: set[int] = set()
    deadline = time.monotonic() + 20
    while pids <= first and time.monotonic() < deadline:
        pids.add(get_json(url)["pid"])
        time.sleep(0.05)
    assert not pids <= first, "no worker was recycled"
    proc.wait_for(r"served max_requests \(3\+\); recycling this worker")
    assert "died" not in proc.output()
    assert proc.stop() == 0


def test_idle_keepalive_connections_do_not_hold_up_shutdown(
    serve: Callable[..., ServeProcess],
) -> None:
    import http.client

    proc = serve("opsapp:app", "--port", "0", "--graceful-timeout", "60",
                 "--keepalive-timeout", "60")
    url = proc.wait_listening()[0]
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read()
        assert conn.sock is not None  # kept alive, now idle
        started = time.monotonic()
        assert proc.stop(timeout=20) == 0
        assert time.monotonic() - started < 15  # not the 60 s grace: idle ones are closed
        assert conn.sock.recv(1) == b""  # the server closed it
    finally:
        conn.close()


def test_workers_notify_systemd_and_share_one_access_log(
    serve: Callable[..., ServeProcess], app_dir: Path
) -> None:
    import socket

    notify_path = str(app_dir / "notify.sock")
    log_path = app_dir / "access.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        notify.settimeout(20)
        proc = serve("opsapp:app", "--port", "0", "--workers", "2", "--access-log",
                     str(log_path), "--access-log-format", "%s %U",
                     env={"NOTIFY_SOCKET": notify_path})
        url = proc.wait_listening()[0]
        assert notify.recv(100) == b"READY=1"  # once every worker serves
        for i in range(10):
            get_json(url, f"/w{i}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(log_path.read_text().splitlines()) < 10:
            time.sleep(0.05)
        assert sorted(log_path.read_text().splitlines()) == sorted(
            f"200 /w{i}" for i in range(10))
        proc.signal(signal.SIGTERM)
        assert notify.recv(100) == b"STOPPING=1"
        assert proc.proc.wait(20) == 0
