"""Access-log lines: Apache/gunicorn format strings and JSON lines, with control characters escaped.

Shared by ``middleware.access_log`` and the server's ``access_log`` setting
(:class:`ServerAccessLog`, which ``Server`` builds itself, so ``make_server()``, ``serve()`` and
``wsgikit serve`` write the same line for the same request and settings). Formats are
compiled once (unknown atoms are a ``ValueError`` at start-up, not a broken log line later);
every value that came from the client is escaped so a request cannot forge log lines or send
terminal escape sequences (http.server gh-100001).

Atoms: ``%h`` client address, ``%l`` always ``-``, ``%u`` REMOTE_USER, ``%t`` time,
``%r`` request line, ``%m`` method, ``%U`` path, ``%q`` query (with ``?``), ``%H`` protocol,
``%s`` status, ``%b`` body bytes (``-`` for 0), ``%B`` body bytes, ``%D`` microseconds,
``%T`` seconds, ``%L`` request id, ``%{Name}i`` request header, ``%{Name}o`` response header,
``%{key}e`` environ value, ``%%`` a percent sign.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional, TextIO
from urllib.parse import quote

from wsgikit.config import COMBINED_LOG_FORMAT
from wsgikit.http11.grammar import is_digits
from wsgikit.server.environ import cgi_key

if TYPE_CHECKING:
    from wsgikit.config import ServerConfig
    from wsgikit.server.connection import ResponseRecord

COMMON = '%h %l %u %t "%r" %s %b'
COMBINED = COMBINED_LOG_FORMAT  # the setting's default: one string
#: Named formats accepted wherever a format string is.
FORMATS = {"common": COMMON, "combined": COMBINED}

#: Environ key where the request-id middleware (or server) leaves the request id.
REQUEST_ID_KEY = "wsgikit.request_id"

_ATOM_RE = re.compile(r"%(?:\{([^{}]*)\}([ioe])|([hlutrmUqHsbBDTL%]))")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')


def escape(value: str) -> str:
    """Escape quotes, backslashes and control characters (C0, DEL, C1) like Apache's ``\\xhh``."""

    def one(match: re.Match[str]) -> str:
        char = match.group()
        return _ESCAPES.get(char) or f"\\x{ord(char):02x}"

    return _NEEDS_ESCAPE.sub(one, value)


@dataclass
class AccessRecord:
    """One finished request, as the log sees it. Strings are WSGI native strings."""

    remote_addr: str = "-"
    remote_user: Optional[str] = None
    method: str = "-"
    path: str = ""
    query: str = ""
    protocol: str = "HTTP/1.1"
    status: int = 0
    response_bytes: int = 0
    duration: float = 0.0
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc).astimezone())
    request_id: Optional[str] = None
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: Sequence[tuple[str, str]] = ()
    environ: Mapping[str, Any] = field(default_factory=dict)
    request_uri: Optional[str] = None

    @property
    def target(self) -> str:
        """The request target as sent (REQUEST_URI when the server kept it)."""
        if self.request_uri:
            return self.request_uri
        raw = self.path.encode("latin-1", "replace")
        target = quote(raw, safe="/;=,@:!$&'()*+~")
        return target + ("?" + self.query if self.query else "")

    @property
    def request_line(self) -> str:
        return f"{self.method} {self.target} {self.protocol}"

    def request_header(self, name: str) -> Optional[str]:
        return self.request_headers.get(cgi_key(name))

    def response_header(self, name: str) -> Optional[str]:
        lname = name.lower()
        values = [v for k, v in self.response_headers if k.lower() == lname]
        return ", ".join(values) if values else None


