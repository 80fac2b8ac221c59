"""Fuzz target: the chunked body decoder (``RequestParser`` in its chunk states).

Input: one flags byte, then either

* (flags bit 1 clear) raw bytes sent after a ``Transfer-Encoding: chunked`` head: anything may
  happen but what ``parser_target`` checks (only ``ProtocolError``, events in order, the same
  result however the bytes are cut);
* (flags bit 1 set) a recipe for a *valid* chunked body (sizes, hex spelling, extensions,
  trailers) that this harness encodes: the decoder must return exactly the encoded data and end
  the message, under any cut. A valid body refused is a finding.
"""

from __future__ import annotations

from fuzz.parser_target import Finding, cut, run, same_events

HEAD = b"POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: fuzz\r\n\r\n"
#: The harness's own parser limits are parser_target.LIMITS: max_body_bytes 2048, so the recipe
#: keeps the body under it, and extensions under max_chunk_ext_bytes (48).
MAX_BODY = 2048
EXTENSIONS = (b"", b";a", b";a=b", b' ; name = "v\\"al"', b";x=1;y", b"\t;t=\"\"")
TRAILERS = (b"", b"X-Sum: 1\r\n", b"X-A: a\r\nX-B:\r\n")


def encode(recipe: bytes) -> tuple[bytes, bytes]:
    """A valid chunked body built from ``recipe``; returns (encoded, the data it carries)."""
    encoded = bytearray()
    data = bytearray()
    i = 0
    while i + 2 <= len(recipe) and len(data) < MAX_BODY - 300:
        size, style = recipe[i], recipe[i + 1]
        i += 2
        if size == 0:
            continue  # a zero size would end the body
        payload = bytes((i + k) & 0xFF for k in range(size))
        digits = b"%x" % size
        if style & 1:
            digits = digits.upper()
        if style & 2:
            digits = b"000" + digits
        encoded += digits + EXTENSIONS[(style >> 2) % len(EXTENSIONS)] + b"\r\n"
        encoded += payload + b"\r\n"
        data += payload
    style = recipe[i] if i < len(recipe) else 0
    encoded += b"0" + EXTENSIONS[style % len(EXTENSIONS)] + b"\r\n"
    encoded += TRAILERS[(style >> 4) % len(TRAILERS)] + b"\r\n"
    return bytes(encoded), bytes(data)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    flags, rest = data[0], data[1:]
    if not flags & 2:
        wire = HEAD + rest
        eof = bool(flags & 1)
        same_events(run(cut(wire, 0), eof), run(cut(wire, flags >> 2), eof))
        return
    encoded, body = encode(rest)
    wire = HEAD + encoded + NEXT
    for seed in (0, flags >> 2):
        events = run(cut(wire, seed), eof=True)
        kinds = [e[0] for e in events]
        if "error" in kinds:
            raise Finding(f"a valid chunked body was refused: {events[-1]} for {encoded!r}")
        bodies = [e[1] for e in events if e[0] == "body"]
        if kinds[0] != "head" or bodies[:1] != [body]:
            raise Finding(f"decoded {bodies[:1]!r}, expected {body!r}")
        if kinds[-3:] != ["head", "body", "closed"]:
            raise Finding(f"the request after the chunked body was not parsed: {kinds}")
