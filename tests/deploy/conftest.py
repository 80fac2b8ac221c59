"""A real multi-instance deployment on loopback: redis-server, three ``wsgikit serve`` processes
(the third with ``--workers 2``) sharing sessions in it, and nginx and HAProxy in front.

Everything is a child process on a free 127.0.0.1 port, started once per module, stopped by PID.
The balancer configurations are the template files next to this one, which docs/scaling.rst
shows verbatim.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.conftest import free_port, require_module, require_program, start_redis
from tests.ops.conftest import ServeProcess

HERE = Path(__file__).resolve().parent
NGINX_TEMPLATE = HERE / "nginx.conf.tmpl"
HAPROXY_TEMPLATE = HERE / "haproxy.cfg.tmpl"

#: What each instance runs with; docs/scaling.rst quotes these flags.
DRAIN_DELAY = 1.5
SERVE_FLAGS = (
    "--status-path", "/_status", "--metrics-path", "/metrics",
    "--drain-delay", str(DRAIN_DELAY), "--graceful-timeout", "10",
    "--keepalive-timeout", "75", "--trusted-proxy", "127.0.0.1", "--threads", "8",
)


def fill(template: Path, **values: str) -> str:
    """The template with each ``@NAME@`` replaced; every placeholder must be filled."""
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z0-9]+@", text)
    assert not left, f"{template.name}: unfilled placeholders {left}"
    return text


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on {port} within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def call(url: str, path: str = "/", *, method: str = "GET", cookie: str = "",
         timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class Instance:
    """One ``wsgikit serve`` on a fixed port, so it can be stopped and started again there."""

    def __init__(self, name: str, cwd: Path, env: dict[str, str], workers: int = 1) -> None:
        self.name = name
        self.port = free_port()
        self.cwd = cwd
        self.env = {**env, "DEPLOY_INSTANCE": name}
        self.workers = workers
        self.proc: Optional[ServeProcess] = None
        self.generations: list[ServeProcess] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["tests.deploy.sessionapp:create_app", "--factory",
                "--bind", self.address, *SERVE_FLAGS]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        self.proc = ServeProcess(args, self.cwd, env=self.env)
        self.generations.append(self.proc)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until its status path answers 200 (every worker booted, for --workers)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.proc.poll() is not None:
                pytest.fail(f"{self.name} exited:\n{self.proc.output()}")
            try:
                if call(self.url, "/_status", timeout=2)[0] == 200:
                    if self.workers == 1:
                        return
                    if len(self.proc.output().split(" started (generation")) > self.workers:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"{self.name} not ready within {timeout}s:\n{self.proc.output()}")

    def pids(self) -> set[int]:
        """The processes that answer requests: the server, or its workers."""
        assert self.proc is not None
        if self.workers == 1:
            return {self.proc.pid}
        out = self.proc.output()
        started = {int(p) for p in re.findall(r"worker (\d+) started", out)}
        gone = {int(p) for p in re.findall(r"worker (\d+) (?:exited|died)", out)}
        return started - gone

    def terminate(self) -> float:
        """SIGTERM and wait for the exit (bounded); the seconds it took."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.signal(signal.SIGTERM)
        code = self.proc.proc.wait(DRAIN_DELAY + 10 + 10)
        assert code == 0, self.proc.output()
        return time.monotonic() - began

    def kill(self) -> None:
        """SIGKILL to the whole process group (the server and any workers)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.proc.wait(10)


@dataclass
class Cluster:
    redis_url: str
    instances: list[Instance]
    balancers: dict[str, str] = field(default_factory=dict)  # name -> URL
    dirs: dict[str, Path] = field(default_factory=dict)  # name -> its config/log folder

    def instance(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    def haproxy_stats(self) -> dict[str, dict[str, str]]:
        """``show stat`` from HAProxy's admin socket: {server or BACKEND: {field: value}}."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.dirs["haproxy"] / "haproxy.sock"))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        lines = data.decode().strip().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {row["svname"]: row for row in rows if row["pxname"] == "wsgikit"}

    def nginx_errors(self) -> list[str]:
        """nginx's error.log, one entry per line."""
        return (self.dirs["nginx"] / "error.log").read_text().splitlines()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """redis + three instances (app3 with two workers) + nginx + HAProxy, all ready."""
    nginx = require_program("nginx")
    haproxy = require_program("haproxy")
    require_module("prometheus_client")
    tmp = tmp_path_factory.mktemp("deploy")
    children: list[subprocess.Popen[bytes]] = []
    instances: list[Instance] = []
    try:
        redis_proc, redis_url = start_redis(tmp)
        children.append(redis_proc)
        env = {"DEPLOY_REDIS_URL": redis_url, "DEPLOY_SECRET": "s" * 32}
        instances = [Instance("app1", tmp, env), Instance("app2", tmp, env),
                     Instance("app3", tmp, env, workers=2)]
        for inst in instances:
            inst.start()
        for inst in instances:
            inst.wait_ready()
        apps = {f"APP{n}": inst.address for n, inst in enumerate(instances, 1)}
        balancers: dict[str, str] = {}
        for name, template, cmd in (
            ("nginx", NGINX_TEMPLATE,
             lambda d, c: [nginx, "-p", str(d), "-c", str(c), "-e", str(d / "error.log")]),
            ("haproxy", HAPROXY_TEMPLATE, lambda d, c: [haproxy, "-db", "-f", str(c)]),
        ):
            root = tmp / name
            root.mkdir()
            port = free_port()
            conf = root / template.name.removesuffix(".tmpl")
            conf.write_text(fill(template, DIR=str(root), LISTEN=f"127.0.0.1:{port}", **apps))
            log = (root / "stderr.log").open("wb")
            proc = subprocess.Popen(cmd(root, conf), stdout=log, stderr=subprocess.STDOUT)
            children.append(proc)
            wait_port(port, proc, name)
            balancers[name] = f"http://127.0.0.1:{port}"
        cl = Cluster(redis_url, instances, balancers, {n: tmp / n for n in balancers})
        for url in balancers.values():
            for inst in instances:
                wait_balanced(url, inst)
        yield cl
    finally:
        for inst in instances:
            for gen in inst.generations:
                gen.kill()
        for proc in reversed(children):
            stop_process(proc)


