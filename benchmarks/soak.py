"""``python -m benchmarks.soak``: hours of production in minutes: mixed and abusive load, measured.

    python -m benchmarks.soak                              # wsgikit, 10 minutes (make soak)
    python -m benchmarks.soak --duration 180 --server waitress --server gunicorn-gthread
    python -m benchmarks.soak --plot benchmarks/results/soak-*.json   # re-plot, no run

Each server runs :mod:`benchmarks.soak_app` (``--threads 8``, one process, pinned to one core)
and gets, for ``--duration`` seconds, from this process (pinned to the other core):

* well-behaved clients: keep-alive GETs (1 in 20 of the 1 MiB response), POST echoes of 0-20 KB
  (some chunked, some with ``Expect: 100-continue``), bursts of pipelined GETs, and TLS GETs;
* abusive clients: closing mid-head, mid-body of a 100 KB POST, right after a request, after a
  chunked upload's half chunk, after a ``100-continue`` head without its body; requesting the
  1 MiB response and never reading it; 200 random bytes; half of those closes with SO_LINGER 0
  (a reset); slowloris connections sending a head byte by byte; TLS clients aborting the
  handshake (a second instance of the server, with a trustme certificate, takes the TLS part).

Every request carries an id; the app logs each id it starts. At the end: a started request of
a well-behaved client that did not get its whole, correct response is **lost**; started
requests of abusive clients (abandoned on purpose) are counted apart. A sampler records the
server's RSS, fds, threads, parked connections (wsgikit's status document) and req/s every
``--interval`` seconds, during the load and for ``--after`` seconds after it stops. Results:
``benchmarks/results/soak-<server>-<time>.json`` and a PNG of the timeline (matplotlib, the
``bench`` extra); with several servers also ``soak-compare-<time>.png``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from benchmarks.apps import BIG_BODY, HELLO_BODY
from benchmarks.servers import (
    CLIENT_CPU,
    DEFAULT_THREADS,
    HOST,
    SERVER_CPU,
    WSGIKIT_BUILDS,
    LaunchOptions,
    RunningServer,
    ServerStartError,
    free_port,
    server_command,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
APP = "benchmarks.soak_app:app"
STATUS_PATH = "/_soak/status"
#: Servers the soak knows how to start (with TLS where the server has it).
SOAK_SERVERS = ("wsgikit", "waitress", "gunicorn-gthread")
TLS_SERVERS = ("wsgikit", "gunicorn-gthread")
IO_TIMEOUT = 15.0  # a well-behaved client's wait for any response byte

# How many clients of each kind (the issue's mix, plus the extra scenarios).
GET_CLIENTS = 6
POST_CLIENTS = 4
ABUSIVE_CLIENTS = 3
PIPELINE_CLIENTS = 1
SLOWLORIS_CONNECTIONS = 4
TLS_ABUSIVE_CLIENTS = 1
TLS_GET_CLIENTS = 1


# -- a small HTTP/1.1 client --------------------------------------------------------------------


class BadResponse(Exception):
    """The server's answer was not a whole, well-framed response."""


