"""Pre-fork master for ``--workers N`` (POSIX): N processes share the master's listeners.

Signals, as gunicorn users expect:

- ``SIGTERM``/``SIGINT``: every worker reports draining on the status path, serves on for
  ``drain_delay``, then drains (up to ``graceful_timeout``); then the master exits 0.
  ``SIGQUIT`` does the same without the delay.
- ``SIGHUP``: re-import the app's code and reload the TLS certificate and key, start a new set
  of workers, and once they are ready drain the old set. A new version that fails to import is
  logged and the old workers stay; a certificate that cannot be used is logged and the current
  one stays.
- ``SIGTTIN``/``SIGTTOU``: one worker more / one fewer (never below one).
- A worker that dies is replaced; a worker that cannot even start, again and again, stops the
  master with exit code 1 rather than looping forever.

The app is imported in the master before forking (a bad module is exit 2 at once, and workers
start fast); ``SIGHUP`` re-imports the modules that came from the project (not site-packages).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from wsgikit.config import ServerConfig
from wsgikit.ops import systemd
from wsgikit.ops.run import run_server
from wsgikit.server.listener import Listener
from wsgikit.types import WSGIApplication

if TYPE_CHECKING:
    import ssl  # annotations only: importing ssl grows every process that never uses TLS

__all__ = ["Arbiter", "purge_app_modules"]

log = logging.getLogger("wsgikit.arbiter")

#: The signals the master handles (each worker resets them to its own).
MASTER_SIGNALS = (
    signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
    signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD,
)

_BOOT_TIMEOUT = 30.0  # how long a new worker may take to build its server
_FAST_FAILURES = 5  # consecutive workers dying before ready: give up


@dataclass
class _Worker:
    pid: int
    generation: int
    started: float
    ready_fd: int
    ready: bool = False
    metrics_slot: int = -1  # its slot of the shared metrics store (-1: metrics off)


def purge_app_modules(baseline: set[str]) -> None:
    """Forget modules imported since ``baseline`` that are not installed packages.

    The next ``import_app`` then reads the project's code from disk again.
    """
    # The standard library lives under base_prefix (a venv's sys.prefix holds only
    # site-packages): re-importing ssl there would give the TLS code new exception classes that
    # the context made before does not raise. wsgikit itself is not the app either.
    prefixes = tuple({os.path.join(p, "lib") for p in (
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)})
    for name in list(sys.modules):
        if name in baseline or name == "__main__" or name.partition(".")[0] == "wsgikit":
            continue
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) or ""
        installed = "site-packages" in path or "dist-packages" in path
        if not path or installed or path.startswith(prefixes):
            continue
        del sys.modules[name]


class Arbiter:
    """Run ``workers`` copies of the server and keep them running until told to stop."""

    def __init__(
        self,
        app: WSGIApplication,
        config: ServerConfig,
        listeners: Sequence[Listener],
        ssl_context: Optional[ssl.SSLContext],
        *,
        reload_app: Optional[Callable[[], WSGIApplication]] = None,
    ) -> None:
        if config.workers < 1:
            raise ValueError("workers must be at least 1")
        self.app = app
        self.config = config
        self.listeners = list(listeners)
        self.ssl_context = ssl_context
        self.reload_app = reload_app
        self.target = config.workers
        self.generation = 0
        self.workers: dict[int, _Worker] = {}
        self.retiring: dict[int, _Worker] = {}
        self.stopping = False
        self.fast_failures = 0
        self._signals: list[int] = []
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.master_pid = os.getpid()
        # --metrics-path: one shared store mapped before any fork; slot 0 is the master's
        # (worker restarts), each worker writes its own and any of them answers the scrape.
        self.metrics_store: Any = None
        self._master_metrics: Any = None
        self._free_slots: list[int] = []
        self._spawn_slot = -1
        if config.metrics_path:
            from wsgikit.ops.metrics import MAX_SLOTS, MetricsStore, Recorder

            self.metrics_store = MetricsStore(MAX_SLOTS)
            self._master_metrics = Recorder(self.metrics_store, 0)
            self._free_slots = list(range(MAX_SLOTS - 1, 0, -1))  # pop() takes the lowest

    # -- signals --------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)
        try:
            os.write(self._wake_w, b"!")
        except OSError:
            pass

    def _install_signals(self) -> None:
        for signum in MASTER_SIGNALS:
            signal.signal(signum, self._on_signal)

    # -- workers --------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        ready_r, ready_w = os.pipe()
        self._spawn_slot = -1
        if self.metrics_store is not None:
            if self._free_slots:
                self._spawn_slot = self._free_slots.pop()
            else:
                log.warning("more worker processes than metrics slots: this one is not counted")
        # The child starts with the master's handlers, and a busy machine may not run it for a
        # while: a stop signal then would be taken by them and lost. Blocked across the fork,
        # it waits until the child has its own handlers (or the default: it just ends).
        unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, MASTER_SIGNALS)
        try:
            pid = os.fork()
        finally:
            if os.getpid() == self.master_pid:
                signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
        if pid == 0:  # the worker
            os.close(ready_r)
            code = 1
            try:
                code = self._worker_main(ready_w, unblocked)
            except BaseException:
                log.exception("worker %d crashed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(ready_w)
        worker = _Worker(pid, self.generation, time.monotonic(), ready_r,
                         metrics_slot=self._spawn_slot)
        self.workers[pid] = worker
        log.info("worker %d started (generation %d)", pid, self.generation)
        return worker

    def _worker_main(self, ready_w: int, unblocked: set[int | signal.Signals]) -> int:
        # Until run_server installs its graceful handlers, a stop signal simply ends the worker
        # (it serves nothing yet); the master's handlers must not run in the child.
        for signum in MASTER_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)  # a signal held since the fork
        os.close(self._wake_r)
        os.close(self._wake_w)
        for other in list(self.workers.values()) + list(self.retiring.values()):
            try:
                os.close(other.ready_fd)
            except OSError:
                pass

        def ready() -> None:
            os.write(ready_w, b"1")
            os.close(ready_w)

        metrics = None
        if self.metrics_store is not None and self._spawn_slot >= 0:
            from wsgikit.ops.metrics import Recorder

            metrics = Recorder(self.metrics_store, self._spawn_slot)
        return run_server(
            self.app,
            self.config,
            self.listeners,
            self.ssl_context,
            ready=ready,
            notify_systemd=False,
            parent_pid=self.master_pid,
            metrics=metrics,
        )

    def _check_ready(self, timeout: float) -> None:
        pending = {
            w.ready_fd: w for w in self.workers.values() if not w.ready and w.ready_fd >= 0
        }
        if not pending:
            return
        readable, _, _ = select.select(list(pending), [], [], timeout)
        for fd in readable:
            worker = pending[fd]
            try:
                data = os.read(fd, 1)
            except OSError:
                data = b""
            if data:
                worker.ready = True
                self.fast_failures = 0
            os.close(fd)
            worker.ready_fd = -1

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            retired = pid in self.retiring
            worker = self.workers.pop(pid, None) or self.retiring.pop(pid, None)
            if worker is None:
                continue
            if worker.metrics_slot >= 0:  # its counters stay in the sum; its gauges are void
                self.metrics_store.clear_gauges(worker.metrics_slot)
                self._free_slots.append(worker.metrics_slot)
                self._free_slots.sort(reverse=True)
            if worker.ready_fd >= 0 and not worker.ready:
                try:
                    os.close(worker.ready_fd)
                except OSError:
                    pass
                worker.ready_fd = -1
            how = (
                f"signal {signal.Signals(-os.waitstatus_to_exitcode(status)).name}"
                if os.WIFSIGNALED(status)
                else f"exit code {os.waitstatus_to_exitcode(status)}"
            )
            if self.stopping or retired or worker.generation < self.generation:
                log.info("worker %d exited (%s)", pid, how)
                continue
            if not worker.ready:
                self.fast_failures += 1
            if self._master_metrics is not None:
                self._master_metrics.worker_restarted()
            if worker.ready and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                log.info("worker %d exited (%s); starting a replacement", pid, how)
            else:
                log.warning("worker %d died (%s); starting a replacement", pid, how)

    def _signal_all(self, workers: Sequence[_Worker], signum: int) -> None:
        for worker in workers:
            try:
                os.kill(worker.pid, signum)
            except ProcessLookupError:
                pass

    def _retire(self, workers: Sequence[_Worker]) -> None:
        for worker in workers:
            self.workers.pop(worker.pid, None)
            self.retiring[worker.pid] = worker
        # SIGQUIT: drain now, without drain_delay: the other workers keep the instance
        # serving, and a retiring worker must not answer health checks with 503 meanwhile.
        self._signal_all(workers, signal.SIGQUIT)

    # -- events ---------------------------------------------------------------------------------

    def _reload_tls(self) -> bool:
        """SIGHUP with TLS: a new context from the certificate files for the new workers.

        False (and one ERROR line; the current context stays) when they cannot be used.
        """
        if self.ssl_context is None or not self.config.certfile:
            return False
        from wsgikit.config import ConfigError
        from wsgikit.server.tls import make_ssl_context

        try:
            context = make_ssl_context(self.config)
        except ConfigError as exc:
            log.error("SIGHUP: new TLS certificate refused, the current one stays in service: "
                      "%s", exc)
            return False
        if context is None:  # pragma: no cover - certfile is set
            return False
        self.ssl_context = context
        log.info("SIGHUP: TLS certificate reloaded from %s", ", ".join(self.config.certfile))
        return True

    def _reload(self) -> None:
        # One signal reloads both the code and the certificate: new workers get both, the old
        # ones finish their requests. A certificate renewal alone still restarts the workers
        # (gracefully); --tls-reload-interval swaps it inside running workers instead.
        app_error: Optional[Exception] = None
        if self.reload_app is not None:
            try:
                self.app = self.reload_app()
            except Exception as exc:
                app_error = exc
        new_tls = self._reload_tls()
        if app_error is not None:
            if not new_tls:
                log.error("SIGHUP: reloading the app failed, keeping the old workers: %s",
                          app_error)
                return
            log.error("SIGHUP: reloading the app failed, new workers run the previous app "
                      "(for the new TLS certificate): %s", app_error)
        old = list(self.workers.values())
        self.generation += 1
        log.info("SIGHUP: starting %d new worker(s), then draining %d old", self.target, len(old))
        for _ in range(self.target):
            self._spawn()
        deadline = time.monotonic() + _BOOT_TIMEOUT
        while time.monotonic() < deadline:
            self._check_ready(0.2)
            self._reap()
            fresh = [w for w in self.workers.values() if w.generation == self.generation]
            if all(w.ready for w in fresh) and len(fresh) == self.target:
                break
        self._retire(old)

    def _handle(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            if not self.stopping:
                log.info("%s: draining %d worker(s)", signal.Signals(signum).name,
                         len(self.workers))
                self.stopping = True
                systemd.notify("STOPPING=1")
                # SIGQUIT passes on as SIGQUIT: drain without the drain_delay
                quick = signal.SIGQUIT if signum == signal.SIGQUIT else signal.SIGTERM
                self._signal_all(list(self.workers.values()), quick)
                # The workers take what is in the backlog and close their copies; were the
                # master's copy open until it exits, clients connecting meanwhile would sit
                # in the backlog and be reset then, instead of refused now.
                for listener in self.listeners:
                    listener.sock.close()
        elif signum == signal.SIGHUP and not self.stopping:
            self._reload()
        elif signum == signal.SIGTTIN and not self.stopping:
            self.target += 1
            log.info("SIGTTIN: %d worker(s) wanted", self.target)
        elif signum == signal.SIGTTOU and not self.stopping:
            if self.target > 1:
                self.target -= 1
                oldest = sorted(self.workers.values(), key=lambda w: w.started)
                self._retire(oldest[: max(0, len(self.workers) - self.target)])
            log.info("SIGTTOU: %d worker(s) wanted", self.target)

    def _wait(self, timeout: float) -> None:
        fds = [self._wake_r] + [w.ready_fd for w in self.workers.values() if not w.ready
                                and w.ready_fd >= 0]
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            return
        if self._wake_r in readable:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        self._check_ready(0)

    def run(self, on_start: Optional[Callable[[], None]] = None) -> int:
        """The master loop; returns the process exit code."""
        self._install_signals()
        if on_start is not None:
            on_start()
        for _ in range(self.target):
            self._spawn()
        notified = False
        try:
            while not self.stopping or self.workers or self.retiring:
                if self.stopping:
                    self._stop_all()
                    break
                self._wait(1.0)
                self._reap()
                while self._signals:
                    self._handle(self._signals.pop(0))
                if self.stopping:
                    continue
                if self.fast_failures >= _FAST_FAILURES:
                    log.error("workers keep failing to start; giving up")
                    self.stopping = True
                    self._stop_all()
                    return 1
                while len(self.workers) < self.target:
                    self._spawn()
                if not notified and all(w.ready for w in self.workers.values()):
                    systemd.notify("READY=1")
                    notified = True
        finally:
            os.close(self._wake_r)
            os.close(self._wake_w)
        return 0

    def _stop_all(self) -> None:
        everyone = list(self.workers.values()) + list(self.retiring.values())
        self._signal_all(everyone, signal.SIGTERM)
        deadline = (time.monotonic() + self.config.drain_delay + self.config.graceful_timeout
                    + 5.0)
        while (self.workers or self.retiring) and time.monotonic() < deadline:
            self._reap()
            try:
                readable, _, _ = select.select([self._wake_r], [], [], 0.1)
                if readable:
                    os.read(self._wake_r, 4096)
            except (InterruptedError, BlockingIOError):
                pass
        left = list(self.workers.values()) + list(self.retiring.values())
        if left:
            log.warning("killing %d worker(s) still running after the grace period", len(left))
            self._signal_all(left, signal.SIGKILL)
            for worker in left:
                try:
                    os.waitpid(worker.pid, 0)
                except ChildProcessError:
                    pass
            self.workers.clear()
            self.retiring.clear()
        log.info("all workers stopped")
