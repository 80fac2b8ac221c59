"""WorkerPool: bounded threads and queue, FIFO, refusal when full, bounded shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from wsgikit.server.workers import WorkerPool


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_runs_jobs_and_counts_idle_workers():
    pool = WorkerPool(2, 4)
    pool.start()
    done = []
    assert pool.submit(lambda: done.append(1))
    wait_for(lambda: done == [1] and pool.idle == 2)
    assert pool.busy == 0 and pool.queued == 0
    assert pool.shutdown(5)


def test_refuses_when_all_busy_and_queue_full_then_recovers():
    pool = WorkerPool(1, 1)
    pool.start()
    gate = threading.Event()
    started = threading.Event()

    def block():
        started.set()
        gate.wait(5)

    assert pool.submit(block)
    assert started.wait(5)
    assert pool.busy == 1
    assert pool.submit(lambda: None)  # one may wait
    assert pool.queued == 1
    assert not pool.submit(lambda: None)  # the queue is full
    assert pool.submit(lambda: None, force=True)  # owned work bypasses the bound
    gate.set()
    wait_for(lambda: pool.queued == 0 and pool.busy == 0)
    assert pool.submit(lambda: None)
    assert pool.shutdown(5)


def test_fifo_order_with_one_worker():
    pool = WorkerPool(1, 100)
    order = []
    for i in range(20):
        assert pool.submit(lambda i=i: order.append(i))
    pool.start()
    assert pool.shutdown(5)  # queued jobs still run before the workers stop
    assert order == list(range(20))


def test_failing_job_does_not_kill_the_worker(caplog):
    pool = WorkerPool(1, 10)
    pool.start()
    done = threading.Event()

    def boom():
        raise RuntimeError("job failed")

    assert pool.submit(boom)
    assert pool.submit(done.set)
    assert done.wait(5)
    assert any("job failed" in (r.exc_text or "") for r in caplog.records)
    assert pool.shutdown(5)


def test_shutdown_is_bounded_and_refuses_new_jobs():
    pool = WorkerPool(1, 10)
    pool.start()
    gate = threading.Event()
    pool.submit(lambda: gate.wait(5))
    started = time.monotonic()
    assert pool.shutdown(0.2) is False  # the job is still running
    assert time.monotonic() - started < 2
    assert not pool.submit(lambda: None)
    gate.set()
    assert pool.shutdown(5) is True


@pytest.mark.parametrize("threads,queued", [(0, 1), (1, -1)])
def test_bad_sizes_are_rejected(threads, queued):
    with pytest.raises(ValueError):
        WorkerPool(threads, queued)


def test_a_lingering_job_is_called_back_when_a_job_queues_and_no_worker_is_idle():
    """One byte per call on the call socket, taken by exactly one lingering job."""
    import select

    pool = WorkerPool(1, 10)
    pool.start()
    outcome: dict[str, object] = {}
    lingering = threading.Event()

    def lingerer():
        fd = pool.linger_begin()
        try:
            lingering.set()
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            outcome["fired"] = bool(poller.poll(5000))
            outcome["took"] = pool.take_call()
            outcome["took_again"] = pool.take_call()  # one call, one taker
        finally:
            pool.linger_end()

    assert pool.submit(lingerer)
    assert lingering.wait(5)
    wait_for(lambda: pool.busy == 1)
    ran = threading.Event()
    started = time.monotonic()
    assert pool.submit(ran.set)  # queued: the only worker is lingering
    assert ran.wait(5)
    assert time.monotonic() - started < 2.0  # called back, not after the 5 s wait
    assert outcome == {"fired": True, "took": True, "took_again": False}
    assert pool.shutdown(5)


def test_no_call_while_a_worker_is_idle():
    import select

    pool = WorkerPool(2, 10)
    pool.start()
    wait_for(lambda: pool.idle == 2)
    fd = pool.linger_begin()  # as if a job lingered (no worker is running one here)
    try:
        done = threading.Event()
        assert pool.submit(done.set)  # an idle worker takes it: nobody is called
        assert done.wait(5)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(100) == []
        assert not pool.take_call()
    finally:
        pool.linger_end()
    assert pool.shutdown(5)
