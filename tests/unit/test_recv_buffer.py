"""The per-thread receive buffer (wsgikit.server.transport): one per thread, the same one each
time.

A shared buffer would mix two connections' bytes. The first version subclassed threading.local,
which mypyc compiles into a class whose attributes are not per thread: the compiled pass
crashed or served another request's body. This runs in both passes of make test.
"""

from __future__ import annotations

import threading

from wsgikit.server import transport


def test_each_thread_has_its_own_buffer_and_keeps_it():
    threads = 6
    barrier = threading.Barrier(threads, timeout=10)
    seen: list[tuple[memoryview, bool]] = []
    lock = threading.Lock()

    def worker() -> None:
        first = transport._recv_buffer()
        barrier.wait()  # every thread holds its buffer at the same time
        again = transport._recv_buffer()
        first[:4] = threading.current_thread().name[-4:].encode().ljust(4, b"-")
        barrier.wait()
        with lock:
            seen.append((first, again is first
                         and bytes(first[:4]) == threading.current_thread().name[-4:]
                         .encode().ljust(4, b"-")))

    workers = [threading.Thread(target=worker, name=f"buf-{i:04d}") for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(10)
    assert len(seen) == threads
    assert all(same for _, same in seen)
    assert len({id(view) for view, _ in seen}) == threads  # all alive at once: all distinct
    assert all(len(view) == transport.RECV_SIZE for view, _ in seen)
