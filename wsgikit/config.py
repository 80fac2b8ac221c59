"""``ServerConfig``: every server setting in one frozen dataclass, validated once.

Each field carries its default *and the reason for it*, a converter from the string form used on
the command line and in ``WSGIKIT_*`` environment variables, and a help line. The CLI's ``--help``
and the settings table in ``docs/`` are generated from this metadata, so there is one source.
No I/O happens here: addresses are parsed but not resolved, files are named but not opened.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from wsgikit.http11.grammar import MAX_PORT
from wsgikit.http11.limits import (
    MAX_BODY_BYTES,
    MAX_CHUNK_EXT_BYTES,
    MAX_FIELD_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    MAX_REQUEST_LINE,
    MAX_TRAILER_BYTES,
)

__all__ = [
    "ConfigError", "ServerConfig", "BindSpec", "parse_bind", "settings_table", "settings_rst",
]

ENV_PREFIX = "WSGIKIT_"
#: Set in the child process that ``--reload`` runs (it serves; the parent watches files).
RELOADER_CHILD_ENV = ENV_PREFIX + "RELOADER_CHILD"


#: Apache's "combined" access-log format, the default of ``access_log_format`` (and
#: ``wsgikit.server.accesslog.COMBINED``, which is this very string).
COMBINED_LOG_FORMAT = '%h %l %u %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"'


class ConfigError(ValueError):
    """A setting is missing, malformed or inconsistent with another; the message names it."""


# -- converters: str (from argv/env) or a Python value -> the field's type -----------------------


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    text = str(value).strip().replace("_", "")
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(text)


def _to_size(value: Any) -> int:
    """Integers with an optional K/M/G suffix (powers of 1024): ``64K``, ``1G``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().upper().removesuffix("B").replace("_", "")
    m = re.fullmatch(r"(\d+)([KMG]?)I?", text)
    if not m:
        raise ValueError(f"expected a size like 65536, 64K or 1G, got {value!r}")
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None


def _to_optional_float(value: Any) -> Optional[float]:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    return _to_float(value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _to_optional_str(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = str(value)
    return text if text else None


def _to_str(value: Any) -> str:
    return str(value)


def _to_tuple(value: Any) -> tuple[str, ...]:
    """A list, or a comma/whitespace separated string (for env vars)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part for part in re.split(r"[,\s]+", value.strip()) if part)
    return tuple(str(v) for v in value)


def _to_paths(value: Any) -> tuple[str, ...]:
    """File names: one string (a path, or several separated by commas, for env vars) or a list."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(str(v) for v in value)


def _to_mode(value: Any) -> int:
    """File permissions, octal in strings (``600``, ``0o660``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower().removeprefix("0o")
    if not re.fullmatch(r"[0-7]{1,4}", text):
        raise ValueError(f"expected octal permissions like 600, got {value!r}")
    return int(text, 8)


def _choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return convert


def _setting(
    default: Any, convert: Callable[[Any], Any], help: str, *, flag: Optional[str] = None
) -> Any:
    """A dataclass field with the metadata the CLI, env reader and docs use."""
    meta = {"convert": convert, "help": help, "flag": flag}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed in ServerConfig")
    return field(default=default, metadata=meta)


# -- bind addresses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindSpec:
    """One place to listen: ``kind`` is ``tcp``, ``unix`` or ``fd``."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "fd":
            return f"fd://{self.fd}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind(text: str) -> BindSpec:
    """Parse ``host:port``, ``[v6]:port``, ``:port``, ``unix:/path`` or ``fd://N``."""
    text = text.strip()
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ValueError(f"bind {text!r}: unix: needs a path")
        return BindSpec("unix", path=path)
    if text.startswith("fd://"):
        return BindSpec("fd", fd=_check_range("fd", _to_int(text[5:]), 0, 65535))
    m = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\]:(\d+)|([^:\[\]]*):(\d+)", text)
    if not m:
        raise ValueError(
            f"bind {text!r}: expected host:port, [ipv6]:port, unix:/path or fd://N"
        )
    host = m.group(1) if m.group(1) is not None else (m.group(3) or "0.0.0.0")
    port = int(m.group(2) or m.group(4))
    if m.group(1) is not None:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"bind {text!r}: {host!r} is not an IPv6 address") from None
    return BindSpec("tcp", host=host, port=_check_range("port", port, 0, MAX_PORT))


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


