"""WSGI types for static type checking: a drop-in superset of :mod:`wsgiref.types` (3.11).

Same names and meanings as ``wsgiref.types``, written so that they also import on Python 3.9
and 3.10 (``wsgiref.types`` only exists from 3.11).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol, Tuple, Type, Union

if TYPE_CHECKING:
    from typing import TypeAlias

__all__ = [
    "StartResponse",
    "WSGIEnvironment",
    "WSGIApplication",
    "InputStream",
    "ErrorStream",
    "FileWrapper",
]

_ExcInfo: TypeAlias = Tuple[Type[BaseException], BaseException, TracebackType]
_OptExcInfo: TypeAlias = Union[_ExcInfo, Tuple[None, None, None]]


class StartResponse(Protocol):
    """start_response() callable as defined in PEP 3333."""

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: Optional[_OptExcInfo] = ...,
        /,
    ) -> Callable[[bytes], object]: ...


WSGIEnvironment: TypeAlias = Dict[str, Any]
WSGIApplication: TypeAlias = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


class InputStream(Protocol):
    """WSGI input stream as defined in PEP 3333."""

    def read(self, size: int = ..., /) -> bytes: ...
    def readline(self, size: int = ..., /) -> bytes: ...
    def readlines(self, hint: int = ..., /) -> list[bytes]: ...
    def __iter__(self) -> Iterator[bytes]: ...


class ErrorStream(Protocol):
    """WSGI error stream as defined in PEP 3333."""

    def flush(self) -> object: ...
    def write(self, s: str, /) -> object: ...
    def writelines(self, seq: list[str], /) -> object: ...


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class FileWrapper(Protocol):
    """WSGI file wrapper as defined in PEP 3333."""

    def __call__(self, file: _Readable, block_size: int = ..., /) -> Iterable[bytes]: ...
