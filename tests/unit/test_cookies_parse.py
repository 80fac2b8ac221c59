"""The lenient Cookie-header parser: properties, a differential against werkzeug, diagnostics."""

from __future__ import annotations

import string
from http.cookies import SimpleCookie

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.sansio.http import parse_cookie as werkzeug_parse

from middleware.cookies import build_set_cookie, parse_cookie_header
from middleware.signing import Signer

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
names = st.text(TOKEN_CHARS, min_size=1, max_size=12)
# Values werkzeug's grammar and browsers agree on (no space, quote, ';', ',' or backslash).
plain_values = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "!#$%&'()*+-./:<=>?@[]^_`{|}~"),
    max_size=20,
)
# Any text the builder accepts: no control characters (it refuses those).
any_values = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f"), max_size=30
).filter(lambda v: not any(ord(c) < 0x20 for c in v))
spaces = st.sampled_from(["", " ", "  ", "\t"])


def native(text: str) -> str:
    """What a PEP 3333 server puts in HTTP_COOKIE: UTF-8 bytes as latin-1 text."""
    return text.encode("utf-8").decode("latin-1")


def werkzeug_pairs(header: str) -> list[tuple[str, str]]:
    """werkzeug's pairs in header order (its MultiDict would group duplicates by name)."""
    return list(werkzeug_parse(header, cls=list))  # type: ignore[arg-type]


