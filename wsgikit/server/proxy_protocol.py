"""The PROXY protocol, versions 1 and 2 (HAProxy's spec): who connected to the load balancer.

An L4 load balancer (HAProxy ``send-proxy``/``send-proxy-v2``, AWS NLB, most cloud balancers)
opens its own TCP connection to the server and sends, before any HTTP, one header naming the
client's address. This module is sans-IO: :func:`parse` takes the bytes received so far and
returns the header and how many bytes it used, or ``None`` while more are needed; anything
malformed or too long raises :class:`ProxyProtocolError`. The connection decides whom to ask
(only trusted proxies) and how long to wait (the header timeout).

Spec: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple, Optional

from wsgikit.http11.grammar import MAX_PORT, is_digits

__all__ = [
    "MAX_V1_LENGTH",
    "MAX_V2_LENGTH",
    "V1_PREFIX",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyProtocolError",
    "parse",
]

#: Version 1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n", at most 107 bytes in all.
V1_PREFIX = b"PROXY "
MAX_V1_LENGTH = 107
#: Version 2: these 12 bytes, then version/command, family, a 16-bit length and the body.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_FIXED = 16
#: Largest v2 header accepted: addresses plus TLVs. Balancers send well under 1 KiB (HAProxy's
#: SSL TLVs, AWS's VPC endpoint id); the format allows 64 KiB, which we refuse to buffer.
MAX_V2_LENGTH = 4096

#: v2 TLV types (section 2.2) that are exposed by name.
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20

_V2_FAMILIES = {  # family/transport byte -> (name, address block length)
    0x00: ("UNSPEC", 0),
    0x11: ("TCP4", 12),
    0x12: ("UDP4", 12),
    0x21: ("TCP6", 36),
    0x22: ("UDP6", 36),
    0x31: ("UNIX", 216),
    0x32: ("UNIX", 216),
}


class ProxyProtocolError(ValueError):
    """A PROXY protocol header that is malformed, unsupported or too long."""


class ProxyHeader(NamedTuple):
    """What the balancer said. ``source``/``destination`` are ``(host, port)`` for TCP over IPv4
    or IPv6, else ``None`` (``LOCAL`` health checks, ``UNKNOWN``, Unix sockets, UDP)."""

    version: int
    command: str  # "PROXY" or "LOCAL"
    family: str  # "TCP4", "TCP6", "UNKNOWN", "UNSPEC", "UDP4", "UDP6", "UNIX"
    source: Optional[tuple[str, int]]
    destination: Optional[tuple[str, int]]
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, kind: int) -> Optional[bytes]:
        """The value of the first TLV of ``kind`` (e.g. ``PP2_TYPE_AUTHORITY``), or None."""
        for key, value in self.tlvs:
            if key == kind:
                return value
        return None


def parse(data: bytes) -> Optional[tuple[ProxyHeader, int]]:
    """``(header, bytes used)`` from the start of ``data``, or ``None`` if more bytes are needed.

    Raises :class:`ProxyProtocolError` as soon as ``data`` cannot begin a valid header, so a
    client that is not a balancer is refused at its first bytes, not after a timeout.
    """
    if data[:1] == b"\r":
        return _parse_v2(data)
    if data[:1] == b"P":
        return _parse_v1(data)
    if data:
        raise ProxyProtocolError("no PROXY protocol header (the connection starts with "
                                 f"{bytes(data[:8])!r})")
    return None


def _parse_v1(data: bytes) -> Optional[tuple[ProxyHeader, int]]:
    prefix = data[: len(V1_PREFIX)]
    if prefix != V1_PREFIX[: len(prefix)]:
        raise ProxyProtocolError(f"not a PROXY protocol header: {bytes(data[:8])!r}")
    end = data.find(b"\r\n", 0, MAX_V1_LENGTH)
    if end < 0:
        if len(data) >= MAX_V1_LENGTH or b"\n" in data[:MAX_V1_LENGTH]:
            raise ProxyProtocolError(f"PROXY v1 line not ended by CRLF within {MAX_V1_LENGTH} "
                                     "bytes")
        return None
    line = bytes(data[:end])
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyProtocolError("PROXY v1 line is not ASCII") from None
    parts = text.split(" ")
    if parts[1:2] == ["UNKNOWN"]:  # the sender does not know; the rest of the line is ignored
        return ProxyHeader(1, "PROXY", "UNKNOWN", None, None), end + 2
    if len(parts) != 6:
        raise ProxyProtocolError(f"PROXY v1 line has {len(parts)} fields, not 6: {text!r}")
    _, family, src, dst, sport, dport = parts
    if family not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"PROXY v1 family {family!r} is not TCP4, TCP6 or UNKNOWN")
    version = 4 if family == "TCP4" else 6
    source = (_v1_address(src, version), _v1_port(sport))
    destination = (_v1_address(dst, version), _v1_port(dport))
    return ProxyHeader(1, "PROXY", family, source, destination), end + 2


def _v1_address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not an IP address") from None
    if address.version != version:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not an IPv{version} address")
    return str(address)


def _v1_port(text: str) -> int:
    # The spec: decimal, no leading zero, 0..MAX_PORT.
    if not is_digits(text) or (len(text) > 1 and text[0] == "0") or int(text) > MAX_PORT:
        raise ProxyProtocolError(f"PROXY v1 port {text!r} is not a port number")
    return int(text)


def _parse_v2(data: bytes) -> Optional[tuple[ProxyHeader, int]]:
    signature = data[: len(V2_SIGNATURE)]
    if signature != V2_SIGNATURE[: len(signature)]:
        raise ProxyProtocolError("not a PROXY protocol v2 signature")
    if len(data) < _V2_FIXED:
        return None
    version_command, family_byte = data[12], data[13]
    length = int.from_bytes(data[14:16], "big")
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 version {version_command >> 4} is not 2")
    command = version_command & 0x0F
    if command not in (0, 1):
        raise ProxyProtocolError(f"PROXY v2 command {command} is not LOCAL (0) or PROXY (1)")
    if _V2_FIXED + length > MAX_V2_LENGTH:
        raise ProxyProtocolError(f"PROXY v2 header of {_V2_FIXED + length} bytes is over the "
                                 f"{MAX_V2_LENGTH}-byte limit")
    if len(data) < _V2_FIXED + length:
        return None
    body = bytes(data[_V2_FIXED: _V2_FIXED + length])
    family, address_length = _V2_FAMILIES.get(family_byte, ("", -1))
    if address_length < 0:
        raise ProxyProtocolError(f"PROXY v2 address family 0x{family_byte:02x} is unknown")
    if length < address_length:
        raise ProxyProtocolError(f"PROXY v2 {family} addresses need {address_length} bytes, the "
                                 f"header has {length}")
    source = destination = None
    if family in ("TCP4", "UDP4"):
        source = (str(ipaddress.IPv4Address(body[0:4])), int.from_bytes(body[8:10], "big"))
        destination = (str(ipaddress.IPv4Address(body[4:8])), int.from_bytes(body[10:12], "big"))
    elif family in ("TCP6", "UDP6"):
        source = (str(ipaddress.IPv6Address(body[0:16])), int.from_bytes(body[32:34], "big"))
        destination = (str(ipaddress.IPv6Address(body[16:32])),
                       int.from_bytes(body[34:36], "big"))
    tlvs = _v2_tlvs(body[address_length:])
    header = ProxyHeader(2, "PROXY" if command == 1 else "LOCAL", family, source, destination,
                         tlvs)
    return header, _V2_FIXED + length


def _v2_tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    out = []
    at = 0
    while at < len(data):
        if len(data) - at < 3:
            raise ProxyProtocolError("PROXY v2 TLV truncated")
        kind, size = data[at], int.from_bytes(data[at + 1: at + 3], "big")
        if at + 3 + size > len(data):
            raise ProxyProtocolError(f"PROXY v2 TLV 0x{kind:02x} of {size} bytes overruns the "
                                     "header")
        out.append((kind, data[at + 3: at + 3 + size]))
        at += 3 + size
    return tuple(out)
