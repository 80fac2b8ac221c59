"""Who really sent this request: proxy headers, checked against the proxies you trust.

Pure functions shared by ``middleware.proxy`` and the server's ``--trusted-proxy`` option.
Forwarding headers (RFC 7239 ``Forwarded`` and the ``X-Forwarded-*`` family) are only believed
when the TCP peer is a trusted proxy, and only as many hops deep as you say proxies stand in
front of the app. From anyone else they are removed from the environ, so an app reading
``HTTP_X_FORWARDED_FOR`` by itself cannot be spoofed. Original values are kept under
``ORIGINALS_KEY``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union
from urllib.parse import unquote_to_bytes

from wsgikit.http11.grammar import MAX_PORT, is_digits
from wsgikit.http11.grammar import TCHARS as _TOKEN_CHARS
from wsgikit.server.environ import cgi_key as environ_key

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

#: Environ key holding the values this module replaced or removed: ``{environ key: value}``.
ORIGINALS_KEY = "wsgikit.proxy.orig"

#: The forwarding headers this module understands, by their lower-case field names.
HEADER_NAMES = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
)

#: What a proxy is trusted to tell, by default: the client address and the scheme.
DEFAULT_HEADERS = ("x-forwarded-for", "x-forwarded-proto")

_MAX_HEADER_LENGTH = 8192
_MAX_ELEMENTS = 64
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z"
)
_PREFIX_RE = re.compile(r"/[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*\Z")


class ForwardedError(ValueError):
    """A forwarding header that does not follow its grammar."""


def parse_networks(specs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (or single addresses) as networks; ``ValueError`` names a bad one."""
    if isinstance(specs, str):
        specs = [part for part in re.split(r"[\s,]+", specs) if part]
    networks: list[IPNetwork] = []
    for spec in specs:
        try:
            networks.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            message = f"trusted proxy {spec!r} is not an IP address or CIDR network"
            raise ValueError(message) from None
    return tuple(networks)


def parse_address(value: str) -> Optional[IPAddress]:
    """An IP address from a ``for=`` / X-Forwarded-For entry (port and brackets stripped), or None.

    Accepts ``192.0.2.1``, ``192.0.2.1:8080``, ``2001:db8::1``, ``[2001:db8::1]:8080``.
    ``unknown`` and obfuscated identifiers (``_hidden``) give None.
    """
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        rest = value[end + 1 :]
        if rest and not (rest.startswith(":") and is_digits(rest[1:])):
            return None
        value = value[1:end]
    elif value.count(":") == 1:
        value, _, port = value.partition(":")
        if not is_digits(port):
            return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Optional[str], networks: Iterable[IPNetwork]) -> bool:
    """True when ``address`` (REMOTE_ADDR or a header entry) lies in one of ``networks``."""
    if not address:
        return False
    parsed = parse_address(address)
    if parsed is None:
        return False
    return any(parsed.version == net.version and parsed in net for net in networks)


