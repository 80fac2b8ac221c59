"""wsgikit.server.forwarded: header grammar, trust by CIDR and hop count, stripping, originals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgikit.server.forwarded import (
    ORIGINALS_KEY,
    ForwardedError,
    ProxyTrust,
    apply,
    is_trusted,
    parse_address,
    parse_forwarded,
    resolve,
)

ALL = ("forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
       "x-forwarded-port", "x-forwarded-prefix")


def env(peer: str = "10.0.0.1", **headers: str) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REMOTE_ADDR": peer, "wsgi.url_scheme": "http", "HTTP_HOST": "internal:8000",
        "SERVER_NAME": "internal", "SERVER_PORT": "8000", "SCRIPT_NAME": "",
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    return environ


def trust(hops: int = 1, headers: tuple[str, ...] = ALL) -> ProxyTrust:
    return ProxyTrust.from_options(["10.0.0.0/8", "fd00::/8"], hops=hops, headers=headers)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("for=192.0.2.60;proto=http;by=203.0.113.43",
         [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}]),
        ('for="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}]),
        ("for=192.0.2.43, for=198.51.100.17", [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}]),
        ('For="_gazonk"', [{"for": "_gazonk"}]),
        ('for="a\\"b,c"', [{"for": 'a"b,c'}]),
        ("for=1.2.3.4;;proto=https,,", [{"for": "1.2.3.4", "proto": "https"}]),
    ],
)
def test_parse_forwarded_accepts_rfc7239_examples(
    value: str, expected: list[dict[str, str]]
) -> None:
    assert parse_forwarded(value) == expected


@pytest.mark.parametrize(
    "value",
    ["for", "for=", 'for="unterminated', "for=1.2.3.4 junk", "for=a;for=b", "=x",
     'for="\x01"', "x" * 9000],
)
def test_parse_forwarded_rejects_malformed(value: str) -> None:
    with pytest.raises(ForwardedError):
        parse_forwarded(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("192.0.2.1", "192.0.2.1"), ("192.0.2.1:8080", "192.0.2.1"), ("2001:db8::1", "2001:db8::1"),
     ("[2001:db8::1]:80", "2001:db8::1"), ("::ffff:10.1.2.3", "10.1.2.3"), ("unknown", None),
     ("_hidden", None), ("[::1", None), ("1.2.3.4:x", None), ("", None)],
)
def test_parse_address(value: str, expected: str | None) -> None:
    parsed = parse_address(value)
    assert (str(parsed) if parsed else None) == expected


def test_is_trusted_by_cidr_and_family() -> None:
    nets = trust().networks
    assert is_trusted("10.200.3.4", nets)
    assert is_trusted("fd12::1", nets)
    assert not is_trusted("11.0.0.1", nets)
    assert not is_trusted("fe80::1", nets)
    assert not is_trusted(None, nets)
    assert not is_trusted("garbage", nets)


@pytest.mark.parametrize(
    ("options", "error"),
    [({"trusted": []}, ValueError), ({"trusted": ["not-an-ip"]}, ValueError),
     ({"trusted": ["10.0.0.0/8"], "hops": 0}, ValueError),
     ({"trusted": ["10.0.0.0/8"], "hops": "2"}, TypeError),
     ({"trusted": ["10.0.0.0/8"], "headers": ["x-forwarded-evil"]}, ValueError),
     ({"trusted": ["10.0.0.0/8"], "headers": "forwarded"}, TypeError)],
)
def test_bad_options_are_rejected(options: dict[str, Any], error: type[Exception]) -> None:
    trusted = options.pop("trusted")
    with pytest.raises(error):
        ProxyTrust.from_options(trusted, **options)


def test_comma_separated_string_of_networks() -> None:
    assert len(ProxyTrust.from_options("10.0.0.0/8, 127.0.0.1").networks) == 2


def test_untrusted_peer_headers_stripped_and_kept() -> None:
    environ = env(peer="203.0.113.9", x_forwarded_for="1.1.1.1", forwarded="for=2.2.2.2",
                  x_forwarded_proto="https")
    view = apply(environ, trust())
    assert not view.trusted_peer
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    assert environ["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in environ and "HTTP_FORWARDED" not in environ
    assert environ[ORIGINALS_KEY]["HTTP_X_FORWARDED_FOR"] == "1.1.1.1"
    assert environ[ORIGINALS_KEY]["HTTP_FORWARDED"] == "for=2.2.2.2"


def test_one_trusted_hop_takes_rightmost_entry_only() -> None:
    environ = env(x_forwarded_for="6.6.6.6, 198.51.100.7", x_forwarded_proto="https")
    apply(environ, trust())
    assert environ["REMOTE_ADDR"] == "198.51.100.7"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["SERVER_PORT"] == "443"
    assert environ[ORIGINALS_KEY]["REMOTE_ADDR"] == "10.0.0.1"
    assert environ[ORIGINALS_KEY]["wsgi.url_scheme"] == "http"


def test_hops_walk_through_trusted_proxies_and_stop_at_first_untrusted() -> None:
    environ = env(x_forwarded_for="6.6.6.6, 198.51.100.7, 10.9.9.9")
    assert resolve(environ, trust(hops=3)).client == "198.51.100.7"
    # With hop budget 1 the second proxy's address is what we get.
    assert resolve(environ, trust(hops=1)).client == "10.9.9.9"


def test_spoofed_leftmost_entries_never_win() -> None:
    environ = env(x_forwarded_for="127.0.0.1, 10.0.0.5, 198.51.100.7")
    assert resolve(environ, trust(hops=5)).client == "198.51.100.7"


def test_forwarded_header_with_host_and_proto() -> None:
    environ = env(forwarded='for=192.0.2.1;proto=https;host="example.com:8443"',
                  x_forwarded_for="6.6.6.6")
    apply(environ, trust())
    assert environ["REMOTE_ADDR"] == "192.0.2.1"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "example.com:8443"
    assert environ["SERVER_NAME"] == "example.com"
    assert environ["SERVER_PORT"] == "8443"


def test_malformed_forwarded_from_trusted_peer_changes_nothing() -> None:
    environ = env(forwarded="for=1.2.3.4 junk")
    view = apply(environ, trust())
    assert view.error and "Forwarded" in view.error
    assert environ["REMOTE_ADDR"] == "10.0.0.1"


def test_headers_not_enabled_are_ignored() -> None:
    environ = env(x_forwarded_for="198.51.100.7", x_forwarded_host="evil.example")
    apply(environ, trust(headers=("x-forwarded-for",)))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"
    assert environ["HTTP_HOST"] == "internal:8000"


def test_port_and_prefix() -> None:
    environ = env(x_forwarded_host="example.com", x_forwarded_port="8443",
                  x_forwarded_prefix="/app%20one/", x_forwarded_proto="https")
    environ["SCRIPT_NAME"] = "/inner"
    apply(environ, trust())
    assert environ["HTTP_HOST"] == "example.com:8443"
    assert environ["SERVER_PORT"] == "8443"
    assert environ["SCRIPT_NAME"] == "/app one/inner"
    assert environ[ORIGINALS_KEY]["SCRIPT_NAME"] == "/inner"


@pytest.mark.parametrize(
    ("header", "value"),
    [("x_forwarded_proto", "javascript"), ("x_forwarded_host", "evil.com/path"),
     ("x_forwarded_host", "a b"), ("x_forwarded_port", "99999"), ("x_forwarded_port", "80x"),
     ("x_forwarded_prefix", "//evil.com"), ("x_forwarded_prefix", "/a/../b"),
     ("x_forwarded_prefix", "/a%0d%0aSet-Cookie:x"), ("x_forwarded_prefix", "noslash")],
)
def test_invalid_values_are_ignored_with_an_error(header: str, value: str) -> None:
    environ = env(**{header: value})
    before = dict(environ)
    view = apply(environ, trust())
    assert view.error is not None
    for key in ("wsgi.url_scheme", "HTTP_HOST", "SERVER_PORT", "SCRIPT_NAME"):
        assert environ[key] == before[key]


def test_unknown_client_keeps_peer() -> None:
    assert resolve(env(forwarded="for=unknown"), trust()).client == "10.0.0.1"



HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=200)


@settings(max_examples=300, deadline=None)
@given(HEADER_TEXT)
def test_parse_forwarded_only_raises_forwarded_error(value: str) -> None:
    try:
        elements = parse_forwarded(value)
    except ForwardedError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for e in elements for k, v in e.items())


@pytest.mark.parametrize("digits", ["\u00b2", "\u0663", "\uff18\uff10", "8\u00b2"])
def test_non_ascii_digits_are_not_a_port(digits: str) -> None:
    # str.isdigit() accepts them; int() refuses "²" (apply crashed) and "٣" became SERVER_PORT.
    environ = env(x_forwarded_port=digits, x_forwarded_host=f"example.com:{digits}",
                  x_forwarded_for=f"[2001:db8::1]:{digits}")
    apply(environ, trust(hops=1))
    assert (environ["SERVER_PORT"], environ["HTTP_HOST"]) == ("8000", "internal:8000")
    ascii_port = env(x_forwarded_port="80", x_forwarded_host="example.com:80")
    apply(ascii_port, trust(hops=1))
    assert (ascii_port["SERVER_PORT"], ascii_port["HTTP_HOST"]) == ("80", "example.com:80")


@settings(max_examples=300, deadline=None)
@given(HEADER_TEXT, HEADER_TEXT, HEADER_TEXT, HEADER_TEXT, HEADER_TEXT, HEADER_TEXT)
def test_apply_never_crashes_and_sets_only_clean_values(
    forwarded: str, x_for: str, proto: str, host: str, port: str, prefix: str
) -> None:
    environ = env(forwarded=forwarded, x_forwarded_for=x_for, x_forwarded_proto=proto,
                  x_forwarded_host=host, x_forwarded_port=port, x_forwarded_prefix=prefix)
    apply(environ, trust(hops=3))
    assert environ["wsgi.url_scheme"] in ("http", "https")
    assert environ["SERVER_PORT"].isdigit()
    for key in ("REMOTE_ADDR", "HTTP_HOST", "SERVER_NAME", "SCRIPT_NAME"):
        assert not any(ord(c) < 0x20 or c == "\x7f" for c in environ[key]), key
    assert not environ["SCRIPT_NAME"].startswith("//")