@st.composite
def good_headers(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A header of well-formed pairs (some quoted by werkzeug's dump_cookie) and its pairs."""
    pairs = draw(st.lists(st.tuples(names, any_values), max_size=8))
    parts = []
    for name, value in pairs:
        wire = build_set_cookie(name, value, secure=True).partition(";")[0]
        parts.append(draw(spaces) + wire + draw(spaces))
    return native(";".join(parts)), pairs


@given(good_headers())
def test_differential_well_formed_headers_match_werkzeug(case: tuple[str, list]) -> None:
    header, pairs = case
    ours = parse_cookie_header(header)
    assert ours.pairs == pairs
    assert ours.problems == []
    # werkzeug parses the same pairs (it wants text, not the native latin-1 string).
    assert werkzeug_pairs(header.encode("latin-1").decode("utf-8")) == pairs


@given(st.text(alphabet=st.characters(max_codepoint=0xFF, blacklist_characters='"'), max_size=80))
@settings(max_examples=500)
def test_differential_arbitrary_headers(header: str) -> None:
    """On any quote-free header, ours keeps every werkzeug pair that has a token name and no
    control character, in order, and nothing is lost without a reason."""
    ours = parse_cookie_header(header)
    segments = [s for s in header.split(";") if s.strip(" \t")]
    assert len(ours.pairs) + len(ours.problems) == len(segments)
    expected = []
    for segment in segments:
        text = segment
        try:
            text = segment.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            continue
        found = werkzeug_pairs(text)
        if (
            len(found) == 1
            and "=" in text
            and all(c in TOKEN_CHARS for c in found[0][0])
            and not any(ord(c) < 0x20 and c != "\t" or c == "\x7f" for c in text)
        ):
            expected.append(found[0])
    kept = [p for p in ours.pairs if p in expected]
    assert kept == expected


@st.composite
def mixed_headers(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """Good pairs with arbitrary junk segments between them."""
    good = draw(st.lists(st.tuples(names, plain_values), min_size=1, max_size=6))
    junk = st.text(st.characters(max_codepoint=0x2FF, blacklist_characters=";"), max_size=15)
    parts = []
    for name, value in good:
        parts.extend(draw(st.lists(junk, max_size=2)))
        parts.append(f"{name}={value}")
    parts.extend(draw(st.lists(junk, max_size=2)))
    return native(";".join(parts)), good


def is_subsequence(needle: list, haystack: list) -> bool:
    it = iter(haystack)
    return all(item in it for item in needle)


@given(mixed_headers())
@settings(max_examples=300)
def test_a_malformed_pair_never_costs_the_good_ones(case: tuple[str, list]) -> None:
    header, good = case
    ours = parse_cookie_header(header)
    assert is_subsequence(good, ours.pairs), (ours.pairs, ours.problems)


@given(
    st.lists(
        st.tuples(spaces, names, spaces, spaces, plain_values, spaces).map(
            lambda t: f"{t[0]}{t[1]}{t[2]}={t[3]}{t[4]}{t[5]}"
        ),
        max_size=8,
    )
)
def test_differential_unquoted_pairs_exactly_as_werkzeug(segments: list[str]) -> None:
    """The fast path for plain ``name=value`` pairs agrees with werkzeug's general grammar."""
    header = ";".join(segments)
    assert parse_cookie_header(header).pairs == werkzeug_pairs(header)


@given(names, any_values)
def test_builder_and_parser_round_trip(name: str, value: str) -> None:
    wire = build_set_cookie(name, value, secure=True).partition(";")[0]
    parsed = parse_cookie_header(native(wire))
    assert parsed.pairs == [(name, value)]
    assert parsed[name] == value


@given(st.text(max_size=200))
def test_never_raises_on_any_text(header: str) -> None:
    cookies = parse_cookie_header(header)
    for problem in cookies.problems:
        assert problem.reason
        assert len(problem.text) <= 100


def test_duplicates_kept_in_order_first_wins() -> None:
    cookies = parse_cookie_header("id=specific; other=1; id=general")
    assert cookies["id"] == "specific"
    assert cookies.getlist("id") == ["specific", "general"]
    assert list(cookies) == ["id", "other"]
    assert len(cookies) == 2
    assert cookies.items() == [("id", "specific"), ("other", "1"), ("id", "general")]


@pytest.mark.parametrize(
    ("segment", "reason"),
    [
        pytest.param("b=x\x01y", "control character", id="ctl-in-value"),
        pytest.param("b\x7f=1", "control character", id="del-in-name"),
        pytest.param("=__Host-x=y", "empty name", id="nameless-cve-2023-23934"),
        pytest.param("loner", "no '='", id="no-equals"),
        pytest.param('"__Host-x"=y', "invalid character in name", id="quoted-name-pr-1965"),
        pytest.param("a b=c", "invalid character in name", id="space-in-name"),
        pytest.param("big=" + "v" * 4096, "longer than 4096", id="too-long"),
        pytest.param("bad=\xff\xfe", "not valid UTF-8", id="bad-utf8"),
    ],
)
def test_dropped_pairs_are_reported_and_neighbours_kept(segment: str, reason: str) -> None:
    cookies = parse_cookie_header(f"before=1; {segment}; after=2")
    assert cookies.pairs == [("before", "1"), ("after", "2")]
    assert len(cookies.problems) == 1
    assert reason in cookies.problems[0].reason


def test_too_many_pairs_are_bounded() -> None:
    header = "; ".join(f"c{i}=v" for i in range(300))
    cookies = parse_cookie_header(header, max_pairs=256)
    assert len(cookies.pairs) == 256
    assert len(cookies.problems) == 44
    assert "more than 256" in cookies.problems[0].reason


def test_utf8_values_from_a_native_string() -> None:
    cookies = parse_cookie_header(native("name=Grüße; emoji=\U0001f36a"))
    assert cookies["name"] == "Grüße"
    assert cookies["emoji"] == "\U0001f36a"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param('a=1; json={"k": [1, 2]}; b=2', id="json-gh-92936-gh-86111"),
        pytest.param("a=1; tab=x\ty; b=2", id="tab-gh-127195"),
    ],
)
def test_simplecookie_loses_good_cookies_we_keep_them(header: str) -> None:
    simple = SimpleCookie()
    try:
        simple.load(header)
    except Exception:  # noqa: BLE001 - any failure counts as a loss here
        pass
    ours = parse_cookie_header(header)
    assert ours["a"] == "1" and ours["b"] == "2"
    assert not ("a" in simple and "b" in simple), "SimpleCookie no longer loses them: update"


def test_browser_style_values_werkzeug_refuses_are_kept_verbatim() -> None:
    cookies = parse_cookie_header('json={"k": 1}; odd="unbalanced')
    assert cookies["json"] == '{"k": 1}'
    assert cookies["odd"] == '"unbalanced'
    assert werkzeug_pairs('json={"k": 1}') == []


def test_backslash_heavy_quoted_values_cve_2024_7592() -> None:
    # Quadratic in http.cookies. Here a long one is refused by size before any unquoting,
    # and one within the limit parses (the pytest timeout would catch a slow path).
    huge = '"' + "\\\\" * 100_000 + '"'
    cookies = parse_cookie_header(f"a={huge}; b=1")
    assert cookies.pairs == [("b", "1")]
    assert "longer than 4096" in cookies.problems[0].reason
    fits = '"' + "\\\\" * 2000 + '"'
    assert parse_cookie_header(f"a={fits}")["a"] == "\\" * 2000


def test_signed_cookie_tampered_or_expired_is_absent_and_reported() -> None:
    signer = Signer(["k" * 32], max_age=60)
    good = signer.sign("alice")
    cut = good.rindex(".") + 1  # change the signature's first character
    tampered = good[:cut] + ("A" if good[cut] != "A" else "B") + good[cut + 1 :]
    cookies = parse_cookie_header(f"user={tampered}; user={good}", signer=signer)
    assert cookies.get_signed("user") == "alice"  # a bad duplicate cannot shadow a good one
    assert [p.reason for p in cookies.problems] == ["bad signature"]
    only_bad = parse_cookie_header(f"user={tampered}", signer=signer)
    assert only_bad.get_signed("user") is None
    assert only_bad.get_signed("user") is None  # reported once, not once per read
    assert len(only_bad.problems) == 1
    assert parse_cookie_header("", signer=signer).get_signed("user") is None
    with pytest.raises(RuntimeError, match="signer"):
        parse_cookie_header("user=x").get_signed("user")
