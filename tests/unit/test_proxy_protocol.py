"""The sans-IO PROXY protocol parser: whole headers, byte by byte, and what it refuses."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from wsgikit.server.proxy_protocol import (
    MAX_V1_LENGTH,
    MAX_V2_LENGTH,
    PP2_TYPE_AUTHORITY,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    parse,
)

HTTP = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def v2(command: int = 1, family: int = 0x11, body: bytes = b"", version: int = 2) -> bytes:
    return V2_SIGNATURE + bytes([version << 4 | command, family]) + struct.pack("!H", len(body)) \
        + body


def v2_tcp4(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    body = ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed \
        + struct.pack("!HH", sport, dport) + tlvs
    return v2(1, 0x11, body)


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


VALID = [
    (b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
     ProxyHeader(1, "PROXY", "TCP4", ("192.0.2.1", 56324), ("198.51.100.7", 443))),
    (b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n",
     ProxyHeader(1, "PROXY", "TCP6", ("2001:db8::1", 1), ("2001:db8::2", 65535))),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", "UNKNOWN", None, None)),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", ProxyHeader(1, "PROXY", "UNKNOWN", None, None)),
    (v2_tcp4("203.0.113.9", "10.0.0.1", 40000, 8080),
     ProxyHeader(2, "PROXY", "TCP4", ("203.0.113.9", 40000), ("10.0.0.1", 8080))),
    (v2(1, 0x21, ipaddress.IPv6Address("2001:db8::5").packed
        + ipaddress.IPv6Address("::1").packed + struct.pack("!HH", 5, 6)),
     ProxyHeader(2, "PROXY", "TCP6", ("2001:db8::5", 5), ("::1", 6))),
    (v2(0, 0x00), ProxyHeader(2, "LOCAL", "UNSPEC", None, None)),  # a balancer's health check
    (v2_tcp4("192.0.2.1", "192.0.2.2", 1, 2, tlv(PP2_TYPE_AUTHORITY, b"example.com")
             + tlv(0x04, b"\x00\x00")),
     ProxyHeader(2, "PROXY", "TCP4", ("192.0.2.1", 1), ("192.0.2.2", 2),
                 ((PP2_TYPE_AUTHORITY, b"example.com"), (0x04, b"\x00\x00")))),
]


@pytest.mark.parametrize(("raw", "expected"), VALID)
def test_whole_header_then_http(raw: bytes, expected: ProxyHeader) -> None:
    result = parse(raw + HTTP)
    assert result == (expected, len(raw))


@pytest.mark.parametrize(("raw", "expected"), VALID)
def test_byte_by_byte_needs_more_until_the_last_byte(raw: bytes, expected: ProxyHeader) -> None:
    for end in range(len(raw)):
        assert parse(raw[:end]) is None, raw[:end]
    assert parse(raw) == (expected, len(raw))


def test_tlv_lookup() -> None:
    header, _ = parse(VALID[-1][0])  # type: ignore[misc]
    assert header.tlv(PP2_TYPE_AUTHORITY) == b"example.com"
    assert header.tlv(0x30) is None


INVALID = {
    "plain HTTP": HTTP,
    "TLS ClientHello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "lower-case proxy": b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "POST looks like PROXY": b"POST / HTTP/1.1\r\n",
    "LF only": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "too few fields": b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    "too many fields": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
    "double space": b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
    "family UDP4 in v1": b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "IPv6 under TCP4": b"PROXY TCP4 ::1 ::2 1 2\r\n",
    "IPv4 under TCP6": b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
    "hostname": b"PROXY TCP4 example.com 5.6.7.8 1 2\r\n",
    "port over 65535": b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
    "port with a leading zero": b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
    "negative port": b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
    "non-ASCII digits": "PROXY TCP4 1.2.3.4 5.6.7.8 ١ 2\r\n".encode(),
    "v1 over 107 bytes": b"PROXY UNKNOWN " + b"x" * MAX_V1_LENGTH,
    "bad v2 signature": b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x00",
    "v2 version 1": v2(version=1),
    "v2 command 2": v2(command=2),
    "v2 family unknown": v2(1, 0x41, b""),
    "v2 TCP4 body too short": v2(1, 0x11, b"\x01" * 11),
    "v2 TLV truncated": v2_tcp4("1.2.3.4", "5.6.7.8", 1, 2, b"\x02\x00"),
    "v2 TLV overruns": v2_tcp4("1.2.3.4", "5.6.7.8", 1, 2, b"\x02\x00\x09abc"),
    "v2 over the limit": V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_LENGTH),
}


@pytest.mark.parametrize("raw", INVALID.values(), ids=INVALID.keys())
def test_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(ProxyProtocolError) as info:
        parse(raw)
    assert str(info.value)


def test_refused_as_soon_as_the_bytes_cannot_start_a_header() -> None:
    for early in (b"G", b"PO", b"\r\n\r\n\x01", b"\x16"):
        with pytest.raises(ProxyProtocolError):
            parse(early)


def test_empty_input_needs_more() -> None:
    assert parse(b"") is None


def test_any_bytes_give_a_header_need_more_or_a_protocol_error() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    prefixes = st.sampled_from([b"", b"PROXY ", V2_SIGNATURE, V2_SIGNATURE + b"\x21\x11"])

    @settings(max_examples=500, deadline=None)
    @given(prefixes, st.binary(max_size=300))
    def check(prefix: bytes, tail: bytes) -> None:
        data = prefix + tail
        try:
            result = parse(data)
        except ProxyProtocolError:
            return
        if result is not None:
            header, used = result
            assert 0 < used <= len(data) and header.version in (1, 2)
            assert parse(data[:used]) == result  # the header is self-delimiting

    check()
