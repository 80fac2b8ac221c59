"""The benchmark scenarios and the issue-3 targets, as data.

A scenario says which app runs, how wrk drives it and what a correct response looks like. A target
is a ratio of wsgikit to a peer (or a limit) measured in the same run, never an absolute number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from benchmarks import apps
from benchmarks.servers import PEERS

ALL_SERVERS = ("wsgikit", *PEERS)
#: The servers with TLS of their own worth comparing (waitress has none; werkzeug and wsgiref
#: are development servers).
TLS_SERVERS = ("wsgikit", "gunicorn-gthread", "cheroot")


@dataclass(frozen=True)
class Scenario:
    """One row of the results: an app, a load shape, and the response every server must give."""

    name: str
    description: str
    app: str  # attribute of benchmarks.apps
    connections: int
    expected_body: bytes
    method: str = "GET"
    request_body: Optional[bytes] = None
    headers: tuple[tuple[str, str], ...] = ()
    lua: Optional[str] = None  # request-shaping script in benchmarks/wrk/
    keep_alive: bool = True  # whether a correct HTTP/1.1 server keeps the connection open
    servers: tuple[str, ...] = ALL_SERVERS
    workers: int = 1
    requires_wsgikit_workers: bool = False
    tls: bool = False  # HTTPS with a self-signed ECDSA P-256 certificate (servers.tls_files)

    @property
    def app_ref(self) -> str:
        return f"benchmarks.apps:{self.app}"


@dataclass(frozen=True)
class Target:
    """``wsgikit / peer >= threshold`` (kind "ratio"), or a limit on wsgikit alone.

    ``peer`` is a server name, or "best" (the fastest valid peer in that scenario), or
    "best-pure-python". Kinds: "ratio" (good req/s), "p99" (wsgikit p99 ms <= threshold ms,
    or, with a peer, <= threshold x the peer's p99), "rss" (wsgikit peak RSS <= threshold x the
    peer's).
    """

    scenario: str
    kind: str
    threshold: float
    peer: Optional[str] = None
    label: str = field(default="")

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.kind == "ratio":
            return f"{self.scenario}: wsgikit >= {self.threshold:g} x {self.peer}"
        if self.kind == "p99" and self.peer:
            return f"{self.scenario}: wsgikit p99 <= {self.threshold:g} x {self.peer}'s"
        if self.kind == "p99":
            return f"{self.scenario}: wsgikit p99 <= {self.threshold:g} ms"
        return f"{self.scenario}: wsgikit peak RSS <= {self.threshold:g} x {self.peer}"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("hello-10", "hello world, keep-alive, 10 connections", "hello", 10,
             apps.HELLO_BODY),
    Scenario("hello-100", "hello world, keep-alive, 100 connections (peak RSS sampled here)",
             "hello", 100, apps.HELLO_BODY),
    Scenario("hello-close", "hello world, `Connection: close` on every request, 10 connections",
             "hello", 10, apps.HELLO_BODY, headers=(("Connection", "close"),), keep_alive=False),
    Scenario("body-1m", "1 MiB body in one bytes object, keep-alive, 10 connections", "body_1m",
             10, apps.BIG_BODY),
    Scenario("stream-1m", "1 MiB from a generator in 64 KiB chunks, keep-alive, 10 connections",
             "stream_1m", 10, apps.BIG_BODY),
    Scenario("post-64k", "64 KiB POST echoed back, keep-alive, 10 connections", "echo", 10,
             apps.POST_BODY, method="POST", request_body=apps.POST_BODY,
             headers=(("Content-Type", "application/octet-stream"),), lua="post_64k.lua"),
    Scenario("workers-2", "hello world, keep-alive, 100 connections, 2 worker processes",
             "hello", 100, apps.HELLO_BODY, servers=("wsgikit", "gunicorn-gthread"), workers=2,
             requires_wsgikit_workers=True),
    Scenario("tls-hello-10", "hello world over TLS, keep-alive, 10 connections", "hello", 10,
             apps.HELLO_BODY, servers=TLS_SERVERS, tls=True),
    Scenario("tls-hello-close", "hello world over TLS, `Connection: close`: a full handshake per "
             "request (req/s = handshakes/s), 10 connections", "hello", 10, apps.HELLO_BODY,
             headers=(("Connection", "close"),), keep_alive=False, servers=TLS_SERVERS, tls=True),
)
SCENARIOS_BY_NAME = {s.name: s for s in SCENARIOS}

#: The speed targets of the default install (issue 20), then issue 3's connection-close and
#: memory targets, still reported.
TARGETS: tuple[Target, ...] = (
    Target("hello-10", "ratio", 3.0, "waitress"),
    Target("hello-100", "ratio", 3.0, "waitress"),
    Target("hello-100", "p99", 1.0, "waitress"),
    Target("hello-close", "ratio", 1.2, "best"),
    Target("body-1m", "ratio", 1.5, "best-pure-python"),
    Target("stream-1m", "ratio", 1.5, "best-pure-python"),
    Target("post-64k", "ratio", 2.0, "cheroot"),
    Target("hello-100", "rss", 1.0, "waitress"),
)

RSS_SCENARIO = "hello-100"


def select(only: Optional[str]) -> tuple[Scenario, ...]:
    """Scenarios named in a comma list (all when None); unknown names raise ValueError."""
    if not only:
        return SCENARIOS
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS_BY_NAME]
    if unknown:
        raise ValueError(
            f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS_BY_NAME)}"
        )
    return tuple(s for s in SCENARIOS if s.name in names)
