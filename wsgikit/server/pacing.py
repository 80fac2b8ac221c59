"""How long the server may wait on a slow client: a budget of waiting time refilled by progress.

``send_timeout`` and ``body_timeout`` alone restart on every byte, so a client that sends or
reads a little at a time keeps a worker for as long as it likes. A :class:`Pace` bounds the
average rate instead, like a token bucket: it starts with ``window`` seconds, each byte moved
earns ``1 / rate`` seconds more (never more than ``window`` in all, so a fast start cannot
bank time for a trickle later), and waiting spends it. A client slower than ``rate`` on average
runs out within about ``window / (1 - its rate / rate)`` seconds of waiting; a faster one never
does. Only time spent waiting on the client counts, so a slow app is never blamed. With
``rate = 0`` every wait gets the whole window: only a silence of ``window`` seconds ends it.
"""

from __future__ import annotations

__all__ = ["Pace"]


class Pace:
    """The waiting budget of one direction of one connection (see the module docstring)."""

    __slots__ = ("window", "rate", "moved", "_credited", "_budget")

    def __init__(self, window: float, rate: int) -> None:
        self.window = window
        self.rate = rate
        self.moved = 0  # bytes moved in all; the caller adds to it
        self._credited = 0
        self._budget = window

    def reset(self) -> None:
        """A new request or response: a full budget, no credit carried over."""
        self._budget = self.window
        self._credited = self.moved

    def allowance(self) -> float:
        """Seconds the server may wait now (``<= 0``: the client is too slow)."""
        if not self.rate:
            return self.window
        earned = (self.moved - self._credited) / self.rate
        self._credited = self.moved
        self._budget = min(self.window, self._budget + earned)
        return self._budget

    def spend(self, seconds: float) -> None:
        """``seconds`` were spent waiting."""
        self._budget -= seconds
