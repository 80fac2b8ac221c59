"""``BoundedCache``: the one kind of cache on the request path, never larger than its limit.

The request path remembers work it would otherwise repeat on every request: a response head it
has built, a status line, Host or Server value it has validated, this second's Date line. Keys
may come from clients, so every such cache is bounded, and all by one rule: when full, it is
emptied before the next entry goes in. That costs nothing on a hit (an LRU reorders on every
hit), and a working set that fits the limit is back after one round of misses.

Shared by all threads without a lock, as the dicts before it were: each call does one or two
dict operations (each atomic under the GIL, and locked per object in free-threaded builds);
a value is immutable and equal for equal keys, so a race costs at most a repeated computation
or an entry lost to a concurrent ``clear()``, and the size can pass the limit by at most one
entry per thread racing in ``put()``.
"""

from __future__ import annotations

from typing import Generic, Iterator, Optional, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``limit`` entries; ``put`` into a full cache empties it first."""

    __slots__ = ("limit", "_data")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._data: dict[K, V] = {}

    def get(self, key: K) -> Optional[V]:
        """The value remembered for ``key``, or None."""
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key``, emptying the cache first if it is full."""
        data = self._data
        if len(data) >= self.limit:
            data.clear()
        data[key] = value

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:  # for inspection: the request path uses get()
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))  # a copy: another thread may change the cache meanwhile