def wait_balanced(balancer: str, inst: Instance, timeout: float = 15.0) -> None:
    """Until the balancer sends a request to ``inst``'s current processes (bounded)."""
    pids = inst.pids()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _, body = call(balancer, "/", timeout=5)
        except OSError:
            status, body = 0, b""
        if status == 200:
            doc = json.loads(body)
            if doc["instance"] == inst.name and doc["pid"] in pids:
                return
        time.sleep(0.02)
    pytest.fail(f"{balancer} never sent a request to {inst.name} ({pids}) in {timeout}s")


def login(url: str) -> str:
    """POST /login; the ``sid=...`` cookie pair to send back."""
    status, headers, body = call(url, "/login", method="POST")
    assert status == 200, body
    assert json.loads(body)["user"] == "alice"
    return headers["set-cookie"].split(";", 1)[0]


@dataclass
class LoadReport:
    sent: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # the first few, for the message
    latencies: list[float] = field(default_factory=list)
    by_instance: Counter[str] = field(default_factory=Counter)
    by_method: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # how long the load ran

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        return (f"sent={self.sent} in {self.seconds:.1f}s failed={self.failed} "
                f"p50={self.percentile(0.5) * 1000:.1f}ms p99={self.percentile(0.99) * 1000:.1f}ms "
                f"max={max(self.latencies, default=0) * 1000:.1f}ms "
                f"by_instance={dict(sorted(self.by_instance.items()))} "
                f"by_method={dict(self.by_method)}")


class Load:
    """Client threads sending requests through a balancer until stopped (each bounded).

    Each thread keeps one keep-alive connection to the balancer and sends GET / and GET /slow
    (and, with ``posts``, POST /inc) carrying the session cookie; a request fails unless it
    gets 200 with the logged-in user. A failed connection is replaced.
    """

    def __init__(self, url: str, cookie: str, *, threads: int = 4, posts: bool = False,
                 pause: float = 0.01) -> None:
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.cookie = cookie
        self.posts = posts
        self.pause = pause
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]

    def __enter__(self) -> Load:
        self._began = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> LoadReport:
        self._stop.set()
        for t in self._threads:
            t.join(30)
            assert not t.is_alive(), "a load thread did not finish"
        if not self.report.seconds:
            self.report.seconds = time.monotonic() - self._began
        return self.report

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        conn: Optional[http.client.HTTPConnection] = None
        while not self._stop.is_set():
            roll = rng.random()
            method, path = ("POST", "/inc") if self.posts and roll < 0.25 else (
                ("GET", "/slow") if roll < 0.5 else ("GET", "/"))
            began = time.monotonic()
            error = ""
            instance = ""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
                conn.request(method, path, headers={"Cookie": self.cookie})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    error = f"{method} {path}: {resp.status} {body[:120]!r}"
                else:
                    doc = json.loads(body)
                    instance = doc["instance"]
                    if doc["user"] != "alice":
                        error = f"{method} {path}: session lost on {instance}: {doc}"
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error = f"{method} {path}: {type(exc).__name__}: {exc}"
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.monotonic() - began
            with self._lock:
                r = self.report
                r.sent += 1
                r.by_method[method] += 1
                r.latencies.append(elapsed)
                if error:
                    r.failed += 1
                    if len(r.failures) < 10:
                        r.failures.append(error)
                else:
                    r.by_instance[instance] += 1
            self._stop.wait(self.pause)
        if conn is not None:
            conn.close()
