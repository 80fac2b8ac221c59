"""Differential tests: wsgikit's parser against h11 and httptools (llhttp) as test-only oracles.

For every request in the corpus (valid requests below, plus every invalid request of the parser
and smuggling tables):

* where an oracle accepts a request, wsgikit yields the same method, target, header fields and
  body, unless the case is a documented deliberate difference (``DIFFERENCES``: in each one
  wsgikit is the stricter party and refuses);
* where wsgikit accepts a request, at least one of the two oracles accepts it too (wsgikit is
  never the only lenient one);
* no entry of ``DIFFERENCES`` is stale: each must still be a case an oracle accepts and wsgikit
  refuses.

Comparison is on the parsed meaning: header names lower-cased, values without surrounding OWS
(RFC 9110 §5.5 says OWS is not part of the value), the body decoded from its framing.

Deliberate differences (wsgikit refuses what an oracle accepts)
---------------------------------------------------------------

==========================  ============  ========================================================
class                       accepted by   why wsgikit refuses
==========================  ============  ========================================================
cl-and-te                   h11           RFC 9112 §6.1 allows it; CL+TE is the CL.TE/TE.CL
                                          smuggling vector, so 400 and close.
cl-list                     h11           "5, 5" in one line: RFC 9110 §8.6 lets a recipient
                                          accept it; digits-only is simpler and safer.
obs-fold                    h11           RFC 9112 §5.2 lets a server unfold; we refuse (400).
bare-lf                     h11, llhttp   RFC 9112 §2.2 MAY accept bare LF; CVE-2019-16785 came
                                          from exactly that disagreement. Strict CRLF only.
ctl-in-value                h11           RFC 9110 §5.5: CTLs are not field-vchar.
te-coding                   llhttp        "gzip, chunked" / unknown codings: we decode only
                                          chunked, so 501 (RFC 9112 §6.1) instead of passing an
                                          encoded body to the app.
te-http10                   h11, llhttp   RFC 9112 §6.1: Transfer-Encoding in a 1.0 request means
                                          the framing is faulty; 400 and close.
host                        h11, llhttp   RFC 9112 §3.2: exactly one Host with a valid value.
duplicate-content-type      h11, llhttp   a singleton field sent twice is ambiguous (gunicorn 26
                                          refuses it too).
chunk-line                  h11, llhttp   whitespace after the size, leading zeros beyond 16
                                          digits, empty or malformed extensions, extensions over
                                          the limit: RFC 9112 §7.1.1 grammar, bounded.
trailers                    h11, llhttp   bounded size (431) and no framing/routing/auth fields in
                                          trailers (RFC 9110 §6.5.1); h11 CVE-2025-43859 was here.
target-form                 h11, llhttp   fragment, relative target, "*" without OPTIONS, non-http
                                          scheme, userinfo, empty authority: RFC 9112 §3.2 forms.
connect-authority           h11           CONNECT and authority-form: 501, not a proxy.
version                     h11, llhttp   HTTP/0.x, 2.x, 3.x and the HTTP/2 preface: 505.
==========================  ============  ========================================================
"""

from __future__ import annotations

import pytest

from tests.conftest import require_module
from tests.unit.test_http11_parser import BAD
from tests.unit.test_http11_smuggling import SMUGGLING
from wsgikit.http11 import (
    BodyChunk,
    EndOfMessage,
    ProtocolError,
    RequestHead,
    RequestParser,
    Trailers,
)

Parsed = tuple[str, str, tuple[tuple[str, str], ...], bytes]

# --- adapters: each returns Parsed, "error", or None (incomplete / not a request) -------------


def parse_wsgikit(raw: bytes) -> Parsed | str | None:
    parser = RequestParser()
    parser.feed(raw)
    parser.feed(b"")
    head: RequestHead | None = None
    body = b""
    try:
        for _ in range(len(raw) + 10):
            event = parser.next_event()
            if isinstance(event, RequestHead):
                head = event
            elif isinstance(event, BodyChunk):
                body += event.data
            elif isinstance(event, EndOfMessage) and head is not None:
                return head.method, head.target, head.headers, body
            elif not isinstance(event, Trailers):
                return None
    except ProtocolError:
        return "error"
    return None


def parse_h11(raw: bytes) -> Parsed | str | None:
    h11 = require_module("h11")
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    request = None
    body = b""
    try:
        for _ in range(len(raw) + 10):
            event = conn.next_event()
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                headers = tuple(
                    (n.decode("latin-1").lower(), v.decode("latin-1"))
                    for n, v in request.headers.raw_items()
                )
                return request.method.decode(), request.target.decode("latin-1"), headers, body
            else:
                return None
    except h11.RemoteProtocolError:
        return "error"
    return None


