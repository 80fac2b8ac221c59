"""A bounded pool of worker threads. It runs callables and knows nothing about HTTP.

Bounded twice: a fixed number of threads, and a queue that refuses work past ``max_queued``
jobs waiting for a busy pool, so overload becomes a quick refusal (the server's 503) instead of
unbounded memory and latency.

A job may wait briefly on a socket of its own before it ends (a connection lingering for its
client's next request). Such a job can be *called* back: it watches ``linger_begin()``'s file
descriptor, and when a job is queued with no worker idle the pool writes one byte there, which
one lingering job takes (``take_call()``) and ends, freeing its worker for the queued job. A
call that no lingering job takes (they all ended on their own) is taken by the next one to
linger, which then ends early once for nothing: at most one such call per worker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Optional

from wsgikit.server.keepalive import WakeUp

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
        # calls to lingering jobs: one wake-up per call, taken by exactly one of them
        self._call = WakeUp()
        self._lingering = 0  # jobs between linger_begin() and linger_end()
        self._calls = 0  # calls made and not yet taken (never more than the workers)

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
            call = self._waiting > self._idle and self._lingering > self._calls
            if call:
                self._calls += 1
        self._jobs.put(job)
        if call:
            self._call.set()
        return True

    def linger_begin(self) -> int:
        """A job starts waiting on a socket of its own: the descriptor to watch for a call."""
        with self._lock:
            self._lingering += 1
        return self._call.fileno()

    def linger_end(self) -> None:
        with self._lock:
            self._lingering -= 1

    def take_call(self) -> bool:
        """The call descriptor fired: True if this job took the call (it should end now)."""
        if not self._call.take():  # another lingering job took it first
            return False
        with self._lock:
            self._calls -= 1
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
        done = not any(t.is_alive() for t in workers if t is not threading.current_thread())
        if done and not any(t is threading.current_thread() for t in workers):
            # no job can be watching the call socket any more (else the garbage collector
            # closes it with the pool: closing it under a watcher could hand its number on)
            self._call.close()
        return done

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
