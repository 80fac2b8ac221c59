"""Private helpers every middleware shares.

The most common middleware bug is a lost ``close()`` on the app's iterable (PEP 3333: the
server must call it, so every wrapper in between must pass it on). ``ClosingIterator`` makes
that the default; ``intercept_start_response`` lets a middleware see or edit the status and
headers before they reach the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

from wsgikit.types import StartResponse

Headers = list[tuple[str, str]]
ExcInfo = Any


class ClosingIterator:
    """Iterate ``iterable`` and, on ``close()``, close it and then run ``callbacks`` once each.

    ``close()`` is idempotent: a second call does nothing, so a wrapper never closes the app
    twice even if the server calls close more than once.
    """

    def __init__(
        self, iterable: Iterable[bytes], callbacks: Iterable[Callable[[], Any]] = ()
    ) -> None:
        self._iterable = iterable
        self._iterator: Optional[Iterator[bytes]] = None
        self._callbacks = list(callbacks)
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        if self._iterator is None:
            self._iterator = iter(self._iterable)
        return self._iterator

    def __next__(self) -> bytes:
        return next(iter(self))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            for callback in self._callbacks:
                callback()


def local_redirect(path: str) -> str:
    """``path`` made safe as a same-site ``Location``: it starts with exactly one ``/``.

    Browsers read ``//evil.com`` and ``/\\evil.com`` as another host, so a leading run of
    slashes and backslashes (from SCRIPT_NAME or PATH_INFO) becomes a single ``/``.
    """
    rest = path.lstrip("/\\")
    return "/" + rest


def close_iterable(iterable: Iterable[bytes]) -> None:
    """Call ``iterable.close()`` when it has one (PEP 3333's rule for consumers)."""
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


def get_header(headers: Headers, name: str) -> Optional[str]:
    """The first value of ``name`` (case-insensitive), or None."""
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


def remove_header(headers: Headers, name: str) -> Headers:
    """``headers`` without any field called ``name`` (case-insensitive), as a new list."""
    lname = name.lower()
    return [(k, v) for k, v in headers if k.lower() != lname]


def set_header(headers: Headers, name: str, value: str) -> Headers:
    """``headers`` with every ``name`` field replaced by one ``name: value``, as a new list."""
    return [*remove_header(headers, name), (name, value)]


def intercept_start_response(
    start_response: StartResponse,
    edit: Callable[[str, Headers], tuple[str, Headers]],
) -> StartResponse:
    """A ``start_response`` that passes ``(status, headers)`` through ``edit`` first.

    ``exc_info`` and the ``write`` callable the server returns are passed on untouched.
    """

    def wrapped(status: str, headers: Headers, exc_info: ExcInfo = None) -> Any:
        new_status, new_headers = edit(status, list(headers))
        if exc_info is not None:
            return start_response(new_status, new_headers, exc_info)
        return start_response(new_status, new_headers)

    return wrapped


def add_vary(headers: Headers, *names: str) -> Headers:
    """``headers`` with ``names`` merged into one ``Vary`` field (no duplicates), as a new list."""
    existing: list[str] = []
    for key, value in headers:
        if key.lower() == "vary":
            existing.extend(v.strip() for v in value.split(",") if v.strip())
    if "*" in existing:
        return list(headers)
    lower = {v.lower() for v in existing}
    merged = existing + [n for n in names if n.lower() not in lower]
    return set_header(headers, "Vary", ", ".join(merged))


def encoding_quality(accept_encoding: Optional[str], coding: str) -> float:
    """The q-value ``Accept-Encoding`` gives ``coding`` (RFC 9110 section 12.5.3); 0 = refused."""
    if not accept_encoding:
        return 0.0
    from werkzeug.http import parse_accept_header

    return float(parse_accept_header(accept_encoding).quality(coding))


def plain_response(
    start_response: StartResponse,
    status: str,
    message: str,
    headers: Optional[Headers] = None,
    *,
    head: bool = False,
) -> list[bytes]:
    """A short ``text/plain`` response naming the problem (the body of an error status)."""
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
    )
    return [] if head else [body]