class Conn:
    """One client connection with a response reader (Content-Length, chunked, or until close)."""

    def __init__(self, port: int, *, tls: Optional[ssl.SSLContext] = None,
                 timeout: float = IO_TIMEOUT) -> None:
        sock = socket.create_connection((HOST, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname="localhost")
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self, reset: bool = False) -> None:
        if reset:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.sock.close()

    def _more(self) -> bytes:
        data = self.sock.recv(262144)
        if not data:
            raise BadResponse("connection closed before the response was complete")
        return data

    def _until(self, marker: bytes) -> bytes:
        while True:
            at = self.buf.find(marker)
            if at >= 0:
                out, self.buf = self.buf[:at], self.buf[at + len(marker):]
                return out
            if len(self.buf) > 65536:
                raise BadResponse("response head too long")
            self.buf += self._more()

    def _exactly(self, n: int) -> bytes:
        parts = [self.buf[:n]]
        have = len(parts[0])
        self.buf = self.buf[n:]
        while have < n:
            data = self._more()
            take = data[: n - have]
            parts.append(take)
            have += len(take)
            if len(take) < len(data):
                self.buf = data[len(take):]
        return b"".join(parts)

    def head(self) -> tuple[int, dict[str, str]]:
        """The next response head (1xx included): status and lower-cased headers."""
        raw = self._until(b"\r\n\r\n").decode("latin-1")
        lines = raw.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise BadResponse(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def response(self) -> tuple[int, bytes, bool]:
        """The next final response: status, body, and whether the server closes after it."""
        while True:
            status, headers = self.head()
            if status >= 200:
                break
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self._until(b"\r\n"):  # trailer lines, then the empty line
                        pass
                    break
                parts.append(self._exactly(size))
                self._exactly(2)
            body = b"".join(parts)
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        else:
            body = self.buf
            self.buf = b""
            try:
                while True:
                    body += self._more()
            except BadResponse:
                pass
            return status, body, True
        closes = headers.get("connection", "").lower() == "close"
        return status, body, closes


# -- accounting ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw; ``failed`` holds the ids of well-behaved requests without a whole,
    correct response (they are lost if the app started them, else never reached the app)."""

    ok: int = 0
    failed: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)  # id -> what went wrong (bounded)
    abusive_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, n: int = 1) -> None:
        with self.lock:
            self.ok += n

    def failure(self, ids: Sequence[str], reason: str = "") -> None:
        with self.lock:
            self.failed.update(ids)
            for request_id in ids:
                if len(self.reasons) < 1000:
                    self.reasons[request_id] = f"{threading.current_thread().name}: {reason}"

    def abusive(self) -> None:
        with self.lock:
            self.abusive_sent += 1


class Load:
    """The client threads; ``stop`` ends them (each checks it between requests)."""

    def __init__(self, port: int, tls_port: Optional[int], tls_ctx: Optional[ssl.SSLContext],
                 seed: int = 1) -> None:
        self.port = port
        self.tls_port = tls_port
        self.tls_ctx = tls_ctx
        self.stop = threading.Event()
        self.tally = Tally()
        self.threads: list[threading.Thread] = []
        self._ids = itertools.count()
        self._seed = seed

    def next_id(self, kind: str) -> str:
        return f"{kind}{next(self._ids)}"

    def start(self) -> None:
        kinds: list[tuple[str, Callable[[random.Random], None], int]] = [
            ("get", self._get_client, GET_CLIENTS),
            ("post", self._post_client, POST_CLIENTS),
            ("pipeline", self._pipeline_client, PIPELINE_CLIENTS),
            ("abusive", self._abusive_client, ABUSIVE_CLIENTS),
            ("slowloris", self._slowloris_client, SLOWLORIS_CONNECTIONS),
        ]
        if self.tls_port is not None:
            kinds += [("tls-abusive", self._tls_abusive_client, TLS_ABUSIVE_CLIENTS),
                      ("tls-get", self._tls_get_client, TLS_GET_CLIENTS)]
        n = 0
        for name, target, count in kinds:
            for i in range(count):
                rng = random.Random(self._seed * 1000 + n)
                n += 1
                thread = threading.Thread(target=self._guard, args=(target, rng),
                                          name=f"soak-{name}-{i}", daemon=True)
                self.threads.append(thread)
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _guard(self, target: Callable[[random.Random], None], rng: random.Random) -> None:
        while not self.stop.is_set():
            try:
                target(rng)
            except Exception as exc:  # a client bug must not end the soak silently
                print(f"soak client {threading.current_thread().name}: {exc!r}", file=sys.stderr)
                self.stop.wait(0.1)

    # well-behaved clients: every request must get its whole, correct response

    def _keepalive_loop(self, rng: random.Random, port: int, tls: Optional[ssl.SSLContext],
                        kind: str, make: Callable[[random.Random, str], tuple[bytes, bytes, bool]]
                        ) -> None:
        conn: Optional[Conn] = None
        while not self.stop.is_set():
            request_id = self.next_id(kind)
            request, expected, expect_continue = make(rng, request_id)
            try:
                if conn is None:
                    conn = Conn(port, tls=tls)
                if expect_continue:
                    head, _, body = request.partition(b"\r\n\r\n")
                    conn.send(head + b"\r\n\r\n")
                    conn.sock.settimeout(1.0)  # like curl: wait a moment for 100, then send
                    try:
                        status, _ = conn.head()
                    except (socket.timeout, BadResponse):
                        status = 0
                    conn.sock.settimeout(IO_TIMEOUT)
                    if status >= 200:
                        raise BadResponse(f"final status {status} before the body")
                    conn.send(body)
                else:
                    conn.send(request)
                status, got, closes = conn.response()
                if status != 200 or got != expected:
                    raise BadResponse(f"status {status}, {len(got)} bytes")
                self.tally.success()
                if closes:
                    conn.close()
                    conn = None
            except (OSError, BadResponse, ValueError, ssl.SSLError) as exc:
                self.tally.failure([request_id], repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
                self.stop.wait(0.05)
        if conn is not None:
            conn.close()

    @staticmethod
    def _get(rng: random.Random, request_id: str) -> tuple[bytes, bytes, bool]:
        path, body = ("/big", BIG_BODY) if rng.random() < 0.05 else ("/hello", HELLO_BODY)
        return (f"GET {path}?id={request_id} HTTP/1.1\r\nHost: soak\r\n\r\n".encode(), body,
                False)

    @staticmethod
    def _post(rng: random.Random, request_id: str) -> tuple[bytes, bytes, bool]:
        body = rng.randbytes(rng.randint(0, 20 * 1024))
        head = f"POST /echo?id={request_id} HTTP/1.1\r\nHost: soak\r\n"
        roll = rng.random()
        if roll < 0.2 and body:
            cut = rng.randint(1, len(body))
            wire = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:cut], body[cut:]) if p)
            return (head.encode() + b"Transfer-Encoding: chunked\r\n\r\n" + wire + b"0\r\n\r\n",
                    body, False)
        if roll < 0.3 and body:
            return (head.encode() + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                    % len(body) + body, body, True)
        return head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body, body, False

    def _get_client(self, rng: random.Random) -> None:
        self._keepalive_loop(rng, self.port, None, "n", self._get)

    def _post_client(self, rng: random.Random) -> None:
        self._keepalive_loop(rng, self.port, None, "n", self._post)

    def _tls_get_client(self, rng: random.Random) -> None:
        assert self.tls_port is not None
        self._keepalive_loop(rng, self.tls_port, self.tls_ctx, "n", self._get)

    def _pipeline_client(self, rng: random.Random) -> None:
        """Bursts of 2-10 pipelined GETs in one write on a keep-alive connection."""
        conn: Optional[Conn] = None
        while not self.stop.is_set():
            ids = [self.next_id("n") for _ in range(rng.randint(2, 10))]
            try:
                if conn is None:
                    conn = Conn(self.port)
                conn.send(b"".join(f"GET /hello?id={i} HTTP/1.1\r\nHost: soak\r\n\r\n".encode()
                                   for i in ids))
                done = 0
                for _ in ids:
                    status, got, _closes = conn.response()
                    if status != 200 or got != HELLO_BODY:
                        raise BadResponse(f"status {status}")
                    done += 1
                self.tally.success(done)
            except (OSError, BadResponse, ValueError) as exc:
                self.tally.success(done)
                self.tally.failure(ids[done:], repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
            self.stop.wait(rng.uniform(0.0, 0.05))
        if conn is not None:
            conn.close()

    # abusive clients: they abandon what they start; their requests are not counted as lost

    def _abusive_client(self, rng: random.Random) -> None:
        action = rng.choice(ABUSES)
        reset = rng.random() < 0.5
        try:
            conn = Conn(self.port, timeout=5.0)
        except OSError:
            self.stop.wait(0.05)
            return
        self.tally.abusive()
        try:
            action(self, rng, conn)
        except (OSError, BadResponse):
            pass
        finally:
            conn.close(reset=reset)
        self.stop.wait(rng.uniform(0.0, 0.01))

    def _close_mid_head(self, rng: random.Random, conn: Conn) -> None:
        request = f"GET /hello?id={self.next_id('x')} HTTP/1.1\r\nHost: soak\r\nX-A: b\r\n\r\n"
        conn.send(request[: rng.randint(1, len(request) - 2)].encode())

    def _close_mid_body(self, rng: random.Random, conn: Conn) -> None:
        conn.send(f"POST /echo?id={self.next_id('x')} HTTP/1.1\r\nHost: soak\r\n"
                  f"Content-Length: 102400\r\n\r\n".encode() + b"b" * rng.randint(0, 60000))

    def _close_after_request(self, rng: random.Random, conn: Conn) -> None:
        path = rng.choice(("/hello", "/big"))
        conn.send(f"GET {path}?id={self.next_id('x')} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())

    def _never_read_big(self, rng: random.Random, conn: Conn) -> None:
        conn.send(f"GET /big?id={self.next_id('x')} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.stop.wait(rng.uniform(0.2, 1.0))

    def _random_bytes(self, rng: random.Random, conn: Conn) -> None:
        conn.send(rng.randbytes(200))
        self.stop.wait(0.05)

    def _chunked_aborted(self, rng: random.Random, conn: Conn) -> None:
        conn.send(f"POST /echo?id={self.next_id('x')} HTTP/1.1\r\nHost: soak\r\n"
                  f"Transfer-Encoding: chunked\r\n\r\n".encode()
                  + b"1000\r\n" + b"c" * rng.randint(0, 4000))
        self.stop.wait(rng.uniform(0.0, 0.2))

    def _continue_without_body(self, rng: random.Random, conn: Conn) -> None:
        conn.send(f"POST /echo?id={self.next_id('x')} HTTP/1.1\r\nHost: soak\r\n"
                  f"Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n".encode())
        conn.sock.settimeout(rng.uniform(0.2, 1.0))
        try:
            conn.head()  # 100 Continue, maybe; the body never comes
        except (socket.timeout, BadResponse):
            pass

    def _slowloris_client(self, rng: random.Random) -> None:
        """A head sent a few bytes a second, until the server gives up (or 60 s)."""
        try:
            conn = Conn(self.port, timeout=5.0)
        except OSError:
            self.stop.wait(0.5)
            return
        self.tally.abusive()
        head = (f"GET /hello?id={self.next_id('x')} HTTP/1.1\r\nHost: soak\r\n"
                + "".join(f"X-Slow-{i}: {'z' * 20}\r\n" for i in range(50)) + "\r\n").encode()
        try:
            give_up = time.monotonic() + 60.0
            for i in range(0, len(head), 3):
                if self.stop.is_set() or time.monotonic() > give_up:
                    break
                conn.send(head[i: i + 3])
                self.stop.wait(rng.uniform(0.5, 1.5))
        except OSError:
            pass
        finally:
            conn.close(reset=rng.random() < 0.5)

    def _tls_abusive_client(self, rng: random.Random) -> None:
        """Handshakes aborted: after connect, mid-ClientHello, with garbage, after the hello."""
        assert self.tls_port is not None and self.tls_ctx is not None
        try:
            sock = socket.create_connection((HOST, self.tls_port), timeout=5.0)
        except OSError:
            self.stop.wait(0.05)
            return
        self.tally.abusive()
        conn = Conn.__new__(Conn)
        conn.sock, conn.buf = sock, b""
        try:
            roll = rng.random()
            if roll < 0.25:
                pass  # connect, then close
            elif roll < 0.5:
                sock.sendall(rng.randbytes(rng.randint(1, 300)))
            else:
                hello = _client_hello(self.tls_ctx)
                sock.sendall(hello if roll > 0.75 else hello[: rng.randint(1, len(hello) - 1)])
                if roll > 0.75:
                    sock.settimeout(0.5)
                    try:
                        sock.recv(65536)  # the server's hello; then leave
                    except OSError:
                        pass
        except OSError:
            pass
        finally:
            conn.close(reset=rng.random() < 0.5)
        self.stop.wait(rng.uniform(0.0, 0.02))


ABUSES: tuple[Callable[[Load, random.Random, Conn], None], ...] = (
    Load._close_mid_head, Load._close_mid_body, Load._close_after_request, Load._never_read_big,
    Load._random_bytes, Load._chunked_aborted, Load._continue_without_body,
)


def _client_hello(ctx: ssl.SSLContext) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


# -- the server side: processes, sampling -------------------------------------------------------


def _group_pids(leader: int) -> list[int]:
    """The server process and its children (gunicorn's workers): all of its process group."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # pgrp
            pids.append(int(entry))
    return pids or [leader]


def _proc_numbers(pid: int) -> tuple[int, int, int]:
    """RSS in KiB, open fds and threads of one process (0s if it is gone)."""
    rss = threads = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0, 0, 0
    return rss, fds, threads


def server_numbers(leader: int) -> dict[str, int]:
    """RSS (KiB), fds and threads summed over the server's processes."""
    total = {"rss_kib": 0, "fds": 0, "threads": 0}
    for pid in _group_pids(leader):
        rss, fds, threads = _proc_numbers(pid)
        total["rss_kib"] += rss
        total["fds"] += fds
        total["threads"] += threads
    return total


def _parked(port: int) -> Optional[int]:
    """wsgikit's parked keep-alive connections, from its status document."""
    try:
        conn = Conn(port, timeout=2.0)
        try:
            conn.send(f"GET {STATUS_PATH} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"
                      .encode())
            status, body, _ = conn.response()
        finally:
            conn.close()
        if status != 200:
            return None
        doc = json.loads(body)
        stats = doc.get("stats", doc)
        value = stats.get("parked_connections")
        return int(value) if value is not None else None
    except (OSError, BadResponse, ValueError):
        return None


def _launch(name: str, port: int, log_path: Path, threads: int, build: str, app_log: Path,
            tls: Optional[tuple[str, str]] = None, pin: bool = True) -> RunningServer:
    opts = LaunchOptions(port=port, app=APP, threads=threads, wsgikit_build=build)
    argv = server_command(name, opts, SERVER_CPU if pin else None)
    extra: list[str] = []
    if name == "wsgikit":
        extra = ["--status-path", STATUS_PATH]
    if tls is not None:
        extra += ["--certfile", tls[0], "--keyfile", tls[1]]
    argv = argv[:-1] + extra + argv[-1:]
    previous = os.environ.get("SOAK_LOG")
    os.environ["SOAK_LOG"] = str(app_log)  # RunningServer passes os.environ on
    try:
        server = RunningServer(name, argv, port, log_path)
    finally:
        if previous is None:
            del os.environ["SOAK_LOG"]
        else:
            os.environ["SOAK_LOG"] = previous
    try:
        _wait_listening(server, tls is not None)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_listening(server: RunningServer, tls: bool) -> None:
    give_up = time.monotonic() + 30.0
    while time.monotonic() < give_up:
        if server.proc.poll() is not None:
            raise ServerStartError(f"{server.name} exited:\n{server.log_tail()}")
        try:
            with socket.create_connection((HOST, server.port), timeout=0.5):
                time.sleep(0.2 if tls else 0.0)
                return
        except OSError:
            time.sleep(0.05)
    raise ServerStartError(f"{server.name} did not listen:\n{server.log_tail()}")


def _make_cert(directory: Path) -> tuple[tuple[str, str], ssl.SSLContext]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for pem in cert.cert_chain_pems[1:]:
        with open(cert_path, "ab") as f:
            f.write(pem.bytes())
    cert.private_key_pem.write_to_path(str(key_path))
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return (str(cert_path), str(key_path)), ctx


def _read_started(path: Path) -> tuple[set[str], int, int]:
    """The ids of well-behaved requests the app started, and the counts of both kinds."""
    normal: set[str] = set()
    abusive = 0
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    for line in data.decode("ascii", "replace").splitlines():
        if line.startswith("n"):
            normal.add(line)
        elif line.startswith("x"):
            abusive += 1
    return normal, len(normal), abusive


@dataclass
class SoakConfig:
    server: str = "wsgikit"
    duration: float = 600.0
    after: float = 60.0
    interval: float = 5.0
    threads: int = DEFAULT_THREADS
    build: str = "python"
    tls: bool = True
    pin: bool = True
    seed: int = 1


def run_soak(cfg: SoakConfig, work_dir: Path, progress: Callable[[str], None] = print
             ) -> dict[str, Any]:
    """Run one soak against ``cfg.server``; returns the result document (see the module doc)."""
    if cfg.server not in SOAK_SERVERS:
        raise ValueError(f"unknown soak server {cfg.server!r}; known: {', '.join(SOAK_SERVERS)}")
    work_dir.mkdir(parents=True, exist_ok=True)
    app_log = work_dir / f"started-{cfg.server}.log"
    app_log.unlink(missing_ok=True)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cfg.pin and affinity is not None and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
    servers: list[RunningServer] = []
    tls_server: Optional[RunningServer] = None
    tls_ctx: Optional[ssl.SSLContext] = None
    try:
        main = _launch(cfg.server, free_port(), work_dir / f"server-{cfg.server}.log",
                       cfg.threads, cfg.build, app_log, pin=cfg.pin)
        servers.append(main)
        if cfg.tls and cfg.server in TLS_SERVERS:
            files, tls_ctx = _make_cert(work_dir)
            tls_server = _launch(cfg.server, free_port(), work_dir / f"server-{cfg.server}-tls.log",
                                 cfg.threads, cfg.build, app_log, tls=files, pin=cfg.pin)
            servers.append(tls_server)
        result = _soak(cfg, main, tls_server, tls_ctx, progress)
    finally:
        for server in servers:
            server.stop(deadline_s=10.0)
        if affinity is not None and cfg.pin:
            os.sched_setaffinity(0, affinity)
    for key, server in (("server_log", main), ("tls_server_log", tls_server)):
        if server is None:
            continue
        text = server.log_path.read_text("utf-8", "replace")
        result[key] = {
            "lines": text.count("\n"),
            "tracebacks": text.count("Traceback (most recent call last)"),
            "tail": text[-1500:],
        }
    normal, started_normal, started_abusive = _read_started(app_log)
    tally = result.pop("_tally")
    lost = sorted(normal & tally.failed)
    result["requests"] = {
        "completed": tally.ok,
        "started_by_app": started_normal,
        "lost": len(lost),
        "lost_ids": lost[:50],
        "lost_reasons": [tally.reasons.get(i, "") for i in lost[:50]],
        "failed_before_the_app": len(tally.failed - normal),
        "abusive_connections": tally.abusive_sent,
        "abusive_started_by_app": started_abusive,
    }
    # exact: every started well-behaved request got its whole response or is lost
    result["requests"]["accounted"] = started_normal == tally.ok + len(lost)
    return result


def _soak(cfg: SoakConfig, main: RunningServer, tls_server: Optional[RunningServer],
          tls_ctx: Optional[ssl.SSLContext], progress: Callable[[str], None]) -> dict[str, Any]:
    timeline: list[dict[str, Any]] = []
    load = Load(main.port, tls_server.port if tls_server else None, tls_ctx, cfg.seed)
    start = time.monotonic()

    def sample(phase: str, last_ok: list[int], last_t: list[float]) -> None:
        now = time.monotonic()
        numbers = server_numbers(main.pid)
        ok = load.tally.ok
        point: dict[str, Any] = {
            "t": round(now - start, 2), "phase": phase, **numbers,
            "req_per_s": round((ok - last_ok[0]) / max(now - last_t[0], 1e-6), 1),
            "parked": _parked(main.port) if main.name == "wsgikit" else None,
        }
        if tls_server is not None:
            tls_numbers = server_numbers(tls_server.pid)
            point["tls_rss_kib"] = tls_numbers["rss_kib"]
            point["tls_fds"] = tls_numbers["fds"]
            point["tls_threads"] = tls_numbers["threads"]
        last_ok[0], last_t[0] = ok, now
        timeline.append(point)
        progress(f"  {point['t']:7.1f}s {phase:5} rss {numbers['rss_kib'] / 1024:6.1f} MiB  "
                 f"fds {numbers['fds']:4}  threads {numbers['threads']:3}  "
                 f"parked {point['parked'] if point['parked'] is not None else '-':>3}  "
                 f"{point['req_per_s']:7.1f} req/s  failed {len(load.tally.failed)}")

    last_ok, last_t = [0], [start]
    sample("idle", last_ok, last_t)
    baseline = dict(timeline[0])
    load.start()
    next_at = start + cfg.interval
    load_end = start + cfg.duration
    while time.monotonic() < load_end:
        time.sleep(max(0.0, min(next_at, load_end) - time.monotonic()))
        if time.monotonic() >= next_at:
            sample("load", last_ok, last_t)
            next_at += cfg.interval
    load.join(timeout=30.0)
    stopped = time.monotonic()
    sample("load", last_ok, last_t)
    after_end = stopped + cfg.after
    next_at = stopped + cfg.interval
    while time.monotonic() < after_end:
        time.sleep(max(0.0, min(next_at, after_end) - time.monotonic()))
        sample("after", last_ok, last_t)
        next_at += cfg.interval
    load_points = [p for p in timeline if p["phase"] == "load"]
    after_points = [p for p in timeline if p["phase"] == "after"] or load_points[-1:]
    at_1min = next((p for p in load_points if p["t"] >= 60.0), load_points[0])
    rss_end = load_points[-1]["rss_kib"]
    rss_after = after_points[-1]["rss_kib"]
    summary = {
        "rss_idle_kib": baseline["rss_kib"],
        "rss_1min_kib": at_1min["rss_kib"],
        "rss_end_kib": rss_end,
        "rss_after_kib": rss_after,
        "rss_max_kib": max(p["rss_kib"] for p in timeline),
        "rss_bound_kib": at_1min["rss_kib"] + 5 * 1024,
        "rss_within_bound": rss_end <= at_1min["rss_kib"] + 5 * 1024
        and rss_after <= at_1min["rss_kib"] + 5 * 1024,
        "fds_idle": baseline["fds"],
        "fds_after": after_points[-1]["fds"],
        "fds_max": max(p["fds"] for p in timeline),
        "threads_idle": baseline["threads"],
        "threads_after": after_points[-1]["threads"],
        "threads_max": max(p["threads"] for p in timeline),
        "mean_req_per_s": round(load.tally.ok / max(stopped - start, 1e-6), 1),
    }
    if tls_server is not None:
        summary.update({
            "tls_fds_idle": baseline["tls_fds"], "tls_fds_after": after_points[-1]["tls_fds"],
            "tls_threads_idle": baseline["tls_threads"],
            "tls_threads_max": max(p["tls_threads"] for p in timeline),
        })
    return {
        "server": main.name,
        "build": cfg.build if main.name == "wsgikit" else None,
        "argv": main.argv,
        "duration_s": cfg.duration,
        "after_s": cfg.after,
        "interval_s": cfg.interval,
        "threads": cfg.threads,
        "tls": tls_server is not None,
        "clients": {
            "get": GET_CLIENTS, "post": POST_CLIENTS, "pipeline": PIPELINE_CLIENTS,
            "abusive": ABUSIVE_CLIENTS, "slowloris": SLOWLORIS_CONNECTIONS,
            "tls_abusive": TLS_ABUSIVE_CLIENTS if tls_server else 0,
            "tls_get": TLS_GET_CLIENTS if tls_server else 0,
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timeline": timeline,
        "summary": summary,
        "_tally": load.tally,
    }


# -- plots ---------------------------------------------------------------------------------------


def plot(results: Sequence[dict[str, Any]], path: Path) -> Optional[Path]:
    """A PNG of the timelines (one column per panel, one line per server); None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return None
    panels = [("rss_kib", "RSS (MiB)", 1 / 1024), ("fds", "open fds", 1.0),
              ("threads", "threads", 1.0), ("req_per_s", "well-behaved req/s", 1.0)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 10), sharex=True)
    for result in results:
        label = result.get("label") or (
            result["server"] + (f" ({result['build']})" if result.get("build") else ""))
        xs = [p["t"] / 60 for p in result["timeline"]]
        for ax, (key, title, scale) in zip(axes, panels):
            ax.plot(xs, [p[key] * scale for p in result["timeline"]], label=label)
            ax.set_ylabel(title)
            ax.grid(True, alpha=0.3)
        load_end = result["duration_s"] / 60
        for ax in axes:
            ax.axvline(load_end, color="grey", linestyle=":", linewidth=1)
    if len(results) == 1:
        parked = [(p["t"] / 60, p["parked"]) for p in results[0]["timeline"]
                  if p.get("parked") is not None]
        if parked:
            axes[1].plot(*zip(*parked), label="parked connections", linestyle="--")
    axes[0].legend(loc="best", fontsize="small")
    axes[1].legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("minutes (dotted line: the load stops)")
    fig.suptitle("soak: mixed and abusive load, then idle")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# -- the command line ----------------------------------------------------------------------------


def summary_line(result: dict[str, Any]) -> str:
    s, r = result["summary"], result["requests"]
    mib = 1024.0
    return (f"{result['server']:17} rss idle {s['rss_idle_kib'] / mib:5.1f}  1 min "
            f"{s['rss_1min_kib'] / mib:5.1f}  end {s['rss_end_kib'] / mib:5.1f}  after "
            f"{s['rss_after_kib'] / mib:5.1f} MiB ({'within' if s['rss_within_bound'] else 'OVER'}"
            f" bound)  fds {s['fds_idle']}->{s['fds_after']} (max {s['fds_max']})  threads "
            f"{s['threads_idle']}->{s['threads_after']}  {r['completed']} ok  {r['lost']} lost  "
            f"{r['abusive_started_by_app']} abandoned by abusive clients  "
            f"{s['mean_req_per_s']} req/s  tracebacks {result['server_log']['tracebacks']}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", action="append", choices=SOAK_SERVERS,
                        help="server to soak (repeatable; default wsgikit)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (600)")
    parser.add_argument("--after", type=float, default=60.0,
                        help="seconds of sampling after the load stops (60)")
    parser.add_argument("--interval", type=float, default=5.0, help="sampling period (5 s)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--wsgikit-build", choices=WSGIKIT_BUILDS, default="python")
    parser.add_argument("--no-tls", action="store_true", help="skip the TLS part")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--plot", nargs="+", type=Path, metavar="JSON",
                        help="only plot saved results side by side (a result's \"label\" key, "
                        "if set, names its line)")
    parser.add_argument("--png", type=Path, help="with --plot: where to write the PNG")
    args = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if args.plot:
        results = [json.loads(p.read_text()) for p in args.plot]
        out = plot(results, args.png or args.out / f"soak-compare-{stamp}.png")
        print(out)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        for name in args.server or ["wsgikit"]:
            cfg = SoakConfig(server=name, duration=args.duration, after=args.after,
                             interval=args.interval, threads=args.threads,
                             build=args.wsgikit_build, tls=not args.no_tls, pin=not args.no_pin)
            print(f"soak: {name}, {args.duration:g} s of load, then {args.after:g} s idle",
                  flush=True)
            result = run_soak(cfg, Path(tmp) / name,
                              progress=lambda line: print(line, flush=True))
            path = args.out / f"soak-{name}-{stamp}.json"
            path.write_text(json.dumps(result, indent=1) + "\n")
            png = plot([result], path.with_suffix(".png"))
            print(summary_line(result))
            print(f"  {path}" + (f"\n  {png}" if png else ""))
            results.append(result)
            failed = failed or result["requests"]["lost"] > 0
    if len(results) > 1:
        png = plot(results, args.out / f"soak-compare-{stamp}.png")
        if png:
            print(f"  {png}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
