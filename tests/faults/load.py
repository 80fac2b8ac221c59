"""A small bounded HTTP load for the signal tests: every request's outcome, classified.

Outcomes: ``ok`` (a whole 2xx response), ``refused`` (connect() refused: nobody listening),
``lost`` (connected and sent, but no whole response: the server dropped a request it had
taken), and ``retry`` (a keep-alive connection closed by the server before any byte of the
response to a request sent on it: the race every keep-alive client handles by retrying on a
new connection, RFC 9112 §9.3.1; the load retries it and counts it). ``pid`` is the process
that answered (the opsapp's JSON says).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Outcome:
    at: float
    client: int
    kind: str  # ok | refused | lost | retry
    pid: Optional[int] = None
    detail: str = ""


@dataclass
class Load:
    host: str
    port: int
    fresh_clients: int = 4  # a new connection per request
    keepalive_clients: int = 4  # one connection reused until the server closes it
    path: str = "/sleep/0.01"
    outcomes: list[Outcome] = field(default_factory=list)
    pids_by_client: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _connect(self, client: int) -> Optional[http.client.HTTPConnection]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.connect()
        except ConnectionRefusedError as exc:
            self._record(Outcome(time.monotonic(), client, "refused", detail=str(exc)))
            conn.close()
            time.sleep(0.02)
            return None
        return conn

    def _one(self, client: int, conn: http.client.HTTPConnection, reused: bool) -> bool:
        """One request on ``conn``; True if the connection may be used again."""
        started = time.monotonic()
        got_bytes = False
        try:
            conn.request("GET", self.path)
            response = conn.getresponse()
            got_bytes = True
            body = response.read()
            if response.status != 200:
                raise OSError(f"status {response.status}")
            pid = int(json.loads(body)["pid"])
            self._record(Outcome(started, client, "ok", pid))
            return not response.will_close
        except (OSError, http.client.HTTPException) as exc:
            kind = "retry" if reused and not got_bytes else "lost"
            self._record(Outcome(started, client, kind, detail=f"{type(exc).__name__}: {exc}"))
            return False

    def _run(self, client: int, keepalive: bool) -> None:
        conn: Optional[http.client.HTTPConnection] = None
        reused = False
        while not self._stop.is_set():
            if conn is None:
                conn = self._connect(client)
                reused = False
                if conn is None:
                    continue
            again = self._one(client, conn, reused)
            if keepalive and again:
                reused = True
                continue
            conn.close()
            conn = None
        if conn is not None:
            conn.close()

    def start(self) -> Load:
        for i in range(self.fresh_clients + self.keepalive_clients):
            keepalive = i >= self.fresh_clients
            thread = threading.Thread(target=self._run, args=(i, keepalive), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        assert not any(t.is_alive() for t in self._threads), "load clients did not stop"

    def count(self, kind: str, since: float = 0.0, until: float = float("inf")) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.kind == kind and since <= o.at < until)

    def details(self, *kinds: str) -> list[str]:
        with self._lock:
            return [f"{o.kind} client {o.client}: {o.detail}" for o in self.outcomes
                    if o.kind in kinds][:10]
