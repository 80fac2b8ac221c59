"""Hung-request watchdog: a request running longer than a threshold gets its stack logged once.

``RequestWatchdog(app, warn_after=...)`` records which thread runs each request and when it
started; a monitor thread looks every fraction of the threshold and logs the stack of any
request past it (``sys._current_frames``), once per request. Nothing is killed: the log line
tells an operator *where* a request is stuck (gunicorn's ``timeout`` only helps sync workers).
A request lasts until its response iterable is closed, so slow streaming counts too.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgikit.util import request_path

__all__ = ["RequestWatchdog"]

log = logging.getLogger("wsgikit.watchdog")


@dataclass
class _Running:
    thread_id: int
    started: float
    method: str
    target: str
    warned: bool = False


class RequestWatchdog:
    """WSGI wrapper logging the stack of each request that runs past ``warn_after`` seconds."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        warn_after: float,
        interval: Optional[float] = None,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if isinstance(warn_after, bool) or not isinstance(warn_after, (int, float)):
            raise TypeError("warn_after must be a number of seconds")
        if warn_after <= 0:
            raise ValueError(f"warn_after must be positive, got {warn_after}")
        self.app = app
        self.warn_after = float(warn_after)
        self.interval = interval if interval is not None else min(1.0, self.warn_after / 4)
        self.logger = logger or log
        self._running: dict[int, _Running] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._monitor: Optional[threading.Thread] = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self._ensure_monitor()
        key = next(self._ids)
        target = request_path(environ)
        entry = _Running(
            threading.get_ident(), time.monotonic(), environ.get("REQUEST_METHOD", ""), target
        )
        with self._lock:
            self._running[key] = entry
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._done(key)
            raise
        return _Tracked(result, lambda: self._done(key))

    def _done(self, key: int) -> None:
        with self._lock:
            self._running.pop(key, None)

    def _ensure_monitor(self) -> None:
        if self._monitor is not None and self._monitor.is_alive():
            return
        with self._lock:
            if self._monitor is None or not self._monitor.is_alive():
                self._monitor = threading.Thread(
                    target=self._watch, name="wsgikit-watchdog", daemon=True
                )
                self._monitor.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def check(self) -> int:
        """Log every request past the threshold not logged yet; return how many were logged."""
        now = time.monotonic()
        with self._lock:
            late = [e for e in self._running.values() if not e.warned and now - e.started >=
                    self.warn_after]
            for entry in late:
                entry.warned = True
        frames = sys._current_frames()
        for entry in late:
            frame = frames.get(entry.thread_id)
            stack = "".join(traceback.format_stack(frame)) if frame else "(thread has ended)\n"
            self.logger.warning(
                "request %s %s has run %.1fs (over %.1fs); its thread's stack:\n%s",
                entry.method,
                entry.target,
                now - entry.started,
                self.warn_after,
                stack.rstrip("\n"),
            )
        return len(late)

    def close(self) -> None:
        """Stop the monitor thread (tests; a server's process exit does it too)."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(5.0)


class _Tracked:
    """The app's iterable, passing ``close()`` through and then marking the request done."""

    def __init__(self, result: Iterable[bytes], done: Any) -> None:
        self._result = result
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._done()
