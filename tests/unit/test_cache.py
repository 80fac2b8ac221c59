"""``wsgikit.http11.cache.BoundedCache``: the one eviction rule of the request path's caches."""

from __future__ import annotations

import threading

import pytest

from wsgikit.http11 import _head, writer
from wsgikit.http11.cache import BoundedCache


def test_get_returns_what_put_remembered_and_none_for_the_rest():
    cache: BoundedCache[str, int] = BoundedCache(4)
    cache.put("a", 1)
    assert cache.get("a") == 1 and cache.get("b") is None
    assert "a" in cache and "b" not in cache and list(cache) == ["a"]


def test_a_full_cache_is_emptied_before_the_next_entry():
    cache: BoundedCache[int, int] = BoundedCache(3)
    for i in range(3):
        cache.put(i, i)
    assert len(cache) == 3 and all(cache.get(i) == i for i in range(3))
    cache.put(3, 3)  # full: emptied first, then the new entry
    assert len(cache) == 1 and cache.get(3) == 3 and cache.get(0) is None
    for i in range(100):
        cache.put(i, i)
        assert len(cache) <= 3


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        BoundedCache(0)


def test_threads_racing_never_see_a_wrong_value_and_the_size_stays_near_the_limit():
    """Many threads putting and getting at once: a hit is always the value for its key; the
    size passes the limit by at most one entry per thread (the module docstring's promise)."""
    cache: BoundedCache[int, int] = BoundedCache(8)
    threads = 8
    wrong: list[tuple[int, int]] = []
    sizes: list[int] = []
    barrier = threading.Barrier(threads, timeout=10)

    def worker(seed: int) -> None:
        barrier.wait()
        for i in range(20000):
            key = (i * 7 + seed) % 50
            value = cache.get(key)
            if value is not None and value != key * 2:
                wrong.append((key, value))
            cache.put(key, key * 2)
            if i % 100 == 0:
                sizes.append(len(cache))

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(30)
    assert not any(thread.is_alive() for thread in workers)
    assert wrong == []
    assert sizes and max(sizes) <= 8 + threads


@pytest.mark.parametrize(
    "cache",
    [writer._DATES, writer._VALID_SERVER_HEADERS, writer._HEADS, writer._STATUS_CODES,
     _head._VALID_HOSTS],
    ids=["date", "server-header", "heads", "status-codes", "hosts"],
)
def test_every_request_path_cache_is_a_bounded_cache(cache):
    """The five caches of the request path share the one rule (no module keeps its own)."""
    assert type(cache) is BoundedCache
    assert 1 <= cache.limit <= 512