def record_from_environ(
    environ: Mapping[str, Any],
    status: str,
    response_headers: Sequence[tuple[str, str]],
    response_bytes: int,
    started: float,
    finished: Optional[float] = None,
) -> AccessRecord:
    """An ``AccessRecord`` from the environ, the status line, and the counters of one request.

    ``started``/``finished`` are ``time.monotonic()`` readings; the wall-clock time logged is
    the start of the request.
    """
    finished = time.monotonic() if finished is None else finished
    code = status.split(" ", 1)[0]
    elapsed = max(finished - started, 0.0)
    return AccessRecord(
        remote_addr=str(environ.get("REMOTE_ADDR") or "-"),
        remote_user=environ.get("REMOTE_USER"),
        method=str(environ.get("REQUEST_METHOD", "-")),
        path=str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")),
        query=str(environ.get("QUERY_STRING", "")),
        protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
        status=int(code) if is_digits(code) else 0,
        response_bytes=response_bytes,
        duration=elapsed,
        time=datetime.fromtimestamp(time.time() - elapsed, timezone.utc).astimezone(),
        request_id=environ.get(REQUEST_ID_KEY),
        request_headers={k: v for k, v in environ.items() if _is_header_key(k)},
        response_headers=list(response_headers),
        environ=environ,
        request_uri=environ.get("REQUEST_URI") or environ.get("RAW_URI"),
    )


def _is_header_key(key: str) -> bool:
    return key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")


def _dash(value: Optional[object]) -> str:
    return "-" if value is None or value == "" else escape(str(value))


_SIMPLE: dict[str, Callable[[AccessRecord], str]] = {
    "h": lambda r: _dash(r.remote_addr),
    "l": lambda r: "-",
    "u": lambda r: _dash(r.remote_user),
    "t": lambda r: r.time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
    "r": lambda r: escape(r.request_line),
    "m": lambda r: escape(r.method),
    "U": lambda r: escape(r.target.split("?", 1)[0]),
    "q": lambda r: escape("?" + r.query) if r.query else "",
    "H": lambda r: escape(r.protocol),
    "s": lambda r: str(r.status),
    "b": lambda r: str(r.response_bytes) if r.response_bytes else "-",
    "B": lambda r: str(r.response_bytes),
    "D": lambda r: str(int(r.duration * 1_000_000)),
    "T": lambda r: str(int(r.duration)),
    "L": lambda r: _dash(r.request_id),
    "%": lambda r: "%",
}


class LogFormat:
    """A compiled Apache-style format: ``LogFormat('%h "%r" %s')(record) -> str``."""

    def __init__(self, fmt: str) -> None:
        if not isinstance(fmt, str):
            raise TypeError(f"log format must be a string, not {type(fmt).__name__}")
        fmt = FORMATS.get(fmt, fmt)
        if any(ord(c) < 0x20 for c in fmt):
            raise ValueError("log format contains a control character")
        self.format = fmt
        self._parts: list[Callable[[AccessRecord], str]] = []
        position = 0
        for match in _ATOM_RE.finditer(fmt):
            self._literal(fmt[position : match.start()], position)
            name, kind, simple = match.groups()
            if simple:
                self._parts.append(_SIMPLE[simple])
            else:
                if not name:
                    raise ValueError(f"log format: empty %{{}}{kind} at offset {match.start()}")
                self._parts.append(_braced(name, kind))
            position = match.end()
        self._literal(fmt[position:], position)

    def _literal(self, text: str, offset: int) -> None:
        if "%" in text:
            bad = text[text.index("%") :][:3]
            where = offset + text.index("%")
            raise ValueError(f"log format: unknown atom {bad!r} at offset {where}")
        if text:
            self._parts.append(lambda r, text=text: text)  # type: ignore[misc]

    def __call__(self, record: AccessRecord) -> str:
        return "".join(part(record) for part in self._parts)


def _braced(name: str, kind: str) -> Callable[[AccessRecord], str]:
    if kind == "i":
        return lambda r: _dash(r.request_header(name))
    if kind == "o":
        return lambda r: _dash(r.response_header(name))
    return lambda r: _dash(r.environ.get(name))


