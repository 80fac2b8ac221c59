"""Static files over a real wsgikit server, driven by curl: Range, conditional GET, HEAD."""

from __future__ import annotations

import gzip
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from middleware.static import StaticFilesMiddleware
from tests.conftest import require_program

pytestmark = [pytest.mark.e2e, pytest.mark.server]

DATA = bytes(range(256)) * 4096  # 1 MiB: large enough for sendfile to matter
CSS = b"p { margin: 0 }\n" * 200


def curl(*args: str) -> tuple[int, dict[str, str], bytes]:
    """Run curl; return (status, lower-cased headers of the final response, body)."""
    program = require_program("curl")
    proc = subprocess.run(
        [program, "-sS", "--max-time", "10", "-D", "-", *args],
        capture_output=True, timeout=30, check=True,
    )
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


@pytest.fixture
def server(tmp_path: Path, live_server: Any) -> Any:
    (tmp_path / "data.bin").write_bytes(DATA)
    (tmp_path / "site.css").write_bytes(CSS)
    (tmp_path / "site.css.gz").write_bytes(gzip.compress(CSS))
    (tmp_path.parent / "outside.txt").write_bytes(b"secret")
    seen: dict[str, Any] = {}
    static = StaticFilesMiddleware(directory=str(tmp_path), prefix="/s")

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        result = static(environ, start_response)
        seen["file_wrapper"] = environ.get("wsgi.file_wrapper")
        seen["result"] = result
        return result

    srv = live_server(recording)
    srv.seen = seen
    return srv


def test_full_get_goes_through_the_servers_file_wrapper(server: Any) -> None:
    status, headers, body = curl(f"{server.url}/s/data.bin")
    assert status == 200 and body == DATA
    assert headers["content-length"] == str(len(DATA))
    assert headers["accept-ranges"] == "bytes"
    wrapper = server.seen["file_wrapper"]
    assert wrapper is not None and isinstance(server.seen["result"], wrapper)


def test_range(server: Any) -> None:
    status, headers, body = curl("-r", "1000-1999", f"{server.url}/s/data.bin")
    assert status == 206 and body == DATA[1000:2000]
    assert headers["content-range"] == f"bytes 1000-1999/{len(DATA)}"
    status, headers, body = curl("-r", "-10", f"{server.url}/s/data.bin")
    assert status == 206 and body == DATA[-10:]


def test_unsatisfiable_range(server: Any) -> None:
    status, headers, _ = curl("-r", f"{len(DATA) + 5}-", f"{server.url}/s/data.bin")
    assert status == 416 and headers["content-range"] == f"bytes */{len(DATA)}"


def test_conditional_get(server: Any) -> None:
    _, headers, _ = curl(f"{server.url}/s/data.bin")
    status, again, body = curl("-H", f"If-None-Match: {headers['etag']}",
                               f"{server.url}/s/data.bin")
    assert status == 304 and body == b"" and again["etag"] == headers["etag"]
    status, _, body = curl("-H", f"If-Modified-Since: {headers['last-modified']}",
                           f"{server.url}/s/data.bin")
    assert status == 304 and body == b""
    status, _, body = curl("-H", 'If-None-Match: "stale"', f"{server.url}/s/data.bin")
    assert status == 200 and body == DATA


def test_head(server: Any) -> None:
    # -I prints the head as curl's output; -o discards that copy so only -D's remains.
    status, headers, body = curl("-I", "-o", "/dev/null", f"{server.url}/s/data.bin")
    assert status == 200 and body == b""
    assert headers["etag"].startswith('"')
    assert headers["content-length"] == str(len(DATA))


def test_precompressed_with_curl_compressed(server: Any) -> None:
    status, headers, body = curl("--compressed", f"{server.url}/s/site.css")
    assert status == 200 and body == CSS
    assert headers["content-encoding"] == "gzip" and headers["vary"] == "Accept-Encoding"


def test_traversal_over_the_wire(server: Any) -> None:
    for path in ("/s/../outside.txt", "/s/%2e%2e/outside.txt", "/s/..%2foutside.txt",
                 "/s/%2e%2e%2foutside.txt", "/s/..%5coutside.txt", "/s/%2e%2e%5coutside.txt",
                 "/s/..%c0%afoutside.txt", "/s/data.bin%00.css", "/s//etc/passwd",
                 "/s/%2fetc%2fpasswd", "/s/CON", "/s/.%2e/outside.txt"):
        status, _, body = curl("--path-as-is", f"{server.url}{path}")
        assert status in (400, 404) and b"secret" not in body, path


def test_full_and_range_bodies_are_sent_with_sendfile(server: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    sent: list[tuple[int, int]] = []  # (offset, bytes sent) of each os.sendfile call
    original = os.sendfile

    def recording(out: int, fd: int, offset: int, count: int) -> int:
        result = original(out, fd, offset, count)
        sent.append((offset, result))
        return result

    def recorded(start: int, total: int) -> list[tuple[int, int]]:
        # the worker appends after the call returns: curl may have its bytes (and exit)
        # before that, so wait (bounded) for the calls to be recorded
        deadline = time.monotonic() + 5
        while sum(n for _, n in sent[start:]) < total and time.monotonic() < deadline:
            time.sleep(0.01)
        return sent[start:]

    monkeypatch.setattr(os, "sendfile", recording)
    status, _, body = curl(f"{server.url}/s/data.bin")
    assert status == 200 and body == DATA
    full = recorded(0, len(DATA))
    status, _, body = curl("-r", "5000-5999", f"{server.url}/s/data.bin")
    assert status == 206 and body == DATA[5000:6000]
    ranged = recorded(len(full), 1000)

    def covered(calls: list[tuple[int, int]]) -> tuple[int, int]:
        for (offset, count), (following, _) in zip(calls, calls[1:]):
            assert offset + count == following  # one contiguous run, however many calls
        return calls[0][0], sum(count for _, count in calls)

    assert covered(full) == (0, len(DATA))
    assert covered(ranged) == (5000, 1000)
