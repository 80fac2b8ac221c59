"""A deliberately non-conformant app: ``wsgikit check sample_apps.nonconformant:app`` shows why.

Every line marked ``BUG`` breaks a PEP 3333 rule (docs/validator.rst prints the report).
It still answers, so it can be mounted in the samples index to show what the validator says.
"""

from __future__ import annotations

from collections.abc import Iterator

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
