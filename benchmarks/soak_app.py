"""The app every server runs in the soak (``benchmarks.soak``): it logs each request it starts.

Each request carries ``?id=...``; the app appends the id to the file named by ``SOAK_LOG``
(one ``os.write`` on an ``O_APPEND`` descriptor: atomic, shared by every thread and process)
before it does anything else. The soak compares that log with what its clients received: a
started request whose client did not get a whole response is lost.

Routes: ``/hello`` (13 bytes), ``/echo`` (the request body back; Content-Length or chunked),
``/big`` (1 MiB). With ``SOAK_TRACEMALLOC=1`` the process traces allocations and ``/_soak/mem``
answers a JSON diagnosis (allocated blocks, gc counts, top allocation growth since the first
call): that is how the server's memory growth was told apart from allocator fragmentation.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
from collections.abc import Iterable
from typing import Any, Callable, Optional

from benchmarks.apps import BIG_BODY, HELLO_BODY

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


if os.environ.get("SOAK_TRACEMALLOC") == "1":
    import tracemalloc

    tracemalloc.start(int(os.environ.get("SOAK_TRACEMALLOC_FRAMES", "8")))
_first_snapshot: Any = None


def _open_log() -> Optional[int]:
    # opened at import, so the descriptor is part of the server's idle baseline of fds
    path = os.environ.get("SOAK_LOG")
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None


_log_fd = _open_log()


def _log_start(request_id: str) -> None:
    if _log_fd is not None:
        os.write(_log_fd, request_id.encode("ascii", "replace") + b"\n")


def _request_id(environ: Environ) -> str:
    for part in environ.get("QUERY_STRING", "").split("&"):
        if part.startswith("id="):
            return part[3:]
    return "-"


def _respond(start_response: StartResponse, body: bytes) -> list[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _read_body(environ: Environ) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        return bytes(stream.read(int(length)))
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        # every server in the soak ends a chunked wsgi.input at the end of the body
        parts = []
        while True:
            data = stream.read(65536)
            if not data:
                break
            parts.append(data)
        return b"".join(parts)
    return b""


def _mallinfo() -> Optional[dict[str, int]]:
    """glibc's heap numbers (``mallinfo2``): bytes the heaps hold, in use, and free inside."""
    try:
        import ctypes

        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost")]

        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return None
    return {"heap_bytes": info.arena, "mmapped_bytes": info.hblkhd,
            "in_use_bytes": info.uordblks, "free_in_heap_bytes": info.fordblks,
            "free_chunks": info.ordblks}


def _memory_report() -> bytes:
    global _first_snapshot
    report: dict[str, Any] = {
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_counts": gc.get_count(),
        "gc_objects": len(gc.get_objects()),
        "threads": threading.active_count(),
        "malloc": _mallinfo(),
    }
    if os.environ.get("SOAK_TRACEMALLOC") == "1":
        import tracemalloc

        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        current, peak = tracemalloc.get_traced_memory()
        report["traced_bytes"] = current
        report["traced_peak"] = peak
        if _first_snapshot is None:
            _first_snapshot = snapshot
        stats = snapshot.compare_to(_first_snapshot, "traceback")
        report["top_growth"] = [
            {"size_diff": s.size_diff, "count_diff": s.count_diff, "size": s.size,
             "trace": [f"{f.filename}:{f.lineno}" for f in s.traceback]}
            for s in stats[:15]
        ]
    return json.dumps(report).encode()


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/_soak/mem":
        return _respond(start_response, _memory_report())
    _log_start(_request_id(environ))
    if path == "/echo":
        return _respond(start_response, _read_body(environ))
    if path == "/big":
        return _respond(start_response, BIG_BODY)
    return _respond(start_response, HELLO_BODY)
