"""Run one benchmark cell (a scenario on a server): start, check, warm up, measure, stop.

A cell is only measured after a sample response was checked byte for byte, so a server that
answers with errors cannot "win". wrk's own error counts are kept, and closed TCP connections are
counted with ``ss`` (wrk reports no error when a server closes after every response).
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from benchmarks.scenarios import Scenario
from benchmarks.servers import (
    CLIENT_CPU,
    HOST,
    LaunchOptions,
    ServerStartError,
    free_port,
    pinned,
    start_server,
    tls_files,
)

WRK_DIR = Path(__file__).resolve().parent / "wrk"
CHECK_TIMEOUT_S = 15.0
MAX_ERROR_RATE = 0.01


@dataclass
class Cell:
    """The result of one scenario on one server (what the JSON file and the report hold)."""

    scenario: str
    server: str
    status: str = "pending"  # ok | errors | invalid | failed | skipped
    reason: str = ""
    keep_alive: Optional[bool] = None  # what the sample check saw
    requests: int = 0
    duration_s: float = 0.0
    rps: float = 0.0
    good_rps: float = 0.0  # 2xx/3xx responses per second: what ratios use
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    max_ms: Optional[float] = None
    errors: dict[str, int] = field(default_factory=dict)
    error_rate: float = 0.0
    mib_per_s: float = 0.0
    new_connections: Optional[int] = None  # TCP connections accepted during the measured run
    server_closes: Optional[int] = None  # TIME_WAIT sockets the server side left (it closed)
    client_closes: Optional[int] = None
    peak_rss_mib: Optional[float] = None
    cpu_us_per_request: Optional[float] = None  # server CPU (user + system) per request
    command: list[str] = field(default_factory=list)
    repeats_rps: list[float] = field(default_factory=list)  # good req/s of every repeat

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def usable(self) -> bool:
        """Measured with a correct sample (peers with some errors still count by good req/s)."""
        return self.status in ("ok", "errors")


def best_of(repeats: list[Cell]) -> Cell:
    """Merge repeated measurements of one cell: the fastest usable repeat stands for it.

    Other processes on the machine can only slow a run down, so the best repeat is the least
    disturbed one. A repeat whose sample response was wrong (invalid) or that failed outright
    wins over any measurement: a server that is wrong once is not measured as right.
    """
    if not repeats:
        raise ValueError("best_of needs at least one repeat")
    for cell in repeats:
        if cell.status in ("invalid", "failed"):
            broken = cell
            break
    else:
        broken = None
    chosen = broken or max(repeats, key=lambda c: c.good_rps)
    chosen.repeats_rps = [round(c.good_rps, 1) for c in repeats]
    return chosen


# --- the correctness check -----------------------------------------------------------------------


def _request(
    conn: http.client.HTTPConnection, scenario: Scenario
) -> tuple[http.client.HTTPResponse, bytes]:
    headers = dict(scenario.headers)
    conn.request(scenario.method, "/", body=scenario.request_body, headers=headers)
    resp = conn.getresponse()
    return resp, resp.read()


def check_sample(port: int, scenario: Scenario) -> tuple[bool, str, Optional[bool]]:
    """Send the scenario's request twice; return (correct, reason, connection kept alive)."""
    conn: http.client.HTTPConnection
    if scenario.tls:
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False  # the benchmark's own self-signed certificate
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(HOST, port, timeout=CHECK_TIMEOUT_S, context=context)
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=CHECK_TIMEOUT_S)
    try:
        resp, body = _request(conn, scenario)
        if resp.status != 200:
            return False, f"sample answered {resp.status} {resp.reason}", None
        if body != scenario.expected_body:
            return False, (
                f"sample body wrong: {len(body)} bytes, expected {len(scenario.expected_body)}"
            ), None
        sock = conn.sock
        kept = not resp.will_close and sock is not None
        resp2, body2 = _request(conn, scenario)
        if resp2.status != 200 or body2 != scenario.expected_body:
            return False, f"second sample answered {resp2.status} with a wrong body", kept
        kept = kept and conn.sock is sock
        if not scenario.keep_alive and kept:
            return False, "server kept the connection open after `Connection: close`", kept
        return True, "", kept
    except (OSError, http.client.HTTPException) as exc:
        return False, f"sample request failed: {type(exc).__name__}: {exc}", None
    finally:
        conn.close()


