"""A bounded pool of worker threads. It runs callables and knows nothing about HTTP.

Bounded twice: a fixed number of threads, and a queue that refuses work past ``max_queued``
jobs waiting for a busy pool, so overload becomes a quick refusal (the server's 503) instead of
unbounded memory and latency.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Optional

__all__ = ["WorkerPool"]

log = logging.getLogger("wsgikit.error")

Job = Callable[[], object]


class WorkerPool:
    """``threads`` workers running submitted jobs in FIFO order; at most ``max_queued`` waiting."""

    def __init__(
        self, threads: int, max_queued: int, *, name: str = "wsgikit-worker"
    ) -> None:
        if threads <= 0:
            raise ValueError(f"threads must be positive, got {threads}")
        if max_queued < 0:
            raise ValueError(f"max_queued must be 0 or more, got {max_queued}")
        self.threads = threads
        self.max_queued = max_queued
        self.name = name
        self._jobs: queue.SimpleQueue[Optional[Job]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0  # submitted, not yet started
        self._idle = 0  # threads blocked waiting for a job
        self._busy = 0
        self._closed = False
        self._workers: list[threading.Thread] = []

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads (idempotent)."""
        with self._lock:
            if self._workers or self._closed:
                return
            # Started under the lock: shutdown() never sees (and joins) a thread not yet started.
            for i in range(self.threads):
                thread = threading.Thread(target=self._run, name=f"{self.name}-{i}", daemon=True)
                thread.start()
                self._workers.append(thread)

    def submit(self, job: Job, *, force: bool = False) -> bool:
        """Queue ``job``; False (job not queued) if every worker is busy and the queue is full.

        ``force`` skips the queue bound: for work the server already owns (a parked keep-alive
        connection that became readable), whose number is bounded by the connection limit.
        """
        with self._lock:
            if self._closed:
                return False
            if not force and self._waiting - self._idle >= self.max_queued:
                return False
            self._waiting += 1
        self._jobs.put(job)
        return True

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Refuse new jobs, let queued and running ones finish; True if all did in ``timeout``."""
        with self._lock:
            already = self._closed
            self._closed = True
            workers = list(self._workers)
        if not already:
            for _ in workers:
                self._jobs.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in workers:
            if thread is threading.current_thread():
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(t.is_alive() for t in workers if t is not threading.current_thread())

    # -- introspection ----------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Jobs submitted that no worker has picked up yet."""
        return max(0, self._waiting - self._idle)

    @property
    def busy(self) -> int:
        """Workers running a job."""
        return self._busy

    @property
    def idle(self) -> int:
        """Workers waiting for a job."""
        return self._idle

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the worker loop --------------------------------------------------------------------------

    def _run(self) -> None:
        jobs = self._jobs
        lock = self._lock
        while True:
            with lock:
                self._idle += 1
            job = jobs.get()
            with lock:
                self._idle -= 1
                if job is None:
                    return
                self._waiting -= 1
                self._busy += 1
            try:
                job()
            except BaseException:  # a job's failure must never kill the worker
                log.exception("wsgikit: worker job %r failed", job)
            finally:
                with lock:
                    self._busy -= 1
                job = None
