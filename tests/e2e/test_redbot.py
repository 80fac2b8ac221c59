"""REDbot ("lint for HTTP") on the static site, through ``make serve``'s app stack.

``sample_apps:app`` runs under ``python -m wsgikit serve`` (what ``make serve`` runs); REDbot
fetches every file of the static site (plus its JSON API and a 404) and re-requests each with
If-None-Match, If-Modified-Since, Range and Accept-Encoding. No note may be "bad", and no
warning may be one the middleware can fix.

The one warning allowed: RANGE_CL_FULL on a file no longer than REDbot's range sample (96
bytes). REDbot asks for ``bytes=0-<sample length>``, which on such a file covers all of it, so
the 206 correctly holds the whole file; answering 200 instead would make Chrome treat media
that it probes with ``bytes=0-`` as not seekable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import sample_apps
from middleware.compress import CompressMiddleware
from sample_apps.static_site import FILES
from tests.conftest import require_module
from tests.ops.conftest import ServeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.server]

REDBOT_RANGE_SAMPLE = 96
FILE_PATHS = sorted(
    p.relative_to(FILES).as_posix() for p in FILES.rglob("*")
    if p.is_file() and p.suffix not in (".gz", ".br")
)  # fmt: skip


def redbot(url: str) -> list[dict[str, Any]]:
    """Run REDbot on ``url``; return its notes on the response (and its sub-requests)."""
    require_module("redbot")
    proc = subprocess.run(
        [sys.executable, "-m", "redbot.cli", "-o", "har", url],
        capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    entries = json.loads(proc.stdout)["log"]["entries"]
    assert len(entries) == 1, proc.stdout[:500]
    notes: list[dict[str, Any]] = entries[0]["_red_messages"]
    status = entries[0]["response"]["status"]
    notes.append({"note_id": "STATUS", "level": "INFO", "summary": status})
    return notes


def problems(notes: list[dict[str, Any]], allowed: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{n['level']} {n['note_id']}: {n['summary']}"
        for n in notes
        if n["level"] in ("BAD", "WARN") and n["note_id"] not in allowed
    ]


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``make serve``: ``python -m wsgikit serve sample_apps:app`` as a child process."""
    server = ServeProcess(
        ["--host", "127.0.0.1", "--port", "0", "sample_apps:app"],
        tmp_path_factory.mktemp("serve"),
    )
    try:
        yield server.url + "/static_site/"
    finally:
        assert server.stop() == 0, server.output()
        server.kill()  # closes its log file


def ids(notes: list[dict[str, Any]]) -> set[str]:
    return {n["note_id"] for n in notes}


@pytest.mark.parametrize("path", FILE_PATHS)
def test_static_files_are_redbot_clean(site_url: str, path: str) -> None:
    notes = redbot(site_url + path)
    small = (FILES / path).stat().st_size <= REDBOT_RANGE_SAMPLE
    assert problems(notes, allowed=("RANGE_CL_FULL",) if small else ()) == []
    # REDbot really exercised what the middleware must get right:
    # 304s (both validators), a 206, and gzip for the text files that are big enough
    assert {"INM_304", "IMS_304", "RANGE_CORRECT"} <= ids(notes), ids(notes)
    size = (FILES / path).stat().st_size
    if size >= CompressMiddleware(sample_apps.app).min_size or (FILES / (path + ".gz")).exists():
        assert "CONNEG_GZIP_GOOD" in ids(notes), ids(notes)


@pytest.mark.parametrize("path", ["", "api/time", "no/such/file"])
def test_index_api_and_404_are_redbot_clean(site_url: str, path: str) -> None:
    notes = redbot(site_url + path)
    assert problems(notes) == []
    status = next(n["summary"] for n in notes if n["note_id"] == "STATUS")
    assert status == (404 if path == "no/such/file" else 200)
    if path == "api/time":
        assert "CONNEG_GZIP_GOOD" in ids(notes)  # gzipped by CompressMiddleware on the fly
