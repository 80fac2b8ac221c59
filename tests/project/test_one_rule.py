"""One rule, one place: every HTTP/PEP 3333 rule that several modules enforce is defined once,
and each module that uses it holds that very object (``is``), not a copy that could drift.

The table names each rule's one definition and every module that uses it. A module that writes
its own copy again (even an equal one) fails here; so does a derived set that stops being built
from the one definition, and a façade name that is not the engine's object.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: rule -> ((defining module, name), [(user module, name it is known by there), ...])
RULES: dict[str, tuple[tuple[str, str], list[tuple[str, str]]]] = {
    "hop-by-hop field names": (
        ("wsgikit.http11.grammar", "HOP_BY_HOP"),
        [
            ("wsgikit.http11", "HOP_BY_HOP"),
            ("wsgikit.http11.writer", "HOP_BY_HOP"),
            ("wsgikit.server.gateway", "HOP_BY_HOP"),
            ("wsgikit.conformance.pep3333", "HOP_BY_HOP"),
        ],
    ),
    "wsgiref's hop-by-hop names": (
        ("wsgikit.http11.grammar", "WSGIREF_HOP_BY_HOP"),
        [("wsgikit.util", "HOP_BY_HOP_HEADERS")],
    ),
    "RFC 9110 token (regex)": (
        ("wsgikit.http11.grammar", "TOKEN_RE"),
        [
            ("wsgikit.http11._head", "TOKEN_RE"),
            ("wsgikit.http11.writer", "TOKEN_RE"),
            ("wsgikit.headers", "TOKEN_RE"),
            ("wsgikit.conformance.pep3333", "TOKEN_RE"),
        ],
    ),
    "RFC 9110 token (predicate)": (
        ("wsgikit.http11.grammar", "is_token"),
        [("wsgikit.conformance.pep3333", "is_token")],
    ),
    "RFC 9110 tchar (character set)": (
        ("wsgikit.http11.grammar", "TCHARS"),
        [("wsgikit.server.forwarded", "_TOKEN_CHARS")],
    ),
    "RFC 9110 tchar (regex class)": (
        ("wsgikit.http11.grammar", "TCHAR"),
        [("wsgikit.http11.writer", "TCHAR")],
    ),
    "PEP 3333 required environ keys": (
        ("wsgikit.conformance.pep3333", "REQUIRED_KEYS"),
        [("wsgikit.server.environ", "REQUIRED_KEYS")],
    ),
    "header name -> CGI environ key": (
        ("wsgikit.server.environ", "cgi_key"),
        [("wsgikit.server.accesslog", "cgi_key"), ("wsgikit.server.forwarded", "environ_key")],
    ),
    "HTTP_CONTENT_TYPE/LENGTH -> CONTENT_TYPE/LENGTH": (
        ("wsgikit.conformance.pep3333", "FORBIDDEN_KEYS"),
        [("wsgikit.server.environ", "FORBIDDEN_KEYS")],
    ),
    "the highest port number (an int past the small-int cache: a copy is another object)": (
        ("wsgikit.http11.grammar", "MAX_PORT"),
        [("wsgikit.config", "MAX_PORT"), ("wsgikit.server.proxy_protocol", "MAX_PORT"),
         ("wsgikit.server.forwarded", "MAX_PORT"),
         ("wsgikit.conformance.environ_checks", "MAX_PORT")],
    ),
    "common methods": (
        ("wsgikit.http11.grammar", "METHODS"),
        [("wsgikit.conformance.pep3333", "KNOWN_METHODS")],
    ),
    "statuses without a body": (
        ("wsgikit.http11.grammar", "NO_BODY_STATUSES"),
        [
            ("wsgikit.conformance.pep3333", "NO_BODY_STATUSES"),
        ],
    ),
    "responses without content (1xx, 204, 304)": (
        ("wsgikit.http11.grammar", "has_no_content"),
        [("wsgikit.http11.writer", "has_no_content"),
         ("wsgikit.conformance.exchange", "has_no_content")],
    ),
    "no Content-Length on 1xx and 204": (
        ("wsgikit.http11.grammar", "forbids_content_length"),
        [("wsgikit.http11.writer", "forbids_content_length"),
         ("wsgikit.conformance.response_checks", "forbids_content_length")],
    ),
    "1*DIGIT (Content-Length, ports)": (
        ("wsgikit.http11.grammar", "DIGITS_RE"),
        [
            ("wsgikit.http11._head", "DIGITS_RE"),
            ("wsgikit.simple_server", "DIGITS_RE"),
        ],
    ),
    "1*DIGIT (predicate)": (
        ("wsgikit.http11.grammar", "is_digits"),
        [
            ("wsgikit.http11.writer", "is_digits"),
            ("wsgikit.handlers", "is_digits"),
            ("wsgikit.server.forwarded", "is_digits"),
            ("wsgikit.server.accesslog", "is_digits"),
            ("wsgikit.server.proxy_protocol", "is_digits"),
            ("wsgikit.ops.checker", "is_digits"),
            ("wsgikit.conformance.environ_checks", "is_digits"),
            ("wsgikit.conformance.response_checks", "is_digits"),
            ("wsgikit.conformance.exchange", "is_digits"),
            ("wsgikit.conformance.engine", "is_digits"),
        ],
    ),
    "field-value characters": (
        ("wsgikit.http11.grammar", "FIELD_CHARS"),
        [("wsgikit.http11.writer", "FIELD_CHARS")],
    ),
    "a character a field value must not hold": (
        ("wsgikit.http11.grammar", "NOT_FIELD_CHAR_RE"),
        [("wsgikit.headers", "NOT_FIELD_CHAR_RE")],
    ),
    "a control character in a field value": (
        ("wsgikit.http11.grammar", "FIELD_CONTROL_RE"),
        [("wsgikit.conformance.response_checks", "FIELD_CONTROL_RE")],
    ),
    "the combined access-log format": (
        ("wsgikit.config", "COMBINED_LOG_FORMAT"),
        [("wsgikit.server.accesslog", "COMBINED")],
    ),
    "IMF-fixdate day names": (
        ("wsgikit.http11.grammar", "DAY_NAMES"),
        [("wsgikit.http11.writer", "DAY_NAMES"), ("wsgikit.handlers", "DAY_NAMES")],
    ),
    "IMF-fixdate month names": (
        ("wsgikit.http11.grammar", "MONTH_NAMES"),
        [("wsgikit.http11.writer", "MONTH_NAMES"), ("wsgikit.handlers", "MONTH_NAMES")],
    ),
}

USES = [
    pytest.param(definition, user, id=f"{rule}: {user[0]}.{user[1]}")
    for rule, (definition, users) in RULES.items()
    for user in users
]


def _get(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _mismatch(definition: tuple[str, str], user: tuple[str, str]) -> str | None:
    """Why ``user`` is not the one definition (None when it is that very object)."""
    if _get(*user) is _get(*definition):
        return None
    return f"{user[0]}.{user[1]} is its own copy, not {definition[0]}.{definition[1]}"


@pytest.mark.parametrize(("definition", "user"), USES)
def test_each_user_holds_the_one_definition(
    definition: tuple[str, str], user: tuple[str, str]
) -> None:
    assert _mismatch(definition, user) is None


def test_a_copy_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity check can fail: an equal copy of the set is not the one definition."""
    from wsgikit.conformance import pep3333

    monkeypatch.setattr(pep3333, "HOP_BY_HOP", frozenset(set(pep3333.HOP_BY_HOP)))
    found = _mismatch(("wsgikit.http11.grammar", "HOP_BY_HOP"),
                      ("wsgikit.conformance.pep3333", "HOP_BY_HOP"))
    assert found == (
        "wsgikit.conformance.pep3333.HOP_BY_HOP is its own copy, "
        "not wsgikit.http11.grammar.HOP_BY_HOP"
    )