# --- wrk and the socket census -------------------------------------------------------------------


def wrk_script(scenario: Scenario, out_dir: Path) -> Path:
    """The scenario's request script followed by the JSON summary (wrk takes one script)."""
    parts = []
    if scenario.lua:
        parts.append((WRK_DIR / scenario.lua).read_text())
    parts.append((WRK_DIR / "report.lua").read_text())
    path = out_dir / f"wrk-{scenario.name}.lua"
    path.write_text("\n".join(parts))
    return path


def wrk_command(
    scenario: Scenario, port: int, duration_s: float, script: Path, cpu: Optional[str] = CLIENT_CPU
) -> list[str]:
    """wrk with one thread, the scenario's connections, latency stats and the JSON summary."""
    argv = ["wrk", "-t1", f"-c{scenario.connections}", f"-d{max(1, round(duration_s))}s",
            "--latency", "--timeout", "5s", "-s", str(script)]
    for name, value in scenario.headers:
        if scenario.lua and name.lower() == "content-type":
            continue  # the script sets it
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"{'https' if scenario.tls else 'http'}://{HOST}:{port}/")
    return pinned(argv, cpu) if cpu is not None else argv


def parse_wrk(output: str) -> dict[str, float]:
    """The WRKJSON line that benchmarks/wrk/report.lua prints; ValueError if it is missing."""
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line[len("WRKJSON "):])
            return {k: float(v) for k, v in data.items()}
    raise ValueError(f"no WRKJSON summary in wrk output:\n{output[-1500:]}")


def count_time_wait(port: int) -> tuple[int, int]:
    """TIME_WAIT sockets on ``port``: (server side closed first, client side closed first)."""
    if shutil.which("ss") is None:
        return -1, -1

    def count(expr: str) -> int:
        out = subprocess.run(
            ["ss", "-tanH", "state", "time-wait", expr], capture_output=True, text=True,
            timeout=30, check=False,
        ).stdout
        return sum(1 for line in out.splitlines() if line.strip())

    return count(f"( sport = :{port} )"), count(f"( dport = :{port} )")


def passive_opens() -> int:
    """Connections accepted so far in this network namespace (``/proc/net/snmp`` Tcp row).

    The delta over a run counts the connections wrk opened: about 0 per request when keep-alive
    works, 1 when the server closes after every response. Other loopback traffic on the machine
    adds a little noise; -1 when the counter is unavailable.
    """
    try:
        rows = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
                if line.startswith("Tcp:")]
        header, values = rows[0], rows[1]
        return int(values[header.index("PassiveOpens")])
    except (OSError, IndexError, ValueError):
        return -1


class ProcessSampler:
    """Samples a process and its children (gunicorn workers) every ``interval_s``: peak RSS
    and CPU time used since the sampler started.

    CPU time per request is the steadiest number on a shared machine: other processes slow
    the server down, but barely change how much CPU it spends on each request.
    """

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)

    @property
    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process tree since ``__enter__``."""
        return sum(last - self._cpu_start.get(pid, 0.0) for pid, last in self._cpu_last.items())

    def _sample(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return
        rss = 0
        for p in procs:
            try:
                with p.oneshot():
                    rss += p.memory_info().rss
                    times = p.cpu_times()
            except psutil.Error:
                continue
            self._cpu_last[p.pid] = times.user + times.system
        self.peak_bytes = max(self.peak_bytes, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> ProcessSampler:
        self._sample()
        self._cpu_start = dict(self._cpu_last)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()


def _run_wrk(argv: list[str], duration_s: float) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


# --- one cell ------------------------------------------------------------------------------------


def fill_from_wrk(cell: Cell, data: dict[str, float]) -> None:
    """Copy wrk's summary into the cell and classify it (ok, or errors over 1 %)."""
    duration = data["duration_us"] / 1e6 or 1e-9
    requests = int(data["requests"])
    errors = {k: int(data[k]) for k in ("connect", "read", "write", "status", "timeout")}
    cell.requests = requests
    cell.duration_s = round(duration, 3)
    cell.rps = requests / duration
    cell.good_rps = max(0, requests - errors["status"]) / duration
    cell.p50_ms = data["p50_us"] / 1000
    cell.p90_ms = data["p90_us"] / 1000
    cell.p99_ms = data["p99_us"] / 1000
    cell.max_ms = data["max_us"] / 1000
    cell.mib_per_s = data["bytes"] / duration / (1024 * 1024)
    cell.errors = errors
    cell.error_rate = sum(errors.values()) / max(requests, 1)
    if requests == 0:
        cell.status, cell.reason = "failed", "wrk completed no request"
    elif cell.error_rate > MAX_ERROR_RATE:
        cell.status = "errors"
        cell.reason = f"{cell.error_rate:.1%} of requests failed ({errors})"
    else:
        cell.status = "ok"


