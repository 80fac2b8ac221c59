"""A deliberately non-conformant app: ``wsgikit check sample_apps.nonconformant:app`` shows why.

Every line marked ``BUG`` in :func:`app` breaks a PEP 3333 rule (docs/validator.rst prints the
report). A server must refuse such a response (wsgikit answers 500), so the samples index mounts
:func:`page` instead: it runs :func:`app` under the validator in report mode on the browser's
own request and shows, as a conformant HTML page, what the app tried to send and what the
validator found.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator

from middleware.validator import ValidatorMiddleware
from wsgikit.ops.checker import drive
from wsgikit.ops.checkreport import section_url
from wsgikit.types import StartResponse, WSGIEnvironment


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    """Greets, breaking several rules; the checker names each one."""
    body = b"not quite conformant\n"
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body) + 5)),  # BUG A411: more than the body has
            ("Connection", "close"),  # BUG A321: hop-by-hop headers are the server's
            ("X-Note", " padded "),  # BUG A320: surrounding whitespace in a value
            ("ETag", "v1"),  # BUG A327: an entity-tag must be quoted ("v1")
        ],
    )
    yield body
    yield "done"  # type: ignore[misc]  # BUG A404: str where bytes are required


def page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """An HTML page: what :func:`app` tried to send for this request and every finding."""
    checked = ValidatorMiddleware(app, mode="report")
    sent = drive(checked, dict(environ))  # a copy: the server's own environ stays untouched
    status = sent.status or "(start_response never called)"
    headers = sent.headers
    chunks = [c for c in sent.chunks if c]
    findings = checked.problems(include_info=True)
    rows = "\n".join(
        f'<tr class="{html.escape(f.rule.level)}"><td id="{html.escape(f.rule.id)}">'
        f"{html.escape(f.rule.id)}</td><td>{html.escape(f.rule.name)}</td>"
        f"<td>{html.escape(f.rule.level)}</td>"
        f'<td><a href="{html.escape(section_url(f.rule.section))}">'
        f"{html.escape(f.rule.section)}</a></td><td>{html.escape(f.detail)}</td>"
        f"<td><code>{html.escape(f.where)}</code></td></tr>"
        for f in findings
    )
    header_lines = "\n".join(html.escape(f"{n}: {v!r}") for n, v in headers)
    body_items = ", ".join(html.escape(repr(c)) for c in chunks)
    doc = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>nonconformant: what the validator found</title>"
        '<link rel="icon" href="data:,">'
        "<style>body{font:15px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
        "tr.error td:nth-child(3){color:#b00020;font-weight:bold}</style></head><body>\n"
        "<h1>A deliberately non-conformant app</h1>\n"
        "<p>This sample breaks PEP 3333 on purpose. A server must refuse its response (wsgikit "
        "answers 500), so this page runs it under the validator in report mode on your request "
        "and shows what it found. <code>wsgikit check sample_apps.nonconformant:app</code> sends "
        "it a whole battery of requests.</p>\n"
        f'<h2>What the validator found (<span id="count">{len(findings)}</span>)</h2>\n'
        '<table id="findings"><tr><th>Rule</th><th>Name</th><th>Level</th><th>Section</th>'
        f"<th>What happened</th><th>In</th></tr>\n{rows}\n</table>\n"
        "<h2>What the app tried to send</h2>\n"
        f'<pre id="sent">{html.escape(status)}\n{header_lines}\n\nbody: {body_items}</pre>\n'
        "</body></html>\n"
    ).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(doc))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [doc]