def _split_list(value: str) -> list[str]:
    """A comma-separated header list, blanks dropped (RFC 9110 section 5.6.1)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 ``Forwarded`` as a list of elements, nearest-to-client first.

    Each element maps lower-case parameter names (``for``, ``by``, ``host``, ``proto``) to
    values with quoting removed. Raises ``ForwardedError`` on any grammar violation: a
    half-understood header must not be half-believed.
    """
    if len(value) > _MAX_HEADER_LENGTH:
        raise ForwardedError("Forwarded header is too long")
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in " \t":
            i += 1
        if i >= n:
            break
        if value[i] in ",;":
            if value[i] == "," and current:
                elements.append(current)
                current = {}
            i += 1
            continue
        start = i
        while i < n and value[i] in _TOKEN_CHARS:
            i += 1
        name = value[start:i].lower()
        if not name or i >= n or value[i] != "=":
            raise ForwardedError(f"Forwarded: expected name=value at offset {start}")
        i += 1
        if i < n and value[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                if ord(value[i]) < 0x20 and value[i] != "\t" or value[i] == "\x7f":
                    raise ForwardedError("Forwarded: control character in quoted string")
                chars.append(value[i])
                i += 1
            if i >= n:
                raise ForwardedError("Forwarded: unterminated quoted string")
            i += 1
            parsed = "".join(chars)
        else:
            start = i
            while i < n and value[i] in _TOKEN_CHARS:
                i += 1
            parsed = value[start:i]
            if not parsed:
                raise ForwardedError(f"Forwarded: empty value for {name!r}")
        if name in current:
            raise ForwardedError(f"Forwarded: parameter {name!r} repeated in one element")
        current[name] = parsed
        while i < n and value[i] in " \t":
            i += 1
        if i < n and value[i] not in ",;":
            raise ForwardedError(f"Forwarded: unexpected {value[i]!r} at offset {i}")
        if len(elements) > _MAX_ELEMENTS:
            raise ForwardedError("Forwarded: too many elements")
    if current:
        elements.append(current)
    return elements


def valid_host(value: str) -> bool:
    """A Host value (name, IPv4 or bracketed IPv6, optional port) without anything else."""
    return len(value) <= 255 and bool(_HOST_RE.match(value))


def _valid_port(value: str) -> bool:
    return is_digits(value) and len(value) <= 5 and 0 < int(value) <= MAX_PORT


def _prefix_to_script_name(value: str) -> Optional[str]:
    """URL-path prefix -> WSGI native string (latin-1 of the decoded bytes), or None if unsafe.

    Checked after percent-decoding, since the decoded value becomes SCRIPT_NAME and so the start
    of every URL the app builds: ``/%2Fevil.com`` would decode to ``//evil.com`` and ``/%5Cx``
    to ``/\\x``, which browsers read as another host in a redirect. An empty segment (``//``),
    a backslash, a control character or a ``..`` segment refuses the whole prefix.
    """
    value = value.strip()
    if not _PREFIX_RE.match(value):
        return None
    raw = unquote_to_bytes(value).rstrip(b"/")
    if (
        any(b < 0x20 or b == 0x7F for b in raw)
        or b"//" in raw
        or b"\\" in raw
        or b"/../" in raw + b"/"
    ):
        return None
    return raw.decode("latin-1")


@dataclass(frozen=True)
class ProxyTrust:
    """Whom to believe: proxy networks, how many proxies deep, and which headers they set.

    ``hops`` is the number of proxies in front of the app (the TCP peer counts as the first).
    Only headers listed in ``headers`` are used; a proxy that does not overwrite a header
    would otherwise pass a client's forgery through.
    """

    networks: tuple[IPNetwork, ...]
    hops: int = 1
    headers: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_HEADERS))

    @classmethod
    def from_options(
        cls,
        trusted: Union[str, Iterable[str]],
        *,
        hops: int = 1,
        headers: Iterable[str] = DEFAULT_HEADERS,
    ) -> ProxyTrust:
        """Build and validate from user-facing options; ``ValueError``/``TypeError`` on bad ones."""
        networks = parse_networks(trusted)
        if not networks:
            raise ValueError("trusted proxies: give at least one address or CIDR network")
        if isinstance(hops, bool) or not isinstance(hops, int):
            raise TypeError(f"hops must be an int, not {type(hops).__name__}")
        if not 1 <= hops <= 32:
            raise ValueError(f"hops must be between 1 and 32, got {hops}")
        if isinstance(headers, str):
            raise TypeError("headers must be a list of header names, not one string")
        names = frozenset(h.lower() for h in headers)
        unknown = sorted(names - set(HEADER_NAMES))
        if unknown:
            raise ValueError(f"unknown forwarding header(s) {unknown}; known: {list(HEADER_NAMES)}")
        return cls(networks=networks, hops=hops, headers=names)


@dataclass(frozen=True)
class ForwardedView:
    """The request as the client made it, after believing what the trusted proxies said."""

    client: Optional[str]
    scheme: Optional[str] = None
    host: Optional[str] = None
    port: Optional[str] = None
    prefix: Optional[str] = None
    trusted_peer: bool = False
    error: Optional[str] = None


