"""``--reload`` (development only): run the server in a child process, restart it on code change.

The parent binds the listening sockets once and hands them to each child (so the address stays
the same and a port clash is reported once), then polls file modification times: stat polling
works everywhere and costs one ``os.stat`` per watched file per interval. Files are the project's
files matching ``reload_include`` globs and not ``reload_exclude``; hidden folders, virtual
environments and ``__pycache__`` are never walked.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Callable, Optional

from wsgikit.config import RELOADER_CHILD_ENV, ServerConfig
from wsgikit.ops.run import INHERITED_FDS_ENV
from wsgikit.server.listener import Listener

__all__ = ["BANNER", "iter_watched_files", "snapshot", "Reloader"]

log = logging.getLogger("wsgikit.reload")

BANNER = (
    "development mode (--reload): restarting when source files change. "
    "Do not use --reload in production."
)
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "env", "build", "dist"}
_MAX_FILES = 20000  # a bound on one scan; a tree bigger than this is not a project


def _matches(rel: str, globs: Sequence[str]) -> bool:
    name = os.path.basename(rel)
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in globs)


def iter_watched_files(
    root: str, include: Sequence[str], exclude: Sequence[str]
) -> Iterator[str]:
    """Files under ``root`` matching ``include`` and not ``exclude`` (globs on name or path)."""
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and d not in _SKIP_DIRS
            and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))
            and not _matches(os.path.relpath(os.path.join(folder, d), root), exclude)
        ]
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if _matches(rel, include) and not _matches(rel, exclude):
                yield path
                count += 1
                if count >= _MAX_FILES:
                    return


def snapshot(root: str, include: Sequence[str], exclude: Sequence[str]) -> dict[str, float]:
    """``{path: mtime}`` for every watched file."""
    out = {}
    for path in iter_watched_files(root, include, exclude):
        try:
            out[path] = os.stat(path).st_mtime_ns / 1e9
        except OSError:
            continue
    return out


class Reloader:
    """Keep one child ``python -m wsgikit ...`` running; restart it when watched files change."""

    def __init__(
        self,
        argv: Sequence[str],
        config: ServerConfig,
        listeners: Sequence[Listener],
        *,
        root: Optional[str] = None,
    ) -> None:
        self.argv = list(argv)
        self.config = config
        self.listeners = list(listeners)
        self.root = os.path.abspath(root or os.getcwd())
        self.child: Optional[subprocess.Popen[bytes]] = None
        self.stopping = False

    def _start(self) -> None:
        fds = [listener.sock.fileno() for listener in self.listeners]
        env = dict(os.environ)
        env[RELOADER_CHILD_ENV] = "1"
        env[INHERITED_FDS_ENV] = ",".join(str(fd) for fd in fds)
        for listener in self.listeners:
            listener.sock.set_inheritable(True)
        self.child = subprocess.Popen(
            [sys.executable, "-m", "wsgikit", *self.argv], env=env, pass_fds=fds
        )

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        # SIGQUIT: a code change restarts at once, never waiting out a drain_delay
        child.send_signal(signal.SIGQUIT)
        try:
            child.wait(timeout=min(self.config.graceful_timeout, 10.0) + 2.0)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10.0)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self, on_start: Optional[Callable[[], None]] = None) -> int:
        """Watch and restart until SIGTERM/SIGINT; return 0."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        log.warning(BANNER)
        if on_start is not None:
            on_start()
        include, exclude = self.config.reload_include, self.config.reload_exclude
        seen = snapshot(self.root, include, exclude)
        log.info("watching %d file(s) under %s", len(seen), self.root)
        self._start()
        reported_exit = False
        try:
            while not self.stopping:
                time.sleep(self.config.reload_interval)
                if self.stopping:
                    break
                child = self.child
                if child is not None and child.poll() is not None and not reported_exit:
                    log.error(
                        "the server exited with code %s; waiting for a file change",
                        child.returncode,
                    )
                    reported_exit = True
                current = snapshot(self.root, include, exclude)
                changed = sorted(
                    p for p in current.keys() | seen.keys() if current.get(p) != seen.get(p)
                )
                if not changed:
                    continue
                seen = current
                log.warning(
                    "%s changed; restarting", os.path.relpath(changed[0], self.root)
                    + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
                )
                self._stop_child()
                self._start()
                reported_exit = False
        finally:
            self._stop_child()
        return 0
