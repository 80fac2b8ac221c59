"""Pure checks of what the server hands the application: the environ, ``wsgi.input`` and
``wsgi.errors`` (rules ``S1xx``). Each returns a list of :class:`Problem`, never raises.
"""

# ruff: noqa: UP031  (the %-formatted texts are wsgiref.validate's, kept verbatim)
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wsgikit.conformance import pep3333
from wsgikit.conformance.findings import Problem
from wsgikit.http11.grammar import MAX_PORT, is_digits

__all__ = ["environ_problems", "input_problems", "errors_problems"]


def environ_problems(environ: Any, *, wsgiref: bool = False) -> list[Problem]:
    """Everything wrong with an environ as the server hands it to the application.

    ``wsgiref=True`` adds the checks ``wsgiref.validate`` makes beyond PEP 3333 (``S107``
    QUERY_STRING absent, ``S114`` SCRIPT_NAME and PATH_INFO both empty): ``validator()`` and
    the ``check_*`` functions keep them, the PEP-faithful engine does not.
    """
    out: list[Problem] = []
    if type(environ) is not dict:
        out.append(
            Problem(
                "S101",
                f"environ is a {type(environ).__name__}, not a dict",
                "Environment is not of the right type: %r (environment: %r)"
                % (type(environ), environ),
            )
        )
        if not isinstance(environ, Mapping):
            return out
    for key in pep3333.REQUIRED_KEYS:
        if key not in environ:
            out.append(
                Problem(
                    "S102", f"{key!r} is missing", "Environment missing required key: %r" % (key,)
                )
            )
    for key, instead in pep3333.FORBIDDEN_KEYS.items():
        if key in environ:
            out.append(
                Problem(
                    "S104",
                    f"{key!r} is present; the server must use {instead!r}",
                    "Environment should not have the key: %s (use %s instead)" % (key, instead),
                )
            )
    if wsgiref and "QUERY_STRING" not in environ:  # PEP 3333: "may be empty or absent"
        out.append(
            Problem(
                "S107",
                "QUERY_STRING is absent; cgi-style code falls back to argv",
                "QUERY_STRING is not in the WSGI environment; the cgi module will use "
                "sys.argv when this variable is missing, so application errors are more likely",
            )
        )
    for key, value in environ.items():
        if not isinstance(key, str) or "." in key:
            continue
        if type(value) is not str:
            out.append(
                Problem(
                    "S105",
                    f"{key} is {value!r} ({type(value).__name__}), not str",
                    "Environmental variable %s is not a string: %r (value: %r)"
                    % (key, type(value), value),
                )
            )
        elif not pep3333.is_native(value):
            out.append(Problem("S106", f"{key}={value!r} has characters above U+00FF"))
        elif key.startswith("HTTP_") and ("\r" in value or "\n" in value or "\0" in value):
            out.append(Problem("S124", f"{key}={value!r} holds CR, LF or NUL"))
    for key in pep3333.NON_EMPTY_KEYS:
        if environ.get(key) == "":
            out.append(Problem("S103", f"{key} is empty"))
    if environ.get("SERVER_NAME") == "":
        out.append(Problem("S126", "SERVER_NAME is empty (PEP 3333: it can never be empty)"))
    version = environ.get("wsgi.version", (1, 0))
    if type(version) is not tuple:
        out.append(
            Problem(
                "S108",
                f"wsgi.version is {version!r}, not the tuple (1, 0)",
                "wsgi.version should be a tuple (%r)" % (version,),
            )
        )
    elif version != (1, 0):
        out.append(Problem("S108", f"wsgi.version is {version!r}, not (1, 0)"))
    scheme = environ.get("wsgi.url_scheme", "http")
    if scheme not in ("http", "https"):
        out.append(
            Problem(
                "S109", f"wsgi.url_scheme is {scheme!r}", "wsgi.url_scheme unknown: %r" % (scheme,)
            )
        )
    for key in pep3333.FLAG_KEYS:  # PEP 3333: "should evaluate true"; 1 and 0 do
        if key in environ:
            try:
                bool(environ[key])
            except Exception as exc:
                out.append(Problem("S110", f"{key} is {environ[key]!r}: bool() raised {exc!r}"))
    if "wsgi.input" in environ:
        out.extend(input_problems(environ["wsgi.input"]))
    if "wsgi.errors" in environ:
        out.extend(errors_problems(environ["wsgi.errors"]))
    if "wsgi.file_wrapper" in environ and not callable(environ["wsgi.file_wrapper"]):
        out.append(Problem("S122", f"wsgi.file_wrapper is {environ['wsgi.file_wrapper']!r}"))
    for key, kind in pep3333.WSGI_KEY_TYPES.items():
        if key in environ and type(environ[key]) is not kind:
            out.append(Problem("S123", f"{key} is {environ[key]!r}, not a {kind.__name__}"))
    method = environ.get("REQUEST_METHOD")
    if type(method) is str and method:
        if not pep3333.is_token(method):
            out.append(Problem("S118", f"REQUEST_METHOD={method!r} is not a token"))
        elif method not in pep3333.KNOWN_METHODS:
            out.append(Problem("S119", f"REQUEST_METHOD={method!r} is not a common method"))
    script = environ.get("SCRIPT_NAME")
    path = environ.get("PATH_INFO")
    if type(script) is str and script and not script.startswith("/"):
        out.append(
            Problem(
                "S111",
                f"SCRIPT_NAME={script!r} does not start with '/'",
                "SCRIPT_NAME doesn't start with /: %r" % (script,),
            )
        )
    asterisk = path == "*" and environ.get("REQUEST_METHOD") == "OPTIONS"  # OPTIONS * HTTP/1.1
    if type(path) is str and path and not path.startswith("/") and not asterisk:
        out.append(
            Problem(
                "S113",
                f"PATH_INFO={path!r} does not start with '/'",
                "PATH_INFO doesn't start with /: %r" % (path,),
            )
        )
    length = environ.get("CONTENT_LENGTH")
    if type(length) is str and length and not is_digits(length):
        out.append(
            Problem(
                "S115",
                f"CONTENT_LENGTH={length!r} is not a decimal integer",
                "Invalid CONTENT_LENGTH: %r" % (length,),
            )
        )
    # PEP 3333 lets both be empty (the application root without a trailing slash); wsgiref
    # asserts one of them is non-empty.
    if wsgiref and not script and not path:
        out.append(
            Problem(
                "S114",
                "SCRIPT_NAME and PATH_INFO are both empty or missing",
                "One of SCRIPT_NAME or PATH_INFO are required (PATH_INFO should at "
                "least be '/' if SCRIPT_NAME is empty)",
            )
        )
    if script == "/":
        out.append(
            Problem(
                "S112",
                "SCRIPT_NAME is '/'; use '' with PATH_INFO '/'",
                "SCRIPT_NAME cannot be '/'; it should instead be '', and PATH_INFO should be '/'",
            )
        )
    elif type(script) is str and len(script) > 1 and script.endswith("/"):
        out.append(Problem("S125", f"SCRIPT_NAME={script!r} ends with '/'"))
    port = environ.get("SERVER_PORT")
    if type(port) is str and port and not (is_digits(port) and int(port) <= MAX_PORT):
        out.append(Problem("S116", f"SERVER_PORT={port!r} is not a port number"))
    protocol = environ.get("SERVER_PROTOCOL")
    if type(protocol) is str and not re.fullmatch(r"HTTP/\d(\.\d)?|INCLUDED", protocol):
        out.append(Problem("S117", f"SERVER_PROTOCOL={protocol!r} is not HTTP/x.y"))
    return out


def input_problems(wsgi_input: Any) -> list[Problem]:
    return [
        Problem(
            "S120",
            f"wsgi.input ({wsgi_input!r}) has no {attr}()",
            "wsgi.input (%r) doesn't have the attribute %s" % (wsgi_input, attr),
        )
        for attr in pep3333.INPUT_METHODS
        if not hasattr(wsgi_input, attr)
    ]


def errors_problems(wsgi_errors: Any) -> list[Problem]:
    return [
        Problem(
            "S121",
            f"wsgi.errors ({wsgi_errors!r}) has no {attr}()",
            "wsgi.errors (%r) doesn't have the attribute %s" % (wsgi_errors, attr),
        )
        for attr in pep3333.ERRORS_METHODS
        if not hasattr(wsgi_errors, attr)
    ]