def json_line(
    record: AccessRecord, extra_headers: Sequence[str] = ("Referer", "User-Agent")
) -> str:
    """One JSON object per line; ``json.dumps`` escapes control characters itself."""
    data: dict[str, Any] = {
        "time": record.time.isoformat(timespec="milliseconds"),
        "remote_addr": record.remote_addr,
        "remote_user": record.remote_user,
        "method": record.method,
        "target": record.target,
        "protocol": record.protocol,
        "status": record.status,
        "bytes": record.response_bytes,
        "duration_ms": round(record.duration * 1000, 3),
        "request_id": record.request_id,
    }
    for name in extra_headers:
        data[name.lower().replace("-", "_")] = record.request_header(name)
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"))


def make_formatter(fmt: str = "combined") -> Callable[[AccessRecord], str]:
    """``"json"`` gives JSON lines; ``"common"``, ``"combined"`` or a format string gives Apache."""
    if fmt == "json":
        return json_line
    return LogFormat(fmt)


def _open(config: ServerConfig) -> TextIO:
    if config.access_log == "-":
        return sys.stderr
    from wsgikit.server.listener import reason

    try:
        # appended and line-buffered: workers of one master share the file, short appends
        # stay whole
        return open(str(config.access_log), "a", buffering=1, encoding="utf-8")
    except OSError as exc:
        raise OSError(f"cannot open access log {config.access_log!r}: {reason(exc)}") from None


def check_settings(config: ServerConfig) -> None:
    """``ValueError`` for a bad ``access_log_format``, ``OSError`` for an unwritable
    ``access_log``: what ``wsgikit serve --check-config`` reports before anything starts."""
    make_formatter("json" if config.access_log_json else config.access_log_format)
    if config.access_log and config.access_log != "-":
        _open(config).close()


class ServerAccessLog:
    """The ``access_log`` setting: one line per response, in ``access_log_format`` (or JSON with
    ``access_log_json``), to the file named (appended) or ``-`` (stderr).

    ``Server`` builds it from its config and calls it with each ``ResponseRecord``. ``stats``
    (``Server.stats``) fills ``%{wsgikit.queue_depth}e`` and ``%{wsgikit.busy_workers}e``.
    The format is compiled here, so a bad atom is an error at start-up.
    """

    def __init__(
        self, config: ServerConfig, stats: Optional[Callable[[], Mapping[str, int]]] = None
    ) -> None:
        fmt = config.access_log_format
        self.formatter = make_formatter("json" if config.access_log_json else fmt)
        self.stream = _open(config)
        self._owns_stream = config.access_log != "-"
        self._lock = threading.Lock()
        wants_stats = "wsgikit.queue_depth" in fmt or "wsgikit.busy" in fmt
        self._stats = stats if wants_stats else None

    def __call__(self, record: ResponseRecord) -> None:
        env = record.environ or {}
        if self._stats is not None:
            stats = self._stats()  # the pool as this response finished
            env["wsgikit.queue_depth"] = stats.get("queued", "-")
            env["wsgikit.busy_workers"] = stats.get("busy_workers", "-")
        entry = AccessRecord(
            remote_addr=str(env.get("REMOTE_ADDR") or record.remote_addr or "-"),
            remote_user=env.get("REMOTE_USER"),
            method=record.method,
            path=str(env.get("SCRIPT_NAME", "")) + str(env.get("PATH_INFO", "")),
            query=str(env.get("QUERY_STRING", "")),
            protocol=f"HTTP/{record.http_version}",
            status=record.status,
            response_bytes=record.body_bytes,
            duration=record.duration,
            time=datetime.fromtimestamp(record.started or time.time(), timezone.utc).astimezone(),
            request_id=env.get(REQUEST_ID_KEY),
            request_headers={k: v for k, v in env.items() if k.startswith("HTTP_")}
            or {cgi_key(k): v for k, v in record.request_headers},
            response_headers=record.response_headers,
            environ=env,
            request_uri=record.target,
        )
        line = self.formatter(entry)
        with self._lock:
            self.stream.write(line + "\n")

    def close(self) -> None:
        """Close the file (never stderr)."""
        if self._owns_stream:
            self.stream.close()