def test_derived_forms_come_from_the_one_definition() -> None:
    """Sets that must differ are built from the one set, so they change with it."""
    from wsgikit.conformance import pep3333
    from wsgikit.http11 import _head, grammar
    from wsgikit.server import environ

    assert grammar.WSGIREF_HOP_BY_HOP == grammar.HOP_BY_HOP - {"trailer", "proxy-connection"}
    assert grammar.TCHARS == {chr(c) for c in range(128) if re.fullmatch(f"[{grammar.TCHAR}]",
                                                                          chr(c))}
    assert grammar._B_TOKEN == grammar.TOKEN.encode("ascii")
    assert _head.COMMON_METHODS == grammar.METHODS - {"CONNECT"}
    assert environ.BUILT_KEYS == (*pep3333.REQUIRED_KEYS, "SCRIPT_NAME", "PATH_INFO",
                                  "QUERY_STRING")


def test_the_validator_and_the_server_agree_on_hop_by_hop() -> None:
    """What the validator flags as hop-by-hop (A321) is exactly what the server refuses."""
    from wsgikit.conformance.response_checks import headers_problems
    from wsgikit.http11 import ResponseError, ResponseWriter, grammar

    def server_refuses(name: str) -> bool:
        writer = ResponseWriter(request_method="GET", http_version="1.1",
                                request_keep_alive=True)
        try:
            writer.start("200 OK", [(name, "x")])
        except ResponseError:
            return True
        return False

    for name in sorted(grammar.HOP_BY_HOP):
        _, problems = headers_problems([(name.title(), "x")])
        assert [p.rule for p in problems] == ["A321"], name
        assert server_refuses(name.title()), name
    _, problems = headers_problems([("Trailers-Not", "x")])
    assert problems == [] and not server_refuses("Trailers-Not")