def parse_httptools(raw: bytes) -> Parsed | str | None:
    httptools = require_module("httptools")

    class Collect:
        def __init__(self) -> None:
            self.url = b""
            self.headers: list[tuple[bytes, bytes]] = []
            self.body = b""
            self.head_done = False
            self.done = False

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self.head_done:  # llhttp reports trailers through the same callback
                self.headers.append((name, value))

        def on_headers_complete(self) -> None:
            self.head_done = True

        def on_body(self, body: bytes) -> None:
            self.body += body

        def on_message_complete(self) -> None:
            self.done = True

    sink = Collect()
    parser = httptools.HttpRequestParser(sink)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        return "error"  # CONNECT / Upgrade: llhttp stops parsing HTTP
    except httptools.HttpParserError:
        return "error"
    if not sink.done:
        return None
    headers = tuple(
        (n.decode("latin-1").lower(), v.decode("latin-1").strip(" \t")) for n, v in sink.headers
    )
    return parser.get_method().decode(), sink.url.decode("latin-1"), headers, sink.body


ORACLES = {"h11": parse_h11, "llhttp": parse_httptools}

# --- corpus ----------------------------------------------------------------------------------

VALID = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", id="minimal"),
    pytest.param(
        b"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\n"
        b"Accept: */*\r\n\r\n",
        id="curl-like",
    ),
    pytest.param(
        b"GET /index.html HTTP/1.1\r\nHost: localhost:8000\r\nConnection: keep-alive\r\n"
        b'sec-ch-ua: "Chromium";v="120"\r\nAccept-Language: en-US,en;q=0.9\r\n'
        b"Cookie: a=1; b=2\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n",
        id="browser-like",
    ),
    pytest.param(b"GET / HTTP/1.0\r\n\r\n", id="http10-no-host"),
    pytest.param(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", id="http10-keep-alive"),
    pytest.param(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", id="asterisk-options"),
    pytest.param(b"GET http://a.example/p?q=1 HTTP/1.1\r\nHost: a.example\r\n\r\n", id="absolute"),
    pytest.param(
        b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 7\r\n\r\na=1&b=2",
        id="post-form",
    ),
    pytest.param(
        b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        id="repeated-identical-cl",
    ),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", id="cl-zero"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        id="chunked",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
        id="chunked-ext-trailer",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
        b"A\r\n0123456789\r\n0\r\n\r\n",
        id="chunked-uppercase",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tv\t\r\nX-Spaces:   v  v   \r\nX-Empty:\r\n\r\n",
        id="ows",
    ),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\n\r\n", id="obs-text"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n", id="repeated-field"),
    pytest.param(b"DELETE /r/1 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", id="ipv6-host"),
    pytest.param(b"PROPFIND /dav HTTP/1.1\r\nHost: a\r\nDepth: 1\r\n\r\n", id="webdav-method"),
    pytest.param(b"GET /a|b{c}^ HTTP/1.1\r\nHost: a\r\n\r\n", id="unescaped-visible"),
    pytest.param(b"GET // HTTP/1.1\r\nHost: a\r\n\r\n", id="double-slash"),
    pytest.param(b"GET /?a=b?c HTTP/1.1\r\nHost: a\r\n\r\n", id="question-in-query"),
    pytest.param(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", id="empty-host"),
    pytest.param(
        b"PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        id="expect-continue",
    ),
    pytest.param(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", id="leading-crlf"),
]

INVALID = list(SMUGGLING) + list(BAD)

#: case id -> (oracles that accept it, class in the module docstring's table).
DIFFERENCES: dict[str, tuple[frozenset[str], str]] = {
    "CL.TE": (frozenset({"h11"}), "cl-and-te"),
    "CL-list-identical": (frozenset({"h11"}), "cl-list"),
    "TE-leading-space-line": (frozenset({"h11"}), "obs-fold"),
    "TE-folded-into-X": (frozenset({"h11"}), "obs-fold"),
    "obs-fold-tab": (frozenset({"h11"}), "obs-fold"),
    "obs-fold-space": (frozenset({"h11"}), "obs-fold"),
    "TE-gzip-chunked": (frozenset({"llhttp"}), "te-coding"),
    "TE-unknown-coding": (frozenset({"llhttp"}), "te-coding"),
    "TE-in-HTTP/1.0": (frozenset({"h11", "llhttp"}), "te-http10"),
    "bare-LF-in-head": (frozenset({"h11"}), "bare-lf"),
    "bare-LF-everywhere": (frozenset({"h11"}), "bare-lf"),
    "bare-LF-ends-head": (frozenset({"h11"}), "bare-lf"),
    "bare-LF-before-request-line": (frozenset({"llhttp"}), "bare-lf"),
    "trailer-bare-LF": (frozenset({"h11"}), "bare-lf"),
    "trailer-bare-LF-end": (frozenset({"h11"}), "bare-lf"),
    "last-chunk-bare-LF-end": (frozenset({"h11"}), "bare-lf"),
    "CTL-in-value": (frozenset({"h11"}), "ctl-in-value"),
    "del-in-value": (frozenset({"h11"}), "ctl-in-value"),
    "esc-in-value": (frozenset({"h11"}), "ctl-in-value"),
    "duplicate-Host": (frozenset({"llhttp"}), "host"),
    "two-hosts": (frozenset({"llhttp"}), "host"),
    "no-host": (frozenset({"llhttp"}), "host"),
    "host-space": (frozenset({"h11", "llhttp"}), "host"),
    "host-slash": (frozenset({"h11", "llhttp"}), "host"),
    "host-userinfo": (frozenset({"h11", "llhttp"}), "host"),
    "host-invalid-http10": (frozenset({"h11", "llhttp"}), "host"),
    "two-content-types": (frozenset({"h11", "llhttp"}), "duplicate-content-type"),
    "chunk-trailing-space": (frozenset({"h11"}), "chunk-line"),
    "chunk-trailing-tab": (frozenset({"h11"}), "chunk-line"),
    "chunk-size-zero-padded": (frozenset({"llhttp"}), "chunk-line"),
    "chunk-ext-bare-CR": (frozenset({"h11"}), "chunk-line"),
    "chunk-ext-unclosed-quote": (frozenset({"h11"}), "chunk-line"),
    "chunk-ext-empty": (frozenset({"h11"}), "chunk-line"),
    "chunk-ext-empty-value": (frozenset({"h11", "llhttp"}), "chunk-line"),
    "chunk-ext-NUL": (frozenset({"h11"}), "chunk-line"),
    "chunk-ext-too-long": (frozenset({"h11", "llhttp"}), "chunk-line"),
    "trailer-too-big": (frozenset({"h11", "llhttp"}), "trailers"),
    "trailer-content-length": (frozenset({"h11"}), "trailers"),
    "trailer-transfer-encoding": (frozenset({"h11"}), "trailers"),
    "trailer-host": (frozenset({"h11", "llhttp"}), "trailers"),
    "trailer-authorization": (frozenset({"h11", "llhttp"}), "trailers"),
    "fragment": (frozenset({"h11", "llhttp"}), "target-form"),
    "relative-target": (frozenset({"h11"}), "target-form"),
    "asterisk-not-options": (frozenset({"h11", "llhttp"}), "target-form"),
    "absolute-ftp": (frozenset({"h11", "llhttp"}), "target-form"),
    "absolute-userinfo": (frozenset({"h11", "llhttp"}), "target-form"),
    "absolute-no-host": (frozenset({"h11", "llhttp"}), "target-form"),
    "double-space": (frozenset({"llhttp"}), "target-form"),
    "http09-line": (frozenset({"llhttp"}), "version"),
    "connect": (frozenset({"h11"}), "connect-authority"),
    "authority-form": (frozenset({"h11"}), "connect-authority"),
    "http2": (frozenset({"h11", "llhttp"}), "version"),
    "http0": (frozenset({"h11", "llhttp"}), "version"),
    "http3": (frozenset({"h11"}), "version"),
    "http2-preface": (frozenset({"h11"}), "version"),
}

CLASSES = {
    "cl-and-te", "cl-list", "obs-fold", "bare-lf", "ctl-in-value", "te-coding", "te-http10",
    "host", "duplicate-content-type", "chunk-line", "trailers", "target-form",
    "connect-authority", "version",
}  # fmt: skip


def as_h11_reports(parsed: Parsed) -> Parsed:
    """h11 normalises two things itself: identical repeated Content-Length fields are merged
    into one, and Transfer-Encoding is lower-cased. Apply the same to our result."""
    method, target, headers, body = parsed
    out = []
    seen_cl = False
    for name, value in headers:
        if name == "content-length":
            if seen_cl:
                continue
            seen_cl = True
        elif name == "transfer-encoding":
            value = value.lower()
        out.append((name, value))
    return method, target, tuple(out), body


def _accepting(raw: bytes) -> dict[str, Parsed]:
    out = {}
    for name, parse in ORACLES.items():
        result = parse(raw)
        if isinstance(result, tuple):
            out[name] = result
    return out


@pytest.mark.parametrize("raw", VALID)
def test_valid_corpus_agrees_with_both_oracles(raw: bytes) -> None:
    ours = parse_wsgikit(raw)
    assert isinstance(ours, tuple), "wsgikit refused a valid request"
    accepting = _accepting(raw)
    assert accepting, "wsgikit accepts what no oracle accepts"
    for name, theirs in accepting.items():
        expected = as_h11_reports(ours) if name == "h11" else ours
        assert expected == theirs, f"differs from {name}"


@pytest.mark.parametrize(("raw", "status"), INVALID)
def test_invalid_corpus_differences_are_documented(
    raw: bytes, status: int, request: pytest.FixtureRequest
) -> None:
    case_id = request.node.callspec.id
    ours = parse_wsgikit(raw)
    assert ours == "error"  # the tables say wsgikit refuses these
    accepting = frozenset(_accepting(raw))
    documented = DIFFERENCES.get(case_id)
    if accepting:
        assert documented is not None, f"{sorted(accepting)} accept {raw!r}: document why"
        assert documented[0] == accepting, f"the accepting oracles changed: {sorted(accepting)}"
    else:
        assert documented is None, "stale DIFFERENCES entry: no oracle accepts this any more"


def test_differences_table_is_well_formed() -> None:
    ids = {p.id for p in INVALID}
    for case_id, (oracles, cls) in DIFFERENCES.items():
        assert case_id in ids, f"{case_id} is not in the corpus"
        assert oracles and oracles <= set(ORACLES)
        assert cls in CLASSES
    assert {cls for _, cls in DIFFERENCES.values()} == CLASSES


def test_wsgikit_never_the_only_lenient_one_on_invalid_corpus() -> None:
    """The whole corpus (valid and invalid): wherever wsgikit accepts, an oracle accepts."""
    for param in VALID + INVALID:
        raw = param.values[0]
        if isinstance(parse_wsgikit(raw), tuple):
            assert _accepting(raw), param.id


def test_generated_valid_requests_agree_with_the_oracles() -> None:
    """Hypothesis-generated valid requests: wsgikit matches every oracle that accepts them."""
    require_module("hypothesis")
    from hypothesis import given, settings

    from tests.unit.test_http11_properties import requests

    @settings(max_examples=150, deadline=2000)
    @given(requests())
    def check(request: tuple[bytes, dict[str, object]]) -> None:
        raw = request[0]
        ours = parse_wsgikit(raw)
        assert isinstance(ours, tuple)
        accepting = _accepting(raw)
        assert accepting, f"no oracle accepts {raw!r}"
        for name, theirs in accepting.items():
            expected = as_h11_reports(ours) if name == "h11" else ours
            assert expected == theirs, f"differs from {name}"

    check()


def test_mutated_requests_wsgikit_accepts_are_accepted_alike_by_an_oracle() -> None:
    """Random byte edits of valid requests: whatever wsgikit still accepts, an oracle accepts
    with the same meaning (so no mutation finds a leniency wsgikit has alone)."""
    require_module("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tests.unit.test_http11_properties import SEED_REQUESTS

    edits = st.lists(
        st.tuples(st.integers(min_value=0), st.integers(0, 2), st.binary(min_size=1, max_size=3)),
        min_size=1,
        max_size=3,
    )

    @settings(max_examples=400, deadline=2000)
    @given(st.sampled_from(SEED_REQUESTS), edits)
    def check(seed: bytes, changes: list[tuple[int, int, bytes]]) -> None:
        data = bytearray(seed)
        for where, how, what in changes:
            i = where % (len(data) + 1)
            if how == 0:
                data[i:i] = what
            elif how == 1:
                del data[i : i + len(what)]
            else:
                data[i : i + len(what)] = what
        raw = bytes(data)
        ours = parse_wsgikit(raw)
        if not isinstance(ours, tuple):
            return
        accepting = _accepting(raw)
        assert accepting, f"only wsgikit accepts {raw!r}"
        for name, theirs in accepting.items():
            expected = as_h11_reports(ours) if name == "h11" else ours
            assert expected == theirs, f"differs from {name} on {raw!r}"

    check()
