"""Pure checks of what the application hands ``start_response`` and returns: the status, the
headers (alone and against the status), ``exc_info`` and the result object (rules ``A3xx``,
``A4xx``). Each returns :class:`Problem` values, never raises.
"""

# ruff: noqa: UP031  (the %-formatted texts are wsgiref.validate's, kept verbatim)
from __future__ import annotations

import re
from typing import Any, Optional

from wsgikit.conformance import pep3333
from wsgikit.conformance.findings import Problem
from wsgikit.http11.grammar import FIELD_CONTROL_RE, forbids_content_length, is_digits

__all__ = ["status_problems", "headers_problems", "no_body_header_problems",
           "exc_info_problems", "result_problems"]  # fmt: skip

_ETAG_RE = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')


def status_problems(status: Any) -> tuple[Optional[int], list[Problem]]:
    """(status code or None, problems) for a ``start_response`` status."""
    if type(status) is not str:
        return None, [
            Problem(
                "A305",
                f"status is {status!r} ({type(status).__name__}), not str",
                "Status must be of type str (got %r)" % (status,),
            )
        ]
    out: list[Problem] = []
    code_text = status[:3]
    if len(code_text) != 3 or not is_digits(code_text):
        word = status.split(None, 1)[0] if status.split() else status
        out.append(
            Problem(
                "A306",
                f"status {status!r} does not start with a three-digit code",
                "Status codes must be three characters: %r" % word,
            )
        )
        return None, out
    code = int(code_text)
    if status != status.strip() or FIELD_CONTROL_RE.search(status) or "\t" in status:
        out.append(Problem("A310", f"status {status!r} has surrounding spaces or control chars"))
    if not 100 <= code <= 599:
        out.append(
            Problem(
                "A307",
                f"status code {code} is outside 100..599",
                "Status code is invalid: %r" % code if code < 100 else None,
            )
        )
    if len(status) > 3 and status[3] != " ":
        out.append(Problem("A308", f"status {status!r} has no space after the code"))
    elif not status[4:].strip():
        out.append(Problem("A309", f"status {status!r} has no reason phrase"))
    return code, out


def headers_problems(headers: Any) -> tuple[list[tuple[str, str]], list[Problem]]:
    """(the well-formed (name, value) pairs, problems) for ``start_response`` headers."""
    out: list[Problem] = []
    pairs: list[tuple[str, str]] = []
    if type(headers) is not list:
        out.append(
            Problem(
                "A311",
                f"headers are a {type(headers).__name__}, not a list",
                "Headers (%r) must be of type list: %r" % (headers, type(headers)),
            )
        )
        if not isinstance(headers, (list, tuple)):
            return pairs, out
    lengths: set[str] = set()
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            out.append(
                Problem(
                    "A312",
                    f"header {item!r} is not a (name, value) tuple",
                    "Individual headers (%r) must be of type tuple: %r" % (item, type(item)),
                )
            )
            continue
        name, value = item
        if type(name) is not str:
            out.append(
                Problem(
                    "A313",
                    f"header name {name!r} is not a str",
                    "Header name must be of type str (got %r)" % (name,),
                )
            )
            continue
        if type(value) is not str:
            out.append(
                Problem(
                    "A314",
                    f"header {name!r} has value {value!r}, not a str",
                    "Header value must be of type str (got %r)" % (value,),
                )
            )
            continue
        pairs.append((name, value))
        lower = name.lower()
        if lower == "status":
            out.append(
                Problem(
                    "A315",
                    f"a Status header ({value!r}) was sent",
                    "The Status header cannot be used; it conflicts with CGI script, "
                    "and HTTP status is not given through headers (value: %r)." % (value,),
                )
            )
        if not pep3333.is_token(name):
            out.append(
                Problem(
                    "A316", f"header name {name!r} is not a token", "Bad header name: %r" % (name,)
                )
            )
        elif name.endswith(("-", "_")):
            out.append(
                Problem(
                    "A317",
                    f"header name {name!r} ends in '-' or '_'",
                    "Names may not end in '-' or '_': %r" % (name,),
                )
            )
        elif "_" in name:
            out.append(Problem("A326", f"header name {name!r} contains '_'"))
        bad = FIELD_CONTROL_RE.search(value)
        if bad:
            out.append(
                Problem(
                    "A318",
                    f"header {name!r} value {value!r} has {bad.group(0)!r}",
                    "Bad header value: %r (bad char: %r)" % (value, bad.group(0)),
                )
            )
        elif not pep3333.is_native(value):
            out.append(Problem("A319", f"header {name!r} value {value!r} is not latin-1"))
        elif value != value.strip(" \t"):
            out.append(Problem("A320", f"header {name!r} value {value!r} has outer whitespace"))
        if lower in pep3333.HOP_BY_HOP:
            out.append(Problem("A321", f"hop-by-hop header {name}: {value} sent by the app"))
        if lower == "content-length":
            if not is_digits(value):
                out.append(Problem("A324", f"Content-Length {value!r} is not a decimal integer"))
            lengths.add(value)
        if lower == "etag" and not _ETAG_RE.fullmatch(value):
            out.append(Problem("A327", f"ETag {value!r} is not a quoted entity-tag"))
    if len(lengths) > 1:
        out.append(Problem("A325", f"Content-Length headers disagree: {sorted(lengths)}"))
    return pairs, out


