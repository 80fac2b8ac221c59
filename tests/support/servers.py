"""Third-party WSGI servers in real processes, for the validator's interop matrix.

``python -m tests.support.servers NAME FD MODULE:APP`` serves the app on the listening socket
it inherited as file descriptor ``FD`` (bound and listening in the parent, so the port is known
before the child starts and no port is ever guessed). ``NAME`` is one of :data:`SERVERS`.
:func:`start` does that from a test and :meth:`ServerProcess.stop` ends it by its PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]

#: Server name -> the Python module it needs (the test skips, or fails in CI, without it).
SERVERS: dict[str, Optional[str]] = {
    "wsgikit": None,
    "gunicorn-sync": "gunicorn",
    "gunicorn-gthread": "gunicorn",
    "waitress": "waitress",
    "werkzeug": "werkzeug",
    "wsgiref": None,
}


#: What the validator finds on each server's own environ: true positives, each the server's bug
#: (rule -> (what the server does and the section it breaks, text in the finding's detail)).
KNOWN_BUGS: dict[str, dict[str, tuple[str, str]]] = {
    "werkzeug": {
        "S105": (
            "werkzeug.serving puts REMOTE_PORT into the environ as an int; PEP 3333 (A Note On "
            "String Types): it is a violation for a CGI variable's value to be of any type "
            "other than str. Raise mode warns it, never raises it (the app is not at fault)",
            "REMOTE_PORT is",
        ),
    },
}


#: Known bugs that show only with some timings: allowed in a run, not required. The rule, why,
#: and a text the finding must contain.
SOMETIMES: dict[str, dict[str, tuple[str, str]]] = {
    "werkzeug": {
        "S207": (
            "werkzeug.serving's execute() drains the request socket in its finally block before "
            "calling the iterable's close(); when the client has already closed or reset the "
            "connection, that read raises and close() is never called (PEP 3333: the server "
            "must call close()). Whether it happens depends on how fast the client goes",
            "garbage collected without close()",
        ),
    },
}


def allowed_findings(server: str, required: dict[str, tuple[str, str]]
                     ) -> dict[str, tuple[str, str]]:
    """``required`` plus the server's timing-dependent known bugs."""
    return {**required, **SOMETIMES.get(server, {})}


def _load(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _serve_wsgiref(fd: int, app: Any) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            pass

    server = WSGIServer(("127.0.0.1", 0), QuietHandler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=fd)
    server.server_address = server.socket.getsockname()
    server.server_name, server.server_port = "127.0.0.1", server.server_address[1]
    server.setup_environ()
    server.set_app(app)
    server.serve_forever()


def _serve_werkzeug(fd: int, app: Any) -> None:
    from werkzeug.serving import run_simple

    probe = socket.socket(fileno=os.dup(fd))
    port = probe.getsockname()[1]
    probe.close()
    # run_simple takes an inherited socket the way its own reloader hands one to its child
    os.environ["WERKZEUG_RUN_MAIN"] = "true"
    os.environ["WERKZEUG_SERVER_FD"] = str(fd)
    run_simple("127.0.0.1", port, app, threaded=True)


def _serve_waitress(fd: int, app: Any) -> None:
    import waitress

    waitress.serve(app, sockets=[socket.socket(fileno=fd)], threads=4, _quiet=True)


def main(argv: list[str]) -> None:
    name, fd_text, target = argv
    fd = int(fd_text)
    if name.startswith("gunicorn-"):
        from gunicorn.app.wsgiapp import run

        worker = name.split("-", 1)[1]
        sys.argv = ["gunicorn", "-k", worker, "--bind", f"fd://{fd}", "--workers", "1",
                    "--threads", "4", "--graceful-timeout", "2", "--log-level", "warning",
                    target]  # fmt: skip
        run()
        return
    if name == "wsgikit":
        from wsgikit.ops.cli import main as wsgikit_main

        sys.exit(wsgikit_main(["serve", "--bind", f"fd://{fd}", "--threads", "4", target]))
    app = _load(target)
    {"wsgiref": _serve_wsgiref, "werkzeug": _serve_werkzeug, "waitress": _serve_waitress}[name](
        fd, app
    )


class ServerProcess:
    """One server in a child process on an ephemeral loopback port."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port: int = listener.getsockname()[1]
        fd = listener.fileno()
        # a file, not a pipe: nobody reads a pipe while the server runs, and a full one blocks it
        self._log = tempfile.TemporaryFile()
        env = dict(os.environ)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT)])
        env["PYTHONUNBUFFERED"] = "1"
        flags = ["-P"] if sys.flags.safe_path else []
        self.proc = subprocess.Popen(
            [sys.executable, *flags, "-m", "tests.support.servers", name, str(fd), target],
            pass_fds=(fd,),
            env=env,
            cwd=str(ROOT),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        listener.close()  # the child holds the socket now; if it dies, connections are refused
        self.output = ""

    def stop(self, timeout: float = 10.0) -> str:
        """End the process (SIGTERM, then SIGKILL after ``timeout``); return what it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if not self._log.closed:
            self._log.seek(0)
            self.output = self._log.read().decode("utf-8", "replace")
            self._log.close()
        return self.output


def start(name: str, target: str) -> ServerProcess:
    return ServerProcess(name, target)


def wait_ready(server: ServerProcess, path: str = "/", timeout: float = 30.0) -> None:
    """The first answer (the child may still be importing: the kernel queues the connection)."""
    import http.client

    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.stop()}")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
