"""wsgikit.headers.Headers: wsgiref's behaviour for good input, always-on checks for bad input."""

from __future__ import annotations

import subprocess
import sys
import wsgiref.headers

import pytest

from wsgikit.headers import HeaderError, Headers, HeaderTypeError

BAD_VALUES = ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b", "a\x01b", "a\x7fb", "\u0100"]
BAD_NAMES = ["", "X Y", "X:Y", "X\r\nY", "X\x00", "X\tY", "(X)", "Ä", "X/Y", 'X"']


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_values_are_rejected_by_every_way_in(value: str) -> None:
    h = Headers()
    for add in (
        lambda: h.__setitem__("X-A", value),
        lambda: h.setdefault("X-A", value),
        lambda: h.add_header("X-A", value),
        lambda: h.add_header("X-A", "ok", p=value),
        lambda: Headers([("X-A", value)]),
    ):
        with pytest.raises(HeaderError, match="X-A"):
            add()
    assert len(h) == 0, "a rejected header must not be stored"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_non_token_names_are_rejected(name: str) -> None:
    with pytest.raises(HeaderError, match="not an RFC 9110 token"):
        Headers()[name] = "v"
    with pytest.raises(HeaderError):
        Headers([(name, "v")])
    with pytest.raises(HeaderError):
        Headers().add_header(name, "v")


def test_errors_are_both_the_natural_class_and_wsgirefs_assertionerror() -> None:
    with pytest.raises(ValueError):
        Headers([("X", "a\nb")])
    with pytest.raises(AssertionError):
        Headers([("X", "a\nb")])
    with pytest.raises(TypeError):
        Headers([("X", b"bytes")])  # type: ignore[list-item]
    with pytest.raises(AssertionError, match="must be of type str"):
        Headers([("X", b"bytes")])  # type: ignore[list-item]
    with pytest.raises(HeaderTypeError, match="tuples"):
        Headers([["X", "v"]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list"):
        Headers((("X", "v"),))  # type: ignore[arg-type]


def test_allowed_values_pass_unchanged() -> None:
    h = Headers()
    h["X-Tab"] = "a\tb"
    h["X-Latin"] = "caf\xe9"
    h["X-Empty"] = ""
    assert bytes(h) == b"X-Tab: a\tb\r\nX-Latin: caf\xe9\r\nX-Empty: \r\n\r\n"


def test_checks_run_under_python_O() -> None:
    """wsgiref skips its checks under -O (gh-150726); wsgikit's are real raises."""
    code = "from wsgikit.headers import Headers\nassert False, 'asserts must be off here'\n"
    probe = subprocess.run(
        [sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    code = (
        "from wsgikit.headers import Headers\n"
        "try:\n    Headers([('X', 'a\\r\\nInjected: 1')])\n"
        "except ValueError as e:\n    print('rejected', e)\n"
    )
    run = subprocess.run(
        [sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert run.stdout.startswith("rejected"), (run.stdout, run.stderr)


def test_bytes_rechecks_a_list_mutated_after_construction() -> None:
    pairs = [("X-A", "ok")]
    h = Headers(pairs)
    pairs.append(("X-B", "a\r\nInjected: yes"))  # the app still holds the list, as in wsgiref
    with pytest.raises(HeaderError):
        bytes(h)


def _exercise(cls: type) -> list[object]:
    """The same operations on wsgikit's and wsgiref's class; the results must match."""
    h = cls([("Content-Type", "text/plain"), ("X-Dup", "1")])
    log: list[object] = [len(h), h.keys(), h.values(), h.items()]
    h.add_header("X-Dup", "2")
    h.add_header("Content-Disposition", "attachment", filename="a b.txt", size=None)
    h.add_header("X-Params", None, a_b="c", quoted='x"y\\z')
    log += [h.get_all("x-dup"), h["content-disposition"], h["X-PARAMS"], "x-dup" in h]
    log += [
        h.get("missing"),
        h.get("missing", "d"),
        h.setdefault("X-New", "n"),
        h.setdefault("x-new", "m"),
    ]
    h["x-dup"] = "3"
    del h["CONTENT-TYPE"]
    del h["absent"]
    log += [str(h), bytes(h), repr(h).split("(", 1)[1]]
    return log


def test_same_results_as_wsgiref_for_valid_input() -> None:
    assert _exercise(Headers) == _exercise(wsgiref.headers.Headers)


def test_items_is_a_copy_and_init_keeps_the_callers_list() -> None:
    pairs = [("X", "1")]
    h = Headers(pairs)
    assert h.items() == pairs and h.items() is not pairs
    h["Y"] = "2"
    assert pairs == [("X", "1"), ("Y", "2")]  # wsgiref shares the list; so do we
