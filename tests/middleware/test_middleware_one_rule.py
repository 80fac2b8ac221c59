"""One rule, one place: middleware imports the HTTP grammar from wsgikit instead of copying it.

Each rule a middleware module uses is checked for identity (``is``) with wsgikit's object, and
the middleware sources are searched for a hand-written copy of the RFC 9110 token class.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import middleware
import middleware._wsgi
import middleware.cookies
import middleware.cors
import middleware.sessions
from wsgikit.http11 import grammar

MIDDLEWARE_DIR = Path(middleware.__file__).parent


@pytest.mark.parametrize("module", [middleware.cookies, middleware.cors],
                         ids=lambda m: m.__name__)
def test_token_grammar_is_wsgikit_s(module: Any) -> None:
    assert module.TOKEN_RE is grammar.TOKEN_RE


def test_cookie_pair_pattern_is_built_from_the_grammar() -> None:
    pattern = middleware.cookies._SIMPLE_PAIR.pattern
    assert pattern.startswith(f"([{grammar.TCHAR}]+){grammar.OWS}={grammar.OWS}(")


def test_https_rule_is_shared_by_cookies_and_sessions() -> None:
    assert middleware.cookies.is_https is middleware._wsgi.is_https
    assert middleware.sessions.is_https is middleware._wsgi.is_https


# A character class holding most of tchar's punctuation, in any order: a copied token rule.
_COPIED_TCHAR = re.compile(r"\[[^\]]*!#\$%&'\*\+[^\]]*\]")


def test_no_middleware_module_writes_its_own_token_class() -> None:
    copies = [
        f"{path.name}:{number}"
        for path in sorted(MIDDLEWARE_DIR.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _COPIED_TCHAR.search(line)
    ]
    assert copies == [], f"token grammar copied instead of imported from grammar: {copies}"


def test_the_copy_detector_can_fail() -> None:
    assert _COPIED_TCHAR.search("""_TOKEN = re.compile(r"[!#$%&'*+\\-.^_`|~0-9A-Za-z]+")""")
    assert _COPIED_TCHAR.search("""_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\\Z")""")
    assert not _COPIED_TCHAR.search('rf"([{TCHAR}]+){OWS}={OWS}([\\x21\\x23-\\x2b]*)"')