def run_cell(
    scenario: Scenario,
    server: str,
    *,
    duration_s: float,
    warmup_s: float,
    threads: int,
    out_dir: Path,
    sample_rss: bool = True,
    wsgikit_build: str = "python",
) -> Cell:
    """Start ``server`` with the scenario's app, check it, warm it up, measure it, stop it."""
    cell = Cell(scenario.name, server)
    port = free_port()
    try:
        certfile, keyfile = tls_files(out_dir / "tls") if scenario.tls else (None, None)
        opts = LaunchOptions(port=port, app=scenario.app_ref, threads=threads,
                             workers=scenario.workers, wsgikit_build=wsgikit_build,
                             certfile=certfile, keyfile=keyfile)
        running = start_server(server, opts, out_dir / "logs")
    except (ServerStartError, ValueError, OSError, subprocess.SubprocessError) as exc:
        cell.status, cell.reason = "failed", f"did not start: {str(exc)[:400]}"
        return cell
    cell.command = running.argv
    try:
        ok, reason, kept = check_sample(port, scenario)
        cell.keep_alive = kept
        if not ok:
            cell.status, cell.reason = "invalid", reason
            return cell
        script = wrk_script(scenario, out_dir)
        if warmup_s > 0:
            _run_wrk(wrk_command(scenario, port, warmup_s, script), warmup_s)
        tw_before = count_time_wait(port)
        opens_before = passive_opens()
        with ProcessSampler(running.pid) as sampler:
            output = _run_wrk(wrk_command(scenario, port, duration_s, script), duration_s)
        opens_after = passive_opens()
        tw_after = count_time_wait(port)
        fill_from_wrk(cell, parse_wrk(output))
        if sample_rss:
            cell.peak_rss_mib = round(sampler.peak_bytes / (1024 * 1024), 1)
        if cell.requests:
            cell.cpu_us_per_request = round(sampler.cpu_seconds * 1e6 / cell.requests, 1)
        if opens_before >= 0 and opens_after >= 0:
            cell.new_connections = opens_after - opens_before
        if tw_before[0] >= 0:
            cell.server_closes = max(0, tw_after[0] - tw_before[0])
            cell.client_closes = max(0, tw_after[1] - tw_before[1])
        if running.proc.poll() is not None:
            cell.status = "failed"
            cell.reason = f"server died during the run (exit {running.proc.returncode})"
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        cell.status, cell.reason = "failed", f"{type(exc).__name__}: {str(exc)[:400]}"
    finally:
        running.stop()
    return cell


def machine_details() -> dict[str, Any]:
    """What a reader needs to judge the numbers: CPU, cores, kernel, Python, peer versions, load."""
    import os
    import platform
    from importlib import metadata

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("waitress", "gunicorn", "cheroot", "werkzeug", "psutil"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "missing"
    wrk_version = ""
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10,
                             check=False)
        wrk_version = (out.stdout or out.stderr).split("Copyright")[0].strip()
    commit = ""
    if shutil.which("git"):
        out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "describe",
                              "--always", "--dirty"], capture_output=True, text=True,
                             timeout=10, check=False)
        commit = out.stdout.strip()
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "wsgikit_commit": commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "versions": versions,
        "loadavg_start": list(os.getloadavg()),
    }
