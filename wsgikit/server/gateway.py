"""The WSGI call of one request: ``start_response``, ``write``, ``wsgi.input``, the response body.

The server's gateway, separate from the ``wsgiref``-compatible classes in ``handlers.py``: it
talks to the connection through three small callables (``send``, ``sendfile`` and the body
``pull``), so it runs the same over a socket or over in-memory fakes in the unit tests.

Rules it enforces (PEP 3333 and the issue):

* ``start_response`` follows the ``exc_info`` rules: a second call needs ``exc_info``; once the
  head is on the wire ``exc_info`` is re-raised.
* The head is sent with the first non-empty body chunk (or at the end), in the same ``send`` as
  that chunk; a list/tuple body that is small goes out head, body and end in one ``send``.
* An application error before the head is sent becomes a short plain 500 (the traceback goes to
  the error log, never to the client); after it, the connection is closed: never a second
  status line. Headers with CR/LF, or hop-by-hop headers, are a 500 and a log line.
* The iterable's ``close()`` is called exactly once, also after errors and disconnects.
* ``wsgi.input`` is bounded to the body and sends ``100 Continue`` only on the first read
  (lazy 100-continue: an app that answers without reading never invites the body).
"""

from __future__ import annotations

import logging
import os
import stat
from types import TracebackType
from typing import Any, Callable, Final, Iterable, Iterator, Optional

from wsgikit.errors import ClientDisconnected
from wsgikit.http11 import HOP_BY_HOP, ProtocolError, ResponseError, ResponseWriter, error_response
from wsgikit.util import FileWrapper, request_path

__all__ = ["BodyInput", "ClientDisconnected", "Gateway", "Outcome", "HOP_BY_HOP"]

log = logging.getLogger("wsgikit.error")


#: A list/tuple body up to this size is sent with its head in a single ``send``.
COALESCE_LIMIT: Final = 64 * 1024
#: Body blocks from this size on are sent without being copied next to the head.
COPY_LIMIT: Final = 16 * 1024
#: At most this many buffers in one vectored send (the kernel's IOV_MAX is 1024).
MAX_VECTOR: Final = 64


ExcInfo = tuple[type[BaseException], BaseException, Optional[TracebackType]]


# -- wsgi.input -----------------------------------------------------------------------------------