# Spellings of a rule that only its one definition may contain (a copy-paste would match).
SIGNATURES = {
    "the tchar set": re.compile(r"\^_`\|~"),
    "IMF-fixdate names": re.compile(r'"Mon", "Tue", "Wed"'),
    "the latin-1 control range": re.compile(r"\\x00-\\x08\\x0a-\\x1f"),
    "1*DIGIT spelled out": re.compile(
        r"isascii\(\) and [\w.\[\]:]*isdigit\(\)|isdigit\(\) or not [\w.\[\]:]*isascii"
    ),
}
SIGNATURE_HOME = "wsgikit/http11/grammar.py"


def _copies(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "wsgikit").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == SIGNATURE_HOME:
            continue
        text = path.read_text(encoding="utf-8")
        found.extend(f"{rel}: {what}" for what, pattern in SIGNATURES.items()
                     if pattern.search(text))
    return found


def test_no_module_spells_a_rule_again() -> None:
    assert _copies(ROOT) == []


def test_a_spelled_out_copy_is_caught(tmp_path: Path) -> None:
    (tmp_path / "wsgikit").mkdir()
    (tmp_path / "wsgikit" / "mine.py").write_text(
        "TOKEN = r\"[!#$%&'*+\\-.^_`|~0-9A-Za-z]+\"\n"
    )
    assert _copies(tmp_path) == ["wsgikit/mine.py: the tchar set"]


def test_validate_is_a_face_over_the_engine() -> None:
    """Every public name of wsgikit.validate is the engine's object from wsgikit.conformance."""
    import wsgikit.validate as validate

    for name in validate.__all__:
        obj = getattr(validate, name)
        home = getattr(obj, "__module__", None)
        if home is None:  # MODES, a tuple: compare with the engine's
            from wsgikit.conformance import findings

            assert obj is getattr(findings, name), name
            continue
        assert home.startswith("wsgikit.conformance."), (name, home)
        assert obj is getattr(importlib.import_module(home), name), name


# --- default request limits: numbers, so identity cannot tell a copy (100 is 100): read the source
LIMIT_USERS = ("wsgikit/http11/parser.py", "wsgikit/config.py")


def _limit_names() -> set[str]:
    from wsgikit.http11 import limits

    return {name for name in vars(limits) if name.startswith("MAX_")}


def _is_reference(node: ast.expr, name: str) -> bool:
    return (isinstance(node, ast.Name) and node.id == name) or (
        isinstance(node, ast.Attribute) and node.attr == name
    )


def _limit_defaults(source: str) -> dict[str, bool]:
    """{setting: its default refers to wsgikit.http11.limits} for every limit setting in a file."""
    names = _limit_names()
    found: dict[str, bool] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults):
                if arg.arg.upper() in names and default is not None:
                    found[arg.arg] = _is_reference(default, arg.arg.upper())
        elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
              and node.target.id.upper() in names and isinstance(node.value, ast.Call)):
            found[node.target.id] = _is_reference(node.value.args[0], node.target.id.upper())
    return found


@pytest.mark.parametrize("path", LIMIT_USERS)
def test_limit_defaults_come_from_http11_limits(path: str) -> None:
    found = _limit_defaults((ROOT / path).read_text(encoding="utf-8"))
    assert sorted(found) == sorted(name.lower() for name in _limit_names())
    assert [name for name, ok in found.items() if not ok] == []


def test_a_limit_written_as_a_number_is_caught() -> None:
    source = (
        "class C:\n    max_header_count: int = _setting(100, _to_int, 'x')\n"
        "    max_body_bytes: int = _setting(MAX_BODY_BYTES, _to_size, 'y')\n"
    )
    assert _limit_defaults(source) == {"max_header_count": False, "max_body_bytes": True}


def test_the_access_log_format_default_is_the_combined_format() -> None:
    from wsgikit.config import ServerConfig
    from wsgikit.server import accesslog

    assert ServerConfig().access_log_format is accesslog.FORMATS["combined"]


def test_the_parser_and_the_config_default_to_the_same_limits() -> None:
    from wsgikit.config import ServerConfig
    from wsgikit.http11 import RequestParser

    parser, config = RequestParser(), ServerConfig()
    for name in sorted(_limit_names()):
        assert getattr(parser, name.lower()) == getattr(config, name.lower()), name
