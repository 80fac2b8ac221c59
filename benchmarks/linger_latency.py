"""Latency of a new client while every worker lingers on a quiet keep-alive connection.

    python -m benchmarks.linger_latency [--think SECONDS] [--threads N] [--seconds S]

``--threads`` clients ("thinkers") each send a request on their own keep-alive connection, then
pause ``--think`` seconds, so every worker keeps lingering (``keepalive_linger``) for their next
request. Meanwhile a probe client opens a connection, sends one request and times the answer.
Without the pool's call-back the probe waits for a linger to end (up to 20 ms by default);
with it, a lingering worker gives its quiet connection up at once. Prints the probe's latency
percentiles. In-process, loopback only, bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

from benchmarks import apps
from wsgikit.server import make_server

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def _exchange(sock: socket.socket) -> None:
    """Send one request and read until the whole hello response is in."""
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(apps.HELLO_BODY):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--think", type=float, default=0.05, help="thinkers' pause (s)")
    parser.add_argument("--threads", type=int, default=2, help="server worker threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the run")
    args = parser.parse_args()

    server = make_server(apps.hello, host="127.0.0.1", port=0, threads=args.threads)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = time.monotonic() + args.seconds

    def thinker() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            try:
                while time.monotonic() < stop:
                    _exchange(sock)
                    time.sleep(args.think)
            except OSError:  # the server shuts down at the end of the run
                return

    thinkers = [threading.Thread(target=thinker, daemon=True) for _ in range(args.threads)]
    for t in thinkers:
        t.start()
    time.sleep(0.2)
    latencies = []
    while time.monotonic() < stop - 0.2:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            started = time.perf_counter()
            _exchange(sock)
            latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.003)
    server.shutdown()
    server.server_close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    print(f"threads={args.threads} think={args.think}s probes={len(latencies)}: "
          f"p50 {pct(0.5):.2f} ms, p90 {pct(0.9):.2f} ms, p99 {pct(0.99):.2f} ms, "
          f"max {latencies[-1]:.2f} ms")


if __name__ == "__main__":
    main()
