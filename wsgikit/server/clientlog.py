"""Client-caused errors are counted, not logged one by one: a client must not control the log.

A malformed request, a slowloris timeout, a reset or an aborted TLS handshake is the client's
doing, and a hostile client can cause thousands a second. Each one is logged at DEBUG only; at
INFO there is at most one summary line per interval, such as::

    wsgikit: client errors in the last 60 s: 412 malformed requests from 37 clients,
    9 timeouts from 2 clients

Server faults (the app raising, an internal error, accept() failing) do not come here: they stay
WARNING/ERROR lines of their own. Memory is bounded too: at most ``MAX_CLIENTS`` distinct
addresses are remembered per interval (the summary then says "at least").
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Final, Optional

__all__ = ["ClientErrorLog", "KINDS", "INTERVAL", "MAX_CLIENTS", "LogThrottle", "kind_of"]

#: Seconds between two summary lines (a summary is written only if something happened).
INTERVAL: Final = 60.0
#: Distinct client addresses remembered per interval and kind.
MAX_CLIENTS: Final = 4096
#: The kinds of client error, in summary order, with the noun used for a count of them.
KINDS: Final = {
    "malformed": ("malformed request", "malformed requests"),
    "timeout": ("timeout", "timeouts"),
    "reset": ("connection reset or abandoned", "connections reset or abandoned"),
    "tls": ("failed TLS handshake", "failed TLS handshakes"),
}


class LogThrottle:
    """One log line per ``interval`` seconds for an event that can repeat many times a second
    (a refused connection, a failing accept()): counts the events, says when a line is due.

    Not locked: it is called from the one accept thread, and a lost count under a race would
    only change a number in a log line.
    """

    __slots__ = ("interval", "events", "_logged_events", "_logged_at")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.events = 0  # since the last reset()
        self._logged_events = 0
        self._logged_at: Optional[float] = None

    def count(self, now: Optional[float] = None) -> Optional[tuple[int, float]]:
        """Count one event. When a line is due: (events since the last line, seconds since the
        last line, ``inf`` for the first); else None."""
        self.events += 1
        now = time.monotonic() if now is None else now
        last = self._logged_at
        if last is not None and now - last < self.interval:
            return None
        since = self.events - self._logged_events
        self._logged_events, self._logged_at = self.events, now
        return since, (now - last if last is not None else float("inf"))

    def reset(self) -> None:
        """The condition is over: the next event logs at once, and counts start again."""
        self.events = self._logged_events = 0
        self._logged_at = None


def kind_of(exc: BaseException) -> str:
    """The kind of client error ``exc`` is: a 408 or a stalled send is a timeout, any other
    error with an HTTP status (``http11.ProtocolError``) a malformed request, the rest a reset."""
    status = getattr(exc, "status", None)
    if status == 408 or isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError):
        return "timeout"
    if isinstance(status, int):
        return "malformed"
    return "reset"


class _Tally:
    __slots__ = ("count", "clients", "more_clients")

    def __init__(self) -> None:
        self.count = 0
        self.clients: set[str] = set()
        self.more_clients = False


class ClientErrorLog:
    """Counts client-caused errors by kind; one DEBUG line each, one INFO summary per interval.

    Thread-safe: workers call :meth:`record`; someone calls :meth:`tick` now and then (the
    server's accept loop does) so that a summary comes out even when the errors stop.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._window_start = clock()
        self._tallies: dict[str, _Tally] = {}
        #: Totals since start, by kind (never reset; for stats and tests).
        self.totals: dict[str, int] = dict.fromkeys(KINDS, 0)

    def record(self, kind: str, client: str, detail: str = "") -> None:
        """Count one client error of ``kind`` (a key of :data:`KINDS`) from address ``client``."""
        if kind not in KINDS:
            raise ValueError(f"unknown client error kind {kind!r}")
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("wsgikit: client %s: %s%s", client or "-", KINDS[kind][0],
                              f": {detail}" if detail else "")
        now = self.clock()
        with self._lock:
            self.totals[kind] += 1
            tally = self._tallies.get(kind)
            if tally is None:
                tally = self._tallies[kind] = _Tally()
            tally.count += 1
            if client not in tally.clients:
                if len(tally.clients) < self.max_clients:
                    tally.clients.add(client)
                else:
                    tally.more_clients = True
            line = self._roll(now)
        if line:
            self.logger.info("%s", line)

    def tick(self, now: Optional[float] = None) -> None:
        """Write the summary if the interval is over (cheap when it is not)."""
        now = self.clock() if now is None else now
        if now - self._window_start < self.interval:
            return
        with self._lock:
            line = self._roll(now)
        if line:
            self.logger.info("%s", line)

    def flush(self) -> None:
        """Write the summary of whatever was counted so far (at shutdown)."""
        with self._lock:
            line = self._roll(self.clock(), force=True)
        if line:
            self.logger.info("%s", line)

    def _roll(self, now: float, force: bool = False) -> str:
        """End the interval if it is over (or ``force``): its summary line, or ""."""
        elapsed = now - self._window_start
        if elapsed < self.interval and not force:
            return ""
        tallies, self._tallies = self._tallies, {}
        self._window_start = now
        if not tallies:
            return ""
        parts = []
        for kind, (one, many) in KINDS.items():
            tally = tallies.get(kind)
            if tally is None:
                continue
            clients = len(tally.clients)
            who = f"{'at least ' if tally.more_clients else ''}{clients} client" + (
                "" if clients == 1 and not tally.more_clients else "s")
            parts.append(f"{tally.count} {one if tally.count == 1 else many} from {who}")
        return f"wsgikit: client errors in the last {elapsed:.0f} s: {', '.join(parts)}"
