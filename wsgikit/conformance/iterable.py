"""Guards around the response: the returned iterable (wsgiref's ``IteratorWrapper``) and the
server's ``wsgi.file_wrapper`` (:class:`FileWrapperGuard`).
"""

# ruff: noqa: UP031  (the %-formatted texts are wsgiref.validate's, kept verbatim)
from __future__ import annotations

from typing import Any, Callable

from wsgikit.conformance.exchange import Exchange
from wsgikit.conformance.findings import Problem

__all__ = ["PartialIteratorWrapper", "IteratorWrapper", "FileWrapperGuard", "file_wrapper_guard"]


class PartialIteratorWrapper:
    """wsgiref's wrapper that checks ``__iter__`` is called (kept for compatibility)."""

    def __init__(self, wsgi_iterator: Any) -> None:
        self.iterator = wsgi_iterator

    def __iter__(self) -> IteratorWrapper:
        return IteratorWrapper(self.iterator, None)


class IteratorWrapper:
    """Guards the returned iterable: bytes items, start_response first, Content-Length, close()."""

    def __init__(self, wsgi_iterator: Any, check_start_response: Any) -> None:
        self.original_iterator = wsgi_iterator
        self.iterator = iter(wsgi_iterator)
        self.closed = False
        self.check_start_response = check_start_response
        self._exchange = Exchange.standalone()
        self._legacy_standalone = True

    def __iter__(self) -> IteratorWrapper:
        return self

    def __next__(self) -> Any:
        ex = self._exchange
        if self.closed:
            ex.report(
                Problem(
                    "S206",
                    "the server iterated after calling close()",
                    "Iterator read after closed",
                ),
                "__next__()",
            )
        try:
            value = next(self.iterator)
        except StopIteration:
            ex.exhausted = True
            raise
        if type(value) is not bytes and "A402" not in ex.reporter._seen:
            ex.report(
                Problem(
                    "A404",
                    f"the iterable yielded {value!r}, not bytes",
                    "Iterator yielded non-bytestring (%r)" % (value,),
                ),
                "__next__()",
            )
        started = ex.started if not self._legacy_standalone else bool(self.check_start_response)
        if not started and self.check_start_response is not None:
            ex.report(
                Problem(
                    "A405",
                    "a body item came before start_response was called",
                    "The application returns and we started iterating over its "
                    "body, but start_response has not yet been called",
                ),
                "__next__()",
            )
        self.check_start_response = None
        if type(value) is bytes:
            ex.body_bytes(len(value), "__next__()")
        return value

    def close(self) -> None:
        ex = self._exchange
        if self.closed:
            ex.report(Problem("S205", "the server called close() a second time"), "close()")
            return
        self.closed = True
        close = getattr(self.original_iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                ex.report(Problem("A415", f"the iterable's close() raised {exc!r}"), "close()")
                raise
        ex.finish()

    def __del__(self) -> None:
        if not getattr(self, "closed", True):
            self._exchange.report(
                Problem(
                    "S207",
                    "the iterable was garbage collected without close()",
                    "Iterator garbage collected without being closed",
                ),
                "__del__()",
                deferred=True,
            )


class _FileWrapperMeta(type):
    """``isinstance(x, stand_in)`` answers for what the stand-in made (and, when the server's
    own ``wsgi.file_wrapper`` is a class, for its instances), as the server's class would."""

    _wrapper: Callable[..., Any]
    _exchange: Exchange

    def __instancecheck__(cls, obj: Any) -> bool:
        if any(obj is made for made in cls._exchange.wrappers):
            return True
        wrapper = cls._wrapper
        return isinstance(wrapper, type) and isinstance(obj, wrapper)


class FileWrapperGuard(metaclass=_FileWrapperMeta):
    """Stands in for the server's ``wsgi.file_wrapper``: checks the file, remembers what it made.

    It is a class, not an instance: servers test ``isinstance(result, environ[
    "wsgi.file_wrapper"])`` after the application returns (gunicorn does), and that needs a
    class. :func:`file_wrapper_guard` makes one subclass per request; calling it returns the
    server's own wrapper object, never an instance of the guard.
    """

    __slots__ = ()

    def __new__(cls, filelike: Any, *args: Any) -> Any:
        if not hasattr(filelike, "read"):
            cls._exchange.report(
                Problem("A508", f"wsgi.file_wrapper({filelike!r}): no read()"),
                "wsgi.file_wrapper()",
            )
        made = cls._wrapper(filelike, *args)
        cls._exchange.wrappers.append(made)
        return made


def file_wrapper_guard(wrapper: Callable[..., Any], exchange: Exchange) -> type:
    """A :class:`FileWrapperGuard` subclass calling ``wrapper`` for one request."""
    attrs = {"_wrapper": wrapper, "_exchange": exchange, "__slots__": (), "__module__": __name__}
    return _FileWrapperMeta("FileWrapperGuard", (FileWrapperGuard,), attrs)