class BodyInput:
    """``wsgi.input``: the request body, decoded on the fly, ending exactly where the body ends.

    ``pull()`` returns the next decoded body bytes, ``b""`` at the end of the body; it raises
    :class:`ClientDisconnected`, a ``ProtocolError`` (bad chunked framing, 413, 408). The error
    is remembered in ``.error`` so the gateway answers it even if the app swallowed it.
    ``on_first_read`` runs once, before the first pull (the connection sends 100 Continue).
    """

    __slots__ = ("_pull", "_on_first_read", "_buf", "_pos", "_eof", "error", "received")

    def __init__(
        self, pull: Callable[[], bytes], on_first_read: Optional[Callable[[], None]] = None
    ) -> None:
        self._pull = pull
        self._on_first_read = on_first_read
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.error: Optional[BaseException] = None
        #: Body bytes taken from the connection so far (metrics: request bytes in).
        self.received = 0

    @property
    def at_eof(self) -> bool:
        """True once the whole body has been read from the connection."""
        return self._eof

    def _next_chunk(self) -> bytes:
        """The next decoded body bytes from the connection; ``b""`` at the end of the body."""
        if self._eof:
            return b""
        if self.error is not None:
            raise self.error
        if self._on_first_read is not None:
            first, self._on_first_read = self._on_first_read, None
            try:
                first()
            except BaseException as exc:
                self.error = exc
                raise
        try:
            data = self._pull()
        except BaseException as exc:
            self.error = exc
            raise
        if not data:
            self._eof = True
        self.received += len(data)
        return data

    def _fill(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the body."""
        data = self._next_chunk()
        if not data:
            return False
        if self._pos >= len(self._buf):
            self._buf, self._pos = data, 0
        else:
            self._buf, self._pos = self._buf[self._pos :] + data, 0
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        limit = -1 if size is None or size < 0 else size
        buf, pos = self._buf, self._pos
        have = len(buf) - pos
        if 0 <= limit <= have:
            self._pos = pos + limit
            return buf[pos : pos + limit]
        # Gather the chunks and join once: appending each to the buffer would copy the whole
        # body so far on every chunk.
        parts = [buf[pos:]] if have else []
        total = have
        while limit < 0 or total < limit:
            chunk = self._next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
        data = b"".join(parts)  # one part: that object itself, no copy
        if 0 <= limit < total:
            self._buf, self._pos = data, limit
            return data[:limit]
        self._buf, self._pos = b"", 0
        return data

    def readline(self, size: Optional[int] = -1) -> bytes:
        limit = -1 if size is None else size
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                stop = end + 1
                break
            if 0 <= limit <= len(self._buf) - self._pos:
                stop = len(self._buf)
                break
            if not self._fill():
                stop = len(self._buf)
                break
        if limit >= 0:
            stop = min(stop, self._pos + limit)
        data = self._buf[self._pos : stop]
        self._pos = stop
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        """Apps may close it; the server decides what happens to the unread rest."""


# -- the call ------------------------------------------------------------------------------------


class Outcome:
    """What happened: for the connection (keep alive?) and the access log."""

    __slots__ = ("status", "headers", "body_bytes", "keep_alive", "head_sent", "error")

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body_bytes = 0
        self.keep_alive = False
        self.head_sent = False
        self.error: Optional[BaseException] = None


class Gateway:
    """Runs one WSGI request and writes its response; call :meth:`run` once.

    ``send(data)`` sends all bytes or raises ``OSError``; ``sendfile(file, offset, count)``
    (optional, plain TCP only) returns the bytes sent; ``sendv(buffers)`` (optional) sends
    several buffers in one system call, as ``send`` would their concatenation.
    ``keep_alive`` says whether the connection may be reused as far as the request is
    concerned (the request's own keep-alive, an unread body that can be drained, the server
    not shutting down); it is asked when the head is built, after the app has read what it
    wanted.
    """

    __slots__ = (
        "app", "environ", "method", "http_version", "server_header", "error_log", "status",
        "headers", "writer", "outcome", "_send", "_sendfile", "_sendv", "_keep_alive", "_done",
    )

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        environ: dict[str, Any],
        *,
        method: str,
        http_version: str,
        send: Callable[[bytes], None],
        keep_alive: Callable[[], bool],
        sendfile: Optional[Callable[[Any, int, int], int]] = None,
        sendv: Optional[Callable[[list[bytes]], None]] = None,
        server_header: Optional[str] = "wsgikit",
        error_log: logging.Logger = log,
    ) -> None:
        self.app = app
        self.environ = environ
        self.method = method
        self.http_version = http_version
        self._send = send
        self._sendfile = sendfile
        self._sendv = sendv
        self._keep_alive = keep_alive
        self.server_header = server_header
        self.error_log = error_log
        self.status: Optional[str] = None
        self.headers: Optional[list[tuple[str, str]]] = None
        self.writer: Optional[ResponseWriter] = None
        self.outcome = Outcome()
        self._done = False  # the response's last bytes are out

    # -- PEP 3333 callables ------------------------------------------------------------------

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: Optional[ExcInfo] = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.writer is not None:  # head already sent: PEP 3333 says re-raise
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise RuntimeError("start_response() called a second time without exc_info")
        if type(status) is not str:
            raise TypeError(f"status must be a str, got {type(status).__name__}")
        if type(headers) is not list:
            raise TypeError(f"headers must be a list, got {type(headers).__name__}")
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                raise TypeError(f"each header must be a (name, value) tuple, got {item!r}")
            name, value = item
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"header name and value must be str, got {item!r}")
            if name.lower() in HOP_BY_HOP:
                raise ResponseError(f"hop-by-hop header {name!r} is not allowed from a WSGI app")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: sends at once (PEP 3333: unbuffered)."""
        if type(data) is not bytes:
            raise TypeError(f"write() needs bytes, got {type(data).__name__}")
        self._write(data)

    # -- running ------------------------------------------------------------------------------

    def run(self) -> Outcome:
        outcome = self.outcome
        result: Any = None
        try:
            result = self.app(self.environ, self.start_response)
            if type(result) is list or type(result) is tuple:
                self._write_sequence(result)
            elif isinstance(result, FileWrapper) and self._sendfile is not None:
                self._write_file(result)
            else:
                for data in result:
                    if type(data) is not bytes:
                        raise TypeError(
                            f"the app's iterable yielded {type(data).__name__}, not bytes"
                        )
                    if data:
                        self._write(data)
            self._finish()
        except ClientDisconnected as exc:
            outcome.error = exc
            outcome.keep_alive = False
        except Exception as exc:
            self._failed(exc)
        finally:
            kind = type(result)
            close = None if kind is list or kind is tuple else getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    self.error_log.exception("wsgikit: the app's close() failed")
                    if outcome.error is None:
                        outcome.error = exc
                    if not outcome.head_sent:
                        self._failed(exc)
                    else:
                        outcome.keep_alive = False
        return outcome

    def _start(self) -> tuple[bytes, ResponseWriter]:
        """Validate the app's status and headers; return the response head and its writer."""
        if self.status is None or self.headers is None:
            raise RuntimeError("the app sent body bytes before calling start_response()")
        writer = ResponseWriter(
            request_method=self.method,
            http_version=self.http_version,
            request_keep_alive=self._keep_alive(),
            server_header=self.server_header,
        )
        head = writer.start(self.status, self.headers)
        self.writer = writer
        outcome = self.outcome
        outcome.status = writer.status_code
        outcome.headers = self.headers
        return head, writer

    def _write(self, data: bytes) -> None:
        writer = self.writer
        head = b""
        if writer is None:
            head, writer = self._start()
        if len(data) < COPY_LIMIT or writer.framing not in ("length", "close"):
            self._send_out(head + writer.body(data))  # b"" + x is x itself: no copy
            return
        # A large block: send it as it is after the head, rather than copying it to prepend
        # the head (one more copy of the whole block per response).
        out = writer.body(data)
        if head and self._sendv is not None:
            self._send_out_all([head, out])  # one system call (writev), no copy
            return
        if head:
            self._send_out(head)
        self._send_out(out)

    def _send_out(self, out: bytes) -> None:
        if out or not self.outcome.head_sent:
            self.outcome.head_sent = True
            try:
                self._send(out)
            except OSError as exc:
                raise ClientDisconnected(f"client went away while sending: {exc}") from exc

    def _send_out_all(self, parts: list[bytes]) -> None:
        self.outcome.head_sent = True
        try:
            self._sendv(parts)  # type: ignore[misc]
        except OSError as exc:
            raise ClientDisconnected(f"client went away while sending: {exc}") from exc

    def _write_sequence(self, result: list[bytes] | tuple[bytes, ...]) -> None:
        size = 0
        for data in result:
            if type(data) is not bytes:
                raise TypeError(f"the app's iterable yielded {type(data).__name__}, not bytes")
            size += len(data)
        vectored = self._sendv is not None and size >= COPY_LIMIT and len(result) <= MAX_VECTOR
        if self.writer is not None or (size > COALESCE_LIMIT and not vectored):
            for data in result:
                if data:
                    self._write(data)
            return
        head, writer = self._start()
        parts = [head]
        for data in result:
            if data:
                parts.append(writer.body(data))
        end = writer.end()
        if end:
            parts.append(end)
        if vectored:
            self._send_out_all(parts)  # large blocks go out as they are, never copied
        else:
            self._send_out(b"".join(parts))
        self._done = True
        self._account(writer)

    def _write_file(self, wrapper: FileWrapper) -> None:
        """Send a real file with ``sendfile``; anything else goes through the normal loop."""
        filelike = wrapper.filelike
        fileno = getattr(filelike, "fileno", None)
        size = -1
        if fileno is not None and self.writer is None:
            try:
                fd = fileno()
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    size = st.st_size
            except (OSError, ValueError, TypeError, AttributeError):
                size = -1
        if size < 0:
            for data in wrapper:
                if data:
                    self._write(data)
            return
        head, writer = self._start()
        if writer.framing not in ("length", "close"):
            # chunked or bodyless: frame it through the writer
            self._send_out(head)
            for data in wrapper:
                if data:
                    self._send_out(writer.body(data))
            return
        try:
            offset = filelike.tell()  # type: ignore[attr-defined]
        except (OSError, AttributeError):
            offset = 0
        count = max(0, size - offset)
        if writer.content_length is not None:  # what the head promised, no more
            count = min(count, writer.content_length)
        self._send_out(head)
        sent = 0
        if count:
            try:
                sent = self._sendfile(filelike, offset, count)  # type: ignore[misc]
            except OSError as exc:
                raise ClientDisconnected(f"client went away during sendfile: {exc}") from exc
        writer.count_body(sent)
        writer.end()
        self._done = True
        self._account(writer)

    def _finish(self) -> None:
        if self._done:
            return
        writer = self.writer
        if writer is None:
            head, writer = self._start()
            self._send_out(head + writer.end())
        else:
            self._send_out(writer.end())
        self._done = True
        self._account(writer)

    def _account(self, writer: ResponseWriter) -> None:
        outcome = self.outcome
        outcome.body_bytes = writer.body_bytes
        outcome.keep_alive = writer.keep_alive
        if writer.framing == "length" and writer.body_bytes != writer.content_length:
            self.error_log.error(
                "wsgikit: %s %s: the app sent %d bytes, less than its Content-Length; closing",
                self.method, request_path(self.environ), writer.body_bytes,
            )
            outcome.keep_alive = False
        if writer.overflowed:
            self.error_log.error(
                "wsgikit: %s %s: the app sent more than its Content-Length; extra bytes dropped",
                self.method, request_path(self.environ),
            )
            outcome.keep_alive = False

    def _failed(self, exc: BaseException) -> None:
        """The app (or its response) failed: 500 if the head is not out yet, else close."""
        outcome = self.outcome
        outcome.keep_alive = False
        if outcome.error is None:
            outcome.error = exc
        wsgi_input = self.environ.get("wsgi.input")
        input_error = getattr(wsgi_input, "error", None)
        if isinstance(input_error, ClientDisconnected):
            return  # nobody to answer
        if isinstance(input_error, ProtocolError):
            status: int = input_error.status
            reason: Optional[str] = input_error.reason
            # the client's fault: the connection counts it (wsgikit.server.clientlog), DEBUG here
            self.error_log.debug(
                "wsgikit: %s %s: bad request body: %s",
                self.method, request_path(self.environ), input_error.reason,
            )
        else:
            status, reason = 500, "Internal Server Error"
            if isinstance(exc, ResponseError):
                self.error_log.error(
                    "wsgikit: %s %s: invalid response from the app: %s",
                    self.method, request_path(self.environ), exc,
                )
            else:
                self.error_log.error(
                    "wsgikit: %s %s: the app raised",
                    self.method, request_path(self.environ), exc_info=exc,
                )
        if outcome.head_sent:
            return  # never a second status line: the connection closes
        outcome.status = status
        outcome.headers = []
        outcome.head_sent = True
        data = error_response(
            input_error if isinstance(input_error, ProtocolError) else status,
            None if isinstance(input_error, ProtocolError) else reason,
            http_version=self.http_version,
            server_header=self.server_header,
            request_method=self.method,
        )
        try:
            self._send(data)
        except OSError:
            pass
