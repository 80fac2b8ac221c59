"""Guards around the streams of one request: ``wsgi.input``, ``wsgi.errors`` and the ``write()``
callable (wsgiref's ``InputWrapper``, ``ErrorWrapper``, ``WriteWrapper``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from wsgikit.conformance.exchange import Exchange
from wsgikit.conformance.findings import Problem

__all__ = ["InputWrapper", "ErrorWrapper", "WriteWrapper"]


class InputWrapper:
    """Guards ``wsgi.input``: argument rules, reads past CONTENT_LENGTH, result types."""

    def __init__(self, wsgi_input: Any) -> None:
        self.input = wsgi_input
        self._exchange = Exchange.standalone()

    def _check_size(self, name: str, args: tuple[Any, ...], required: bool) -> None:
        ex = self._exchange
        where = f"wsgi.input.{name}{args!r}"
        if len(args) > 1:
            ex.report(Problem("A502", f"{name}() called with {len(args)} arguments", ""), where)
            return
        size = args[0] if args else None
        if size is not None and type(size) is not int:
            ex.report(Problem("A502", f"{name}() size is {size!r}, not an int", ""), where)
            return
        # PEP 3333: "A server should allow read() to be called without an argument": only the
        # wsgiref-compatible validator() keeps wsgiref's assertion that read() has a size.
        if required and not ex.terminated and ex.reporter.legacy:
            if not args:
                ex.report(
                    Problem(
                        "A501",
                        f"{name}() without a size and wsgi.input_terminated "
                        "is not true: it may block forever",
                        "",
                    ),
                    where,
                )
            elif size is None or size < 0:
                ex.report(
                    Problem(
                        "A510",
                        f"{name}({size!r}) reads to EOF and wsgi.input_terminated is not true",
                    ),
                    where,
                )
        if ex.terminated:
            return
        if size == 0:
            return  # read(0) never blocks and never reads
        if required and (size is None or size < 0) and not ex.reporter.legacy:
            return  # read() asks for "the entire remainder", never more than there is
        if ex.content_length is None:
            ex.report(Problem("A504", f"{name}() with no CONTENT_LENGTH"), where)
        elif ex.input_read >= ex.content_length:
            ex.report(
                Problem(
                    "A503",
                    f"{name}() after all {ex.content_length} bytes of CONTENT_LENGTH were read",
                ),
                where,
            )

    def _got(self, name: str, data: Any) -> Any:
        ex = self._exchange
        if type(data) is not bytes:
            ex.report(
                Problem("S201", f"wsgi.input.{name}() returned {data!r}", ""),
                f"wsgi.input.{name}()",
            )
            return data
        ex.input_read += len(data)
        if ex.content_length is not None and ex.input_read > ex.content_length:
            ex.report(
                Problem(
                    "S208",
                    f"wsgi.input gave {ex.input_read} bytes, CONTENT_LENGTH is {ex.content_length}",
                ),
                f"wsgi.input.{name}()",
            )
        return data

    def read(self, *args: Any) -> Any:
        self._check_size("read", args, required=True)
        return self._got("read", self.input.read(*args))

    def readline(self, *args: Any) -> Any:
        self._check_size("readline", args, required=False)
        return self._got("readline", self.input.readline(*args))

    def readlines(self, *args: Any) -> Any:
        self._check_size("readlines", args, required=False)
        lines = self.input.readlines(*args)
        if type(lines) is not list:
            self._exchange.report(
                Problem("S202", f"readlines() returned {lines!r}", ""), "wsgi.input.readlines()"
            )
            return lines
        for line in lines:
            self._got("readlines", line)
        return lines

    def __iter__(self) -> Iterator[Any]:
        ex = self._exchange
        while True:
            if (
                not ex.terminated
                and ex.content_length is not None
                and ex.input_read >= ex.content_length
            ):
                return
            line = self._got("__iter__", self.input.readline())
            if not line:
                return
            yield line

    def close(self) -> None:
        self._exchange.report(
            Problem(
                "A505",
                "the application called wsgi.input.close()",
                "input.close() must not be called",
            ),
            "wsgi.input.close()",
        )


class ErrorWrapper:
    """Guards ``wsgi.errors``: text only, never closed by the application."""

    def __init__(self, wsgi_errors: Any) -> None:
        self.errors = wsgi_errors
        self._exchange = Exchange.standalone()

    def write(self, s: Any) -> None:
        if type(s) is not str:
            self._exchange.report(
                Problem("A507", f"wsgi.errors.write({s!r}): not a str", ""), "wsgi.errors.write()"
            )
        self.errors.write(s)

    def flush(self) -> None:
        self.errors.flush()

    def writelines(self, seq: Iterable[Any]) -> None:
        for line in seq:
            self.write(line)

    def close(self) -> None:
        self._exchange.report(
            Problem(
                "A506",
                "the application called wsgi.errors.close()",
                "errors.close() must not be called",
            ),
            "wsgi.errors.close()",
        )


class WriteWrapper:
    """Guards the ``write()`` callable: bytes only, only before the iterable is returned."""

    def __init__(self, wsgi_writer: Any) -> None:
        self.writer = wsgi_writer
        self._exchange = Exchange.standalone()

    def __call__(self, s: Any) -> None:
        ex = self._exchange
        if type(s) is not bytes:
            ex.report(Problem("A407", f"write({s!r}): not bytes", ""), "write()")
        elif ex.returned:
            ex.report(
                Problem("A408", "write() called after the application returned its iterable"),
                "write()",
            )
        if type(s) is bytes:
            ex.body_bytes(len(s), "write()")
        self.writer(s)
