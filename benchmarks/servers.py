"""How to start each benchmarked server as a child process on a free loopback port.

Every server runs the same app from :mod:`benchmarks.apps`, pinned to one core with ``taskset``,
with the same number of worker threads where it has a pool (werkzeug and wsgiref start a thread
per connection instead). Readiness is a connect() poll with a deadline; a server is stopped by its
PID (SIGTERM, then SIGKILL to the process group it leads, which holds only its own workers).

werkzeug and wsgiref have no command line of their own, so this module is also their runner:
``python -m benchmarks.servers werkzeug|wsgiref HOST PORT MODULE:APP``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_THREADS = 8
SERVER_CPU = "0"
CLIENT_CPU = "1"
START_DEADLINE_S = 20.0
STOP_DEADLINE_S = 5.0


@dataclass(frozen=True)
class LaunchOptions:
    """What every server is told: where to listen, which app, how many threads and processes."""

    port: int
    app: str  # "benchmarks.apps:hello"
    threads: int = DEFAULT_THREADS
    workers: int = 1
    python: str = sys.executable
    wsgikit_build: str = "python"  # or "compiled": the mypyc build from tools/compile.py
    certfile: Optional[str] = None  # TLS: every server gets the same certificate and key
    keyfile: Optional[str] = None


@dataclass(frozen=True)
class ServerSpec:
    """One benchmarked server: its name, what it is, and how to build its command line."""

    name: str
    description: str
    build: Callable[[LaunchOptions], list[str]]
    pure_python: bool = True
    supports_workers: bool = False  # True when ``workers > 1`` means real worker processes
    supports_tls: bool = False


#: Where tools/compile.py (``make compiled``) puts the compiled wsgikit.
COMPILED_DIR = REPO_ROOT / "build" / "compiled"
WSGIKIT_BUILDS = ("python", "compiled")


def _wsgikit(opts: LaunchOptions) -> list[str]:
    if opts.wsgikit_build not in WSGIKIT_BUILDS:
        raise ValueError(
            f"unknown wsgikit build {opts.wsgikit_build!r}; known: {', '.join(WSGIKIT_BUILDS)}"
        )
    python = [opts.python, "-m"]
    if opts.wsgikit_build == "compiled":
        if not COMPILED_DIR.is_dir():
            raise ValueError(f"no compiled build in {COMPILED_DIR}: run make compiled")
        # -P: the working directory must not put the source package before the compiled one.
        path = os.pathsep.join([str(COMPILED_DIR), str(REPO_ROOT)])
        python = ["env", f"PYTHONPATH={path}", opts.python, "-P", "-m"]
    argv = [*python, "wsgikit", "serve", "--host", HOST, "--port", str(opts.port),
            "--threads", str(opts.threads)]
    if opts.workers > 1:
        argv += ["--workers", str(opts.workers)]
    return [*argv, *_tls_flags(opts), opts.app]


def _tls_flags(opts: LaunchOptions) -> list[str]:
    """``--certfile C --keyfile K`` (wsgikit's and gunicorn's spelling) when TLS is on."""
    if not opts.certfile:
        return []
    return ["--certfile", opts.certfile, "--keyfile", opts.keyfile or opts.certfile]


def _waitress(opts: LaunchOptions) -> list[str]:
    return [opts.python, "-m", "waitress", f"--listen={HOST}:{opts.port}",
            f"--threads={opts.threads}", opts.app]


def _gunicorn(worker_class: str) -> Callable[[LaunchOptions], list[str]]:
    def build(opts: LaunchOptions) -> list[str]:
        argv = [opts.python, "-m", "gunicorn", "--bind", f"{HOST}:{opts.port}",
                "--worker-class", worker_class, "--workers", str(opts.workers),
                "--log-level", "warning"]
        if worker_class == "gthread":
            argv += ["--threads", str(opts.threads)]
        return [*argv, *_tls_flags(opts), opts.app]

    return build


def _cheroot(opts: LaunchOptions) -> list[str]:
    if opts.certfile:  # cheroot's command line has no TLS options: our runner sets its adapter
        return [opts.python, "-m", "benchmarks.servers", "cheroot-tls", HOST, str(opts.port),
                opts.app, str(opts.threads), opts.certfile, opts.keyfile or opts.certfile]
    return [opts.python, "-m", "cheroot", "--bind", f"{HOST}:{opts.port}",
            "--threads", str(opts.threads), "--max-threads", str(opts.threads), opts.app]


def _own_runner(kind: str) -> Callable[[LaunchOptions], list[str]]:
    def build(opts: LaunchOptions) -> list[str]:
        return [opts.python, "-m", "benchmarks.servers", kind, HOST, str(opts.port), opts.app]

    return build


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("wsgikit", "wsgikit serve --threads N", _wsgikit, supports_workers=True,
                   supports_tls=True),
        ServerSpec("waitress", "waitress --threads N (asyncore loop + thread pool)", _waitress),
        ServerSpec("gunicorn-gthread", "gunicorn -k gthread -w 1 --threads N", _gunicorn("gthread"),
                   supports_workers=True, supports_tls=True),
        ServerSpec("gunicorn-sync", "gunicorn -k sync -w 1 (no keep-alive)", _gunicorn("sync")),
        ServerSpec("cheroot", "cheroot --threads N --max-threads N (TLS: builtin ssl adapter)",
                   _cheroot, supports_tls=True),
        ServerSpec("werkzeug", "werkzeug run_simple(threaded=True), thread per connection",
                   _own_runner("werkzeug")),
        ServerSpec("wsgiref", "wsgiref WSGIServer + ThreadingMixIn, thread per connection",
                   _own_runner("wsgiref")),
    )
}
PEERS = tuple(name for name in SERVERS if name != "wsgikit")


def pinned(argv: list[str], cpu: str) -> list[str]:
    """Prefix ``taskset -c CPU`` when taskset exists and the machine has more than one core."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpu, *argv]
    return argv