def no_body_header_problems(
    code: int, pairs: list[tuple[str, str]], *, wsgiref: bool = False
) -> list[Problem]:
    """Header problems that depend on the status: metadata on 304, lengths on 1xx/204.

    RFC 9110 §15.4.5 asks a 304 not to carry representation metadata such as Content-Type;
    nothing forbids Content-Type on a 204 (Django and Flask send one by default), so only
    ``wsgiref=True`` (wsgiref's assertion, kept by ``validator()``) flags it there.
    """
    out: list[Problem] = []
    for name, value in pairs:
        lower = name.lower()
        if lower == "content-type" and (code == 304 or (wsgiref and code == 204)):
            out.append(
                Problem(
                    "A322",
                    f"Content-Type {value!r} on a {code} response",
                    "Content-Type header found in a %s response, which must not "
                    "return content." % code,
                )
            )
        if code == 304 and lower in pep3333.NOT_MODIFIED_FORBIDDEN:
            out.append(Problem("A322", f"{name} {value!r} on a 304 response"))
        # RFC 9110 §8.6: never on 1xx/204; a 304 may carry the 200's length. "0" is tolerated:
        # it cannot mislead a client (RFC 9112 §6.3 reads no body on 1xx/204 whatever it says).
        if lower == "content-length" and forbids_content_length(code) and value.strip() != "0":
            out.append(Problem("A413", f"Content-Length {value} on a {code} response"))
    return out


def exc_info_problems(exc_info: Any) -> list[Problem]:
    """``exc_info`` must be None or ``sys.exc_info()``'s 3-tuple."""
    if exc_info is None or (type(exc_info) is tuple and len(exc_info) == 3):
        return []
    return [
        Problem(
            "A304",
            f"exc_info is {exc_info!r}, not None or a 3-tuple",
            "exc_info (%r) is not a tuple: %r" % (exc_info, type(exc_info)),
        )
    ]


def result_problems(result: Any) -> list[Problem]:
    """What is wrong with the object the application returned."""
    if result is None or result is False:
        return [
            Problem(
                "A401",
                f"the application returned {result!r}",
                "The application must return an iterator, if only an empty list",
            )
        ]
    if isinstance(result, (str, bytes)):
        return [
            Problem(
                "A402",
                f"the application returned a {type(result).__name__} "
                f"({result[:20]!r}...) instead of an iterable of bytes",
                "You should not return a string as your application iterator, instead "
                "return a single-item list containing a bytestring.",
            )
        ]
    try:
        iter(result)
    except TypeError:
        return [Problem("A403", f"the application returned {result!r}, which is not iterable")]
    return []