# -- the settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    """All server settings; build with ``ServerConfig(...)``, ``from_mapping`` or ``from_env``."""

    # Where to listen.
    host: str = _setting(
        "127.0.0.1", _to_str, "interface to listen on (loopback by default: exposing is a choice)"
    )
    port: int = _setting(8000, _to_int, "TCP port (0 picks a free one)")
    binds: tuple[str, ...] = _setting(
        (),
        _to_tuple,
        "listen addresses: host:port, [::]:port, unix:/path, fd://N (repeatable; "
        "overrides --host/--port)",
        flag="--bind",
    )
    unix_socket_perms: int = _setting(
        0o600, _to_mode, "permissions of Unix sockets (owner-only unless widened)"
    )
    backlog: int = _setting(
        1024, _to_int, "listen() backlog (waitress's default; the kernel caps it at somaxconn)"
    )
    reuse_port: bool = _setting(
        False, _to_bool, "set SO_REUSEPORT: several separate wsgikit instances may share a port"
    )

    # Concurrency.
    threads: int = _setting(
        8, _to_int, "worker threads per process (requests run at once; idle connections need none)"
    )
    workers: int = _setting(1, _to_int, "processes; 1 runs everything in this process")
    max_requests: int = _setting(
        0,
        _to_int,
        "with --workers: restart a worker after this many requests (0 never; bounds slow leaks)",
    )
    max_requests_jitter: int = _setting(
        0, _to_int, "add up to this many to max_requests per worker, so they do not all restart"
    )
    max_queued: int = _setting(
        256,
        _to_int,
        "requests waiting for a busy pool before new ones get 503 + Retry-After (bounded memory)",
    )
    max_connections: int = _setting(
        10000, _to_int, "open client connections at once; more wait in the listen backlog"
    )

    # Request limits (RFC 9112 recommends at least 8000 octets for the request line).
    max_request_line: int = _setting(
        MAX_REQUEST_LINE,
        _to_size,
        "longest request line, 414 past it (Apache's and nginx's 8 KiB)",
    )
    max_header_count: int = _setting(
        MAX_HEADER_COUNT,
        _to_int,
        "most header fields, 431 past it (gunicorn)",
    )
    max_field_bytes: int = _setting(
        MAX_FIELD_BYTES,
        _to_size,
        "longest single header field, 431 past it (gunicorn's limit)",
    )
    max_header_bytes: int = _setting(
        MAX_HEADER_BYTES,
        _to_size,
        "largest request head in all, 431 past it",
    )
    max_body_bytes: int = _setting(
        MAX_BODY_BYTES,
        _to_size,
        "largest request body, 413 past it (waitress's 1 GiB)",
    )
    max_chunk_ext_bytes: int = _setting(
        MAX_CHUNK_EXT_BYTES,
        _to_size,
        "longest chunk extension, 400 past it (CVE-2023-46136-style abuse)",
    )
    max_trailer_bytes: int = _setting(
        MAX_TRAILER_BYTES,
        _to_size,
        "largest trailer section of a chunked body, 431 past it (rarely used)",
    )
    max_drain_bytes: int = _setting(
        65536,
        _to_size,
        "unread request body the server reads and discards to keep a connection alive; "
        "past it the connection closes",
    )

    # Timeouts, in seconds.
    header_timeout: float = _setting(
        10.0, _to_float, "time to receive a whole request head, then 408 (slowloris defence)"
    )
    body_timeout: float = _setting(
        30.0, _to_float, "longest silence while reading a request body"
    )
    min_body_rate: int = _setting(
        500,
        _to_size,
        "bytes/s a request body must arrive at, on average over the server's waits (after a "
        "body_timeout grace), else 408: a trickled upload cannot hold a worker for ever; 0 "
        "turns it off (Apache mod_reqtimeout's MinRate)",
    )
    keepalive_timeout: float = _setting(
        5.0, _to_float, "how long an idle keep-alive connection is kept (nginx 75, gunicorn 2)"
    )
    keepalive_linger: float = _setting(
        0.02,
        _to_float,
        "how long a worker waits for the next request on a keep-alive connection before "
        "parking it (a busy connection keeps its worker: no thread hand-off per request)",
    )
    send_timeout: float = _setting(
        30.0, _to_float, "longest a client may stall reading our response"
    )
    min_send_rate: int = _setting(
        1024,
        _to_size,
        "bytes/s a client must read our response at, on average over the server's waits "
        "(after a send_timeout grace): a slow reader cannot hold a worker for ever; 0 turns "
        "it off. 1 KiB/s cuts slow-read attacks, never an honest slow link",
    )
    graceful_timeout: float = _setting(
        30.0, _to_float, "on shutdown, how long in-flight requests may finish"
    )
    drain_delay: float = _setting(
        0.0,
        _to_float,
        "on SIGTERM, seconds to keep accepting and serving while the status path already "
        "answers 503 draining, so a load balancer's health check takes this instance out "
        "before its listener closes (like Kubernetes' preStop); then the graceful drain",
    )
    request_warn_after: Optional[float] = _setting(
        None, _to_optional_float, "log a request's stack once it runs this long (off by default)"
    )

    # Identity and URLs.
    url_scheme: str = _setting("http", _choice("http", "https"), "wsgi.url_scheme without TLS")
    server_header: Optional[str] = _setting(
        "wsgikit", _to_optional_str, "Server response header; empty to omit it"
    )

    # TLS.
    certfile: tuple[str, ...] = _setting(
        (),
        _to_paths,
        "PEM certificate chain (enables TLS); several for SNI: the first is the default, the "
        "others answer the names in their subjectAltName",
    )
    keyfile: tuple[str, ...] = _setting(
        (), _to_paths, "PEM private key, one per --certfile in the same order (or none: the "
        "keys are in the certificate files)"
    )
    keyfile_password: Optional[str] = _setting(
        None, _to_optional_str, "password of an encrypted key file"
    )
    ca_certs: Optional[str] = _setting(
        None, _to_optional_str, "CA bundle to verify client certificates"
    )
    cert_reqs: str = _setting(
        "none", _choice("none", "optional", "required"), "client certificate policy"
    )
    tls_profile: str = _setting(
        "intermediate",
        _choice("intermediate", "modern"),
        "Mozilla TLS profile: intermediate (TLS 1.2 and 1.3, AEAD suites only) or modern "
        "(TLS 1.3 only)",
    )
    ciphers: Optional[str] = _setting(
        None, _to_optional_str, "OpenSSL cipher string for TLS 1.2, replacing the profile's"
    )
    handshake_timeout: float = _setting(
        5.0,
        _to_float,
        "time from accept to a finished TLS handshake, then close (handshakes never hold a "
        "worker; this bounds silent and trickling ones)",
    )
    tls_reload_interval: Optional[float] = _setting(
        None,
        _to_optional_float,
        "seconds between checks of the certificate and key files; changed files are loaded "
        "for new connections (off by default; SIGHUP reloads too)",
    )

    # Logging.
    access_log: Optional[str] = _setting(
        None, _to_optional_str, "access log: a path, or - for stderr (off by default)"
    )
    access_log_format: str = _setting(
        COMBINED_LOG_FORMAT,
        _to_str,
        "Apache/gunicorn-style format (combined by default)",
    )
    access_log_json: bool = _setting(False, _to_bool, "write the access log as JSON lines")
    log_level: str = _setting(
        "info", _choice("debug", "info", "warning", "error", "critical"), "server log level"
    )

    # Proxies.
    trusted_proxies: tuple[str, ...] = _setting(
        (),
        _to_tuple,
        "proxies (IPs or CIDRs) whose forwarding headers are believed (none by default)",
        flag="--trusted-proxy",
    )
    trusted_proxy_hops: int = _setting(
        1, _to_int, "how many trusted proxies to peel off X-Forwarded-For"
    )
    trusted_proxy_headers: tuple[str, ...] = _setting(
        ("x-forwarded-for", "x-forwarded-proto"),
        _to_tuple,
        "forwarding headers believed from trusted proxies: x-forwarded-for, -proto, -host, "
        "-port, -prefix, forwarded (only those your proxy always overwrites)",
    )
    proxy_protocol: bool = _setting(
        False, _to_bool,
        "every connection starts with a PROXY protocol v1/v2 header (HAProxy send-proxy, AWS "
        "NLB); only --trusted-proxy peers may connect",
    )

    # The application.
    factory: bool = _setting(
        False, _to_bool, "MODULE:NAME is a factory: call it with no arguments to get the app"
    )

    # Operations.
    status_path: Optional[str] = _setting(
        None, _to_optional_str, "path answering a JSON health document (off by default)"
    )
    metrics_path: Optional[str] = _setting(
        None, _to_optional_str,
        "path answering Prometheus metrics, summed over --workers (off by default)",
    )
    reload: bool = _setting(False, _to_bool, "development: restart when source files change")
    reload_include: tuple[str, ...] = _setting(
        ("*.py",), _to_tuple, "globs of files watched by --reload"
    )
    reload_exclude: tuple[str, ...] = _setting(
        (), _to_tuple, "globs of files --reload ignores"
    )
    reload_interval: float = _setting(1.0, _to_float, "seconds between --reload scans")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                converted = f.metadata["convert"](value)
            except ValueError as exc:
                raise ConfigError(f"{f.name}: {exc}") from None
            if converted != value or type(converted) is not type(value):
                object.__setattr__(self, f.name, converted)
        self._check()

    def _check(self) -> None:
        def positive(*names: str) -> None:
            for name in names:
                if getattr(self, name) <= 0:
                    raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")

        positive(
            "threads", "workers", "backlog", "max_queued", "max_connections",
            "max_request_line", "max_header_count", "max_field_bytes", "max_header_bytes",
            "max_body_bytes", "max_chunk_ext_bytes", "max_trailer_bytes", "header_timeout",
            "body_timeout", "keepalive_timeout", "send_timeout", "reload_interval",
            "trusted_proxy_hops", "handshake_timeout",
        )
        for name in ("max_requests", "max_requests_jitter"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.max_drain_bytes < 0:
            raise ConfigError("max_drain_bytes must be 0 or more")
        for name in ("min_send_rate", "min_body_rate"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (off) or more bytes/s")
        if self.keepalive_linger < 0:
            raise ConfigError("keepalive_linger must be 0 or more")
        if self.graceful_timeout < 0:
            raise ConfigError("graceful_timeout must be 0 or more")
        if not 0 <= self.drain_delay < float("inf"):  # NaN fails too
            raise ConfigError(f"drain_delay must be 0 or more seconds, got {self.drain_delay}")
        if self.request_warn_after is not None and self.request_warn_after <= 0:
            raise ConfigError("request_warn_after must be positive")
        try:
            _check_range("port", self.port, 0, MAX_PORT)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.max_field_bytes > self.max_header_bytes:
            raise ConfigError(
                f"max_field_bytes ({self.max_field_bytes}) cannot exceed "
                f"max_header_bytes ({self.max_header_bytes})"
            )
        for bind in self.binds:
            try:
                parse_bind(bind)
            except ValueError as exc:
                raise ConfigError(f"binds: {exc}") from None
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(
                    f"trusted_proxies: {cidr!r} is not an IP address or CIDR network"
                ) from None
        known_headers = {
            "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
            "x-forwarded-port", "x-forwarded-prefix",
        }
        for header in self.trusted_proxy_headers:
            if header.lower() not in known_headers:
                raise ConfigError(
                    f"trusted_proxy_headers: unknown header {header!r} "
                    f"(known: {', '.join(sorted(known_headers))})"
                )
        if self.keyfile and not self.certfile:
            raise ConfigError("keyfile needs certfile")
        if self.keyfile and len(self.keyfile) != len(self.certfile):
            raise ConfigError(
                f"keyfile: {len(self.keyfile)} given for {len(self.certfile)} certfile(s); give "
                "one per certfile, in the same order (or none if the keys are in the certfiles)"
            )
        if self.ciphers and not self.certfile:
            raise ConfigError("ciphers needs certfile (TLS)")
        if self.tls_reload_interval is not None and self.tls_reload_interval <= 0:
            raise ConfigError("tls_reload_interval must be positive")
        if self.keyfile_password and not self.keyfile:
            raise ConfigError("keyfile_password needs keyfile")
        if self.ca_certs and not self.certfile:
            raise ConfigError("ca_certs needs certfile (client certificates need TLS)")
        if self.cert_reqs != "none" and not self.ca_certs:
            raise ConfigError(f"cert_reqs={self.cert_reqs} needs ca_certs to verify clients")
        if self.status_path is not None and not self.status_path.startswith("/"):
            raise ConfigError(f"status_path must start with '/', got {self.status_path!r}")
        if self.proxy_protocol and not self.trusted_proxies:
            raise ConfigError("proxy_protocol needs trusted_proxies: the balancers' addresses, "
                              "the only peers allowed to send a PROXY header")
        if self.metrics_path is not None and not self.metrics_path.startswith("/"):
            raise ConfigError(f"metrics_path must start with '/', got {self.metrics_path!r}")
        if self.metrics_path is not None and self.metrics_path == self.status_path:
            raise ConfigError("metrics_path and status_path must differ")
        if self.server_header is not None and re.search(r"[\x00-\x1f\x7f]", self.server_header):
            raise ConfigError("server_header must not contain control characters")

    # -- construction helpers -------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ServerConfig:
        """Build from a mapping of field names (dashes allowed) to values or strings."""
        known = set(cls.field_names())
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"unknown setting {key!r}")
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_env(
        cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any
    ) -> ServerConfig:
        """Read ``WSGIKIT_<FIELD>`` variables; explicit ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.field_names():
            key = ENV_PREFIX + name.upper()
            if key in env:
                values[name] = env[key]
        values.update(overrides)
        return cls.from_mapping(values)

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def bind_specs(self) -> tuple[BindSpec, ...]:
        """Where to listen: ``binds`` if given, else ``host:port``."""
        if self.binds:
            return tuple(parse_bind(b) for b in self.binds)
        return (BindSpec("tcp", host=self.host, port=self.port),)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def settings_rst() -> str:
    """The settings as an RST list-table (docs/deployment.rst embeds exactly this)."""
    lines = [
        ".. list-table::", "   :header-rows: 1", "   :widths: 22 28 14 36", "",
        "   * - Flag", "     - Environment variable", "     - Default", "     - Meaning",
    ]
    for flag, env, default, text in settings_table():
        lines += [f"   * - ``{flag}``", f"     - ``{env}``"]
        lines += [f"     - ``{default}``", f"     - {text}"]
    return "\n".join(lines) + "\n"


def settings_table(fields: Optional[Iterable[str]] = None) -> list[tuple[str, str, str, str]]:
    """(flag, env var, default, help) rows for ``--help`` and the docs."""
    wanted = set(fields) if fields is not None else None
    rows = []
    for f in dataclasses.fields(ServerConfig):
        if wanted is not None and f.name not in wanted:
            continue
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        default: Any = f.default
        if isinstance(default, tuple):
            default = ",".join(default)
        if f.name == "unix_socket_perms":
            default = oct(int(default))[2:]
        rows.append((flag, ENV_PREFIX + f.name.upper(), repr(default), f.metadata["help"]))
    return rows
