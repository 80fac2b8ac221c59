"""A static site with a small JSON API: static files, compression, dispatch and an access log.

Run it alone with ``wsgikit serve sample_apps.static_site:app``; files live in
``sample_apps/static_site_files/``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from middleware.access_log import AccessLogMiddleware
from middleware.compress import CompressMiddleware
from middleware.dispatch import DispatchMiddleware
from middleware.static import StaticFilesMiddleware
from wsgikit.types import StartResponse, WSGIEnvironment

FILES = Path(__file__).parent / "static_site_files"


def api_time(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """``GET api/time``: the server's time as JSON (padded so compression has work to do)."""
    if environ.get("PATH_INFO") not in ("/time", "/time/"):
        body = json.dumps({"error": "no such endpoint", "path": environ.get("PATH_INFO")})
        status = "404 Not Found"
    else:
        now = datetime.now(timezone.utc)
        body = json.dumps({"time": now.isoformat(timespec="seconds"),
                           "mounted_at": environ.get("SCRIPT_NAME", ""),
                           "note": "gzipped by CompressMiddleware when you ask for it " * 12})
        status = "200 OK"
    data = body.encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))), ("Cache-Control", "no-store")])
    return [data]


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


site = StaticFilesMiddleware(directory=str(FILES), prefix="", max_age=300)
app = AccessLogMiddleware(
    CompressMiddleware(DispatchMiddleware(site, mounts={"/api": api_time})),
    stream=_Stderr(),  # type: ignore[arg-type]
)
