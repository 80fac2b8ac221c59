"""``--metrics-path``: the server's numbers in Prometheus' text format, summed over workers.

Written by hand rather than with ``prometheus_client``: the server core uses the standard library
only, the format is a few lines of text, and the one hard part, summing ``--workers`` processes,
is simpler here than in ``prometheus_client``'s multi-process mode (a directory of files per
process, cleaned up by the deployer). Every process owns one slot of a shared memory block that
the master maps before forking; a process writes only its own slot and a scrape, answered by any
worker, adds all slots up. A replacement worker takes over its predecessor's slot, so counters
never go back; the master clears the gauges of a worker that is gone.

Counters move with each response (``on_response``); the gauges (connections, busy workers,
queue) are copied from the server's ``stats()`` into the slot about once a second, and at once by
the process that answers the scrape, so other workers' gauges may be a second old.

Format: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Mapping
from typing import Any, Callable, Final, Optional

from wsgikit.ops.status import ServerEndpoint
from wsgikit.types import WSGIApplication

__all__ = ["CONTENT_TYPE", "MetricsEndpoint", "MetricsStore", "Recorder"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other")
STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")
#: Upper bounds of the request duration histogram, in seconds (+Inf is implied).
BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CLIENT_ERROR_KINDS: Final = ("malformed", "timeout", "reset", "tls")
#: Gauges copied from ``Server.stats()``: stats key -> (metric name, help).
GAUGES: Final = {
    "open_connections": ("wsgikit_open_connections", "Connections open now."),
    "parked_connections": ("wsgikit_parked_connections",
                           "Idle keep-alive connections waiting in the parker (no worker held)."),
    "busy_workers": ("wsgikit_busy_workers", "Worker threads running a request now."),
    "threads": ("wsgikit_worker_threads", "Worker threads."),
    "queued": ("wsgikit_queue_depth", "Connections waiting for a worker thread."),
}
#: Counters copied from ``Server.stats()`` (cumulative in each process).
STATS_COUNTERS: Final = {
    "rejected": ("wsgikit_backpressure_rejections_total",
                 "Connections answered 503 because every worker was busy and the queue full."),
    "handshake_timeouts": ("wsgikit_tls_handshake_timeouts_total",
                           "TLS handshakes closed by handshake_timeout."),
    "handshake_failures": ("wsgikit_tls_handshake_failures_total", "TLS handshakes that failed."),
}

# -- the layout of one slot: a fixed vector of float64 --------------------------------------------

_REQUESTS = 0  # len(METHODS) * len(STATUS_CLASSES) counters
_BUCKETS = _REQUESTS + len(METHODS) * len(STATUS_CLASSES)  # cumulative bucket counts, then +Inf
_DURATION_SUM = _BUCKETS + len(BUCKETS) + 1
_BYTES_IN = _DURATION_SUM + 1
_BYTES_OUT = _BYTES_IN + 1
_CLIENT_ERRORS = _BYTES_OUT + 1
_STATS_COUNTERS = _CLIENT_ERRORS + len(CLIENT_ERROR_KINDS)
_WORKER_RESTARTS = _STATS_COUNTERS + len(STATS_COUNTERS)
_GAUGES = _WORKER_RESTARTS + 1
SLOT_VALUES: Final = _GAUGES + len(GAUGES)
_SLOT_BYTES = SLOT_VALUES * 8
#: Slots in a block: one per process (the master's, then its workers'). Worker numbers past this
#: share slots, which would race, so the arbiter caps its worker count's slots at this.
MAX_SLOTS: Final = 256

_METHOD_INDEX = {m: i for i, m in enumerate(METHODS)}


class MetricsStore:
    """A shared block of ``slots`` counter vectors; made before ``fork()`` so children share it."""

    def __init__(self, slots: int = 1) -> None:
        if not 1 <= slots <= MAX_SLOTS:
            raise ValueError(f"slots must be 1..{MAX_SLOTS}, got {slots}")
        self.slots = slots
        # MAP_SHARED | MAP_ANONYMOUS: the same pages in every process forked after this.
        self._map = mmap.mmap(-1, slots * _SLOT_BYTES)
        self._values = memoryview(self._map).cast("d")
        self.owner_pid = os.getpid()

    def slot(self, index: int) -> memoryview[float]:
        """The float64 values of slot ``index`` (a view: writes go to the shared block)."""
        start = index * SLOT_VALUES
        return self._values[start: start + SLOT_VALUES]

    def clear_gauges(self, index: int) -> None:
        """A worker is gone: its gauges no longer describe anything (its counters stay)."""
        values = self.slot(index)
        for i in range(_GAUGES, SLOT_VALUES):
            values[i] = 0.0

    def totals(self) -> list[float]:
        """Every value summed over the slots."""
        out = [0.0] * SLOT_VALUES
        for index in range(self.slots):
            values = self.slot(index)
            for i in range(SLOT_VALUES):
                out[i] += values[i]
        return out

    def render(self) -> str:
        """The whole exposition, in Prometheus' text format 0.0.4."""
        return render(self.totals())