def resolve(environ: MutableMapping[str, Any], trust: ProxyTrust) -> ForwardedView:
    """Work out the effective client, scheme, host, port and prefix without changing anything."""
    peer = environ.get("REMOTE_ADDR")
    if not is_trusted(peer, trust.networks):
        return ForwardedView(client=peer, trusted_peer=False)

    def header(name: str) -> Optional[str]:
        if name not in trust.headers:
            return None
        value = environ.get(environ_key(name))
        return value if isinstance(value, str) and value.strip() else None

    client: Optional[str] = peer
    scheme = host = port = prefix = None
    error: Optional[str] = None
    depth = 0  # how many entries from the right we believe

    forwarded = header("forwarded")
    if forwarded is not None:
        try:
            elements = parse_forwarded(forwarded)
        except ForwardedError as exc:
            return ForwardedView(client=peer, trusted_peer=True, error=str(exc))
        fors = [element.get("for", "") for element in elements]
        depth = _walk(fors, trust)
        if depth:
            element = elements[-depth]
            client = _client_of(fors[-depth], peer)
            scheme = element.get("proto")
            host = element.get("host")
    else:
        x_for = header("x-forwarded-for")
        entries = _split_list(x_for) if x_for else []
        depth = _walk(entries, trust)
        if depth:
            client = _client_of(entries[-depth], peer)
        for name in ("x-forwarded-proto", "x-forwarded-host"):
            values = _split_list(header(name) or "")
            if values:
                chosen = values[-min(max(depth, 1), len(values))]
                if name == "x-forwarded-proto":
                    scheme = chosen
                else:
                    host = chosen

    for name in ("x-forwarded-port", "x-forwarded-prefix"):
        values = _split_list(header(name) or "")
        if values:
            chosen = values[-min(max(depth, 1), len(values))]
            if name == "x-forwarded-port":
                port = chosen
            else:
                prefix = chosen

    if scheme is not None:
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            error, scheme = f"ignored forwarded scheme {scheme!r}", None
    if host is not None and not valid_host(host):
        error, host = f"ignored forwarded host {host!r}", None
    if port is not None and not _valid_port(port):
        error, port = f"ignored forwarded port {port!r}", None
    if prefix is not None:
        script = _prefix_to_script_name(prefix)
        if script is None:
            error = f"ignored forwarded prefix {prefix!r}"
        prefix = script
    return ForwardedView(
        client=client, scheme=scheme, host=host, port=port, prefix=prefix,
        trusted_peer=True, error=error,
    )


def _walk(entries: list[str], trust: ProxyTrust) -> int:
    """How many entries from the right to consume: stop at the first one that is not a
    trusted proxy, or when the hop budget is spent."""
    depth = 0
    for hop in range(1, min(trust.hops, len(entries)) + 1):
        depth = hop
        if not is_trusted(entries[-hop], trust.networks):
            break
    return depth


def _client_of(entry: str, peer: Optional[str]) -> Optional[str]:
    address = parse_address(entry)
    return str(address) if address is not None else peer


def strip_untrusted(environ: MutableMapping[str, Any]) -> dict[str, str]:
    """Remove every forwarding header from ``environ``; return what was removed."""
    removed: dict[str, str] = {}
    for name in HEADER_NAMES:
        key = environ_key(name)
        if key in environ:
            removed[key] = environ.pop(key)
    return removed


def apply(environ: MutableMapping[str, Any], trust: ProxyTrust) -> ForwardedView:
    """Rewrite ``environ`` in place to the effective request and keep the originals.

    Sets REMOTE_ADDR, ``wsgi.url_scheme``, HTTP_HOST, SERVER_NAME, SERVER_PORT and SCRIPT_NAME
    from trusted headers; strips forwarding headers when the peer is not trusted. The replaced
    and removed values go to ``environ[ORIGINALS_KEY]``.
    """
    view = resolve(environ, trust)
    originals: dict[str, Any] = environ.setdefault(ORIGINALS_KEY, {})
    if not view.trusted_peer:
        originals.update(strip_untrusted(environ))
        return view

    def replace(key: str, value: str) -> None:
        if key not in originals and key in environ:
            originals[key] = environ[key]
        environ[key] = value

    if view.client is not None and view.client != environ.get("REMOTE_ADDR"):
        replace("REMOTE_ADDR", view.client)
    if view.scheme is not None:
        replace("wsgi.url_scheme", view.scheme)
        if view.port is None and view.host is None:
            replace("SERVER_PORT", "443" if view.scheme == "https" else "80")
    if view.host is not None:
        replace("HTTP_HOST", view.host)
        name, port = _split_host(view.host)
        replace("SERVER_NAME", name)
        if port is not None:
            replace("SERVER_PORT", port)
        elif view.scheme is not None:
            replace("SERVER_PORT", "443" if view.scheme == "https" else "80")
    if view.port is not None:
        replace("SERVER_PORT", view.port)
        if "HTTP_HOST" in environ:
            name, _ = _split_host(environ["HTTP_HOST"])
            bracketed = f"[{name}]" if ":" in name else name
            replace("HTTP_HOST", f"{bracketed}:{view.port}")
    if view.prefix:
        replace("SCRIPT_NAME", view.prefix + environ.get("SCRIPT_NAME", ""))
    return view


def _split_host(host: str) -> tuple[str, Optional[str]]:
    """``example.com:8080`` -> (``example.com``, ``8080``); ``[::1]`` -> (``::1``, None)."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        return host[1:end], (rest[1:] if rest.startswith(":") else None)
    name, sep, port = host.rpartition(":")
    if sep and is_digits(port):
        return name, port
    return host, None