def server_command(name: str, opts: LaunchOptions, cpu: Optional[str] = SERVER_CPU) -> list[str]:
    """The full command line (pinned when ``cpu`` is given) for server ``name``."""
    try:
        spec = SERVERS[name]
    except KeyError:
        raise ValueError(f"unknown server {name!r}; known: {', '.join(SERVERS)}") from None
    if opts.workers > 1 and not spec.supports_workers:
        raise ValueError(f"server {name!r} has no worker processes option")
    if opts.certfile and not spec.supports_tls:
        raise ValueError(f"server {name!r} is not benchmarked with TLS")
    argv = spec.build(opts)
    return pinned(argv, cpu) if cpu is not None else argv


def wsgikit_supports_workers(python: str = sys.executable) -> bool:
    """Whether ``wsgikit serve`` accepts ``--workers`` (the ops work adds it)."""
    try:
        out = subprocess.run(
            [python, "-m", "wsgikit", "serve", "--help"], cwd=REPO_ROOT, env=child_env(),
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--workers" in out.stdout


def free_port() -> int:
    """A loopback port the kernel just handed out (free unless someone races us for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def tls_files(directory: Path) -> tuple[str, str]:
    """A self-signed ECDSA P-256 certificate for localhost/127.0.0.1 and its key, made with the
    ``openssl`` command once per directory (every TLS cell serves the same one)."""
    cert, key = directory / "bench-cert.pem", directory / "bench-key.pem"
    if not (cert.is_file() and key.is_file()):
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30,
        )
    return str(cert), str(key)


class ServerStartError(RuntimeError):
    """The server exited or did not listen before the deadline; carries its log tail."""


class RunningServer:
    """A started server process; ``stop()`` ends it (and only it) by PID."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=child_env(), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, limit: int = 2000) -> str:
        self._log.flush()
        try:
            return self.log_path.read_bytes()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_listening(self, deadline_s: float = START_DEADLINE_S) -> None:
        """Poll the port until it accepts a connection, the process exits, or time runs out."""
        give_up = time.monotonic() + deadline_s
        while time.monotonic() < give_up:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise ServerStartError(
            f"{self.name} not listening on {self.port} after {deadline_s}s:\n{self.log_tail()}"
        )

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        """SIGTERM the server, then SIGKILL its group.

        Not SIGINT: a process started from a non-interactive shell's background job inherits
        SIGINT ignored, and gunicorn treats SIGTERM as its (quick when idle) graceful stop.
        """
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=deadline_s)
            except subprocess.TimeoutExpired:
                pass
        # The process group was created for this server alone (start_new_session): its workers.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def start_server(
    name: str, opts: LaunchOptions, log_dir: Path, cpu: Optional[str] = SERVER_CPU
) -> RunningServer:
    """Start server ``name`` and return once it listens (or raise ServerStartError)."""
    argv = server_command(name, opts, cpu)
    log_dir.mkdir(parents=True, exist_ok=True)
    server = RunningServer(name, argv, opts.port, log_dir / f"{name}-{opts.port}.log")
    try:
        server.wait_listening()
    except BaseException:
        server.stop()
        raise
    return server


# --- runners for the servers that have no command line of their own -----------------------------


def _import_app(ref: str) -> Callable[..., object]:
    import importlib

    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr or "app")  # type: ignore[no-any-return]


def _run_werkzeug(host: str, port: int, app: Callable[..., object]) -> None:
    import logging

    from werkzeug.serving import run_simple

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log line: fair to all
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


def _run_wsgiref(host: str, port: int, app: Callable[..., object]) -> None:
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 1024

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    make_server(host, port, app, ThreadingWSGIServer, QuietHandler).serve_forever()


def _run_cheroot_tls(host: str, port: int, app: Callable[..., object], threads: int,
                     certfile: str, keyfile: str) -> None:
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    server = wsgi.Server((host, port), app, numthreads=threads, max=threads)
    server.ssl_adapter = BuiltinSSLAdapter(certfile, keyfile)
    try:
        server.start()
    finally:
        server.stop()


def _main(argv: list[str]) -> int:
    if len(argv) == 7 and argv[0] == "cheroot-tls":
        _, host, port, ref, threads, certfile, keyfile = argv
        try:
            _run_cheroot_tls(host, int(port), _import_app(ref), int(threads), certfile, keyfile)
        except KeyboardInterrupt:
            pass
        return 0
    if len(argv) != 4 or argv[0] not in ("werkzeug", "wsgiref"):
        print("usage: python -m benchmarks.servers werkzeug|wsgiref HOST PORT MODULE:APP\n"
              "       python -m benchmarks.servers cheroot-tls HOST PORT MODULE:APP THREADS "
              "CERT KEY", file=sys.stderr)
        return 2
    kind, host, port, ref = argv
    run = _run_werkzeug if kind == "werkzeug" else _run_wsgiref
    try:
        run(host, int(port), _import_app(ref))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