class Recorder:
    """One process's writer into its slot: ``on_response`` for every response, ``publish``
    for the gauges and the server's own counters."""

    def __init__(self, store: MetricsStore, index: int = 0) -> None:
        self.store = store
        self.index = index
        self._values = store.slot(index)
        self._lock = threading.Lock()
        self.stats_source: Optional[Callable[[], Mapping[str, Any]]] = None
        # A replacement worker takes over a slot: the server's own counters start again at 0 in
        # the new process, so they are published on top of what the slot already holds.
        self._base = {i: self._values[i] for i in range(_CLIENT_ERRORS, _WORKER_RESTARTS)}

    def on_response(self, record: Any) -> None:
        """Count one response (a ``connection.ResponseRecord``)."""
        method = _METHOD_INDEX.get(record.method, len(METHODS) - 1)
        status_class = min(max(int(record.status) // 100, 1), 5) - 1
        duration = float(record.duration)
        body = record.environ.get("wsgi.input")
        received = getattr(body, "received", None)
        if received is None:  # another server's input, or none: what the client declared
            try:
                received = int(record.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                received = 0
        values = self._values
        with self._lock:
            values[_REQUESTS + method * len(STATUS_CLASSES) + status_class] += 1
            for i, bound in enumerate(BUCKETS):
                if duration <= bound:
                    values[_BUCKETS + i] += 1
            values[_BUCKETS + len(BUCKETS)] += 1
            values[_DURATION_SUM] += duration
            values[_BYTES_IN] += received
            values[_BYTES_OUT] += record.body_bytes

    def worker_restarted(self) -> None:
        """The arbiter replaced a worker that died or was recycled."""
        with self._lock:
            self._values[_WORKER_RESTARTS] += 1

    def publish(self) -> None:
        """Copy the server's gauges and counters into this process's slot."""
        source = self.stats_source
        if source is None:
            return
        try:
            stats = dict(source())
        except Exception:  # the numbers are informative; never fail a scrape or a tick
            return
        values = self._values
        with self._lock:
            base = self._base
            for i, kind in enumerate(CLIENT_ERROR_KINDS):
                at = _CLIENT_ERRORS + i
                values[at] = base[at] + float(stats.get(f"client_{kind}", 0))
            for i, key in enumerate(STATS_COUNTERS):
                at = _STATS_COUNTERS + i
                values[at] = base[at] + float(stats.get(key, 0))
            for i, key in enumerate(GAUGES):
                values[_GAUGES + i] = float(stats.get(key, 0))

    def start_publishing(self, interval: float = 1.0) -> threading.Event:
        """Publish every ``interval`` seconds in a daemon thread until the event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                self.publish()

        threading.Thread(target=loop, name="wsgikit-metrics", daemon=True).start()
        return stop


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 2 ** 53 else repr(value)


def render(totals: list[float]) -> str:
    """The exposition text for one vector of summed values."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family("wsgikit_requests_total", "counter", "Responses sent, by request method and status "
           "class.")
    for m, method in enumerate(METHODS):
        for s, status_class in enumerate(STATUS_CLASSES):
            value = totals[_REQUESTS + m * len(STATUS_CLASSES) + s]
            lines.append(f'wsgikit_requests_total{{method="{method}",status="{status_class}"}} '
                         f"{_number(value)}")
    family("wsgikit_request_duration_seconds", "histogram",
           "Time from a complete request head to the end of its response.")
    for i, bound in enumerate(BUCKETS):
        lines.append(f'wsgikit_request_duration_seconds_bucket{{le="{bound}"}} '
                     f"{_number(totals[_BUCKETS + i])}")
    count = totals[_BUCKETS + len(BUCKETS)]
    lines.append(f'wsgikit_request_duration_seconds_bucket{{le="+Inf"}} {_number(count)}')
    lines.append(f"wsgikit_request_duration_seconds_sum {_number(totals[_DURATION_SUM])}")
    lines.append(f"wsgikit_request_duration_seconds_count {_number(count)}")
    family("wsgikit_request_body_bytes_total", "counter", "Request body bytes received.")
    lines.append(f"wsgikit_request_body_bytes_total {_number(totals[_BYTES_IN])}")
    family("wsgikit_response_body_bytes_total", "counter", "Response body bytes sent.")
    lines.append(f"wsgikit_response_body_bytes_total {_number(totals[_BYTES_OUT])}")
    family("wsgikit_client_errors_total", "counter",
           "Client-caused errors by kind (see docs/server.rst, the logging policy).")
    for i, kind in enumerate(CLIENT_ERROR_KINDS):
        lines.append(f'wsgikit_client_errors_total{{kind="{kind}"}} '
                     f"{_number(totals[_CLIENT_ERRORS + i])}")
    for i, (name, help_text) in enumerate(STATS_COUNTERS.values()):
        family(name, "counter", help_text)
        lines.append(f"{name} {_number(totals[_STATS_COUNTERS + i])}")
    family("wsgikit_worker_restarts_total", "counter",
           "Worker processes the arbiter started to replace one that exited or died.")
    lines.append(f"wsgikit_worker_restarts_total {_number(totals[_WORKER_RESTARTS])}")
    for i, (name, help_text) in enumerate(GAUGES.values()):
        family(name, "gauge", help_text)
        lines.append(f"{name} {_number(totals[_GAUGES + i])}")
    return "\n".join(lines) + "\n"


class MetricsEndpoint(ServerEndpoint):
    """WSGI wrapper answering GET/HEAD ``path`` with the exposition, before the app."""

    what = "the metrics"

    def __init__(self, app: WSGIApplication, *, path: str, recorder: Recorder) -> None:
        super().__init__(app, path=path)
        self.recorder = recorder

    def render(self) -> tuple[str, str, bytes]:
        self.recorder.publish()  # this process's gauges as of now
        return "200 OK", CONTENT_TYPE, self.recorder.store.render().encode("utf-8")
