"""Base classes for WSGI gateways: a drop-in superset of :mod:`wsgiref.handlers` (3.11).

``BaseHandler`` runs one WSGI application call (``setup_environ``, ``start_response``,
``write``, ``finish_response``, error output); ``SimpleHandler`` and the CGI handlers bind it to
streams. Adapted from CPython's module (Copyright Python Software Foundation, PSF licence).

Differences from wsgiref, each an improvement (see docs/wsgiref.rst):

- ``os.environ`` is never read at import time. Only the CGI handlers put it into the request
  environ (CGI passes the request in it); ``BaseHandler`` and ``SimpleHandler`` start from an
  empty ``os_environ``, so a server's secrets in its process environment never reach apps.
- ``start_response`` and ``write`` check status, headers and data always, not only under
  ``__debug__``, and before changing any state. The errors subclass ``AssertionError`` (what
  wsgiref raises) as well as ``ValueError``/``TypeError``.
- Headers are re-checked just before they are written, so a list mutated after
  ``start_response`` cannot smuggle CR/LF onto the wire.
- Per-request state (``status``, ``result``, ``headers``, ``headers_sent``, ``bytes_sent``,
  ``environ``) is set in ``__init__``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable, Mapping
from traceback import print_exception
from types import MappingProxyType
from typing import Any, Callable, Optional

from wsgikit.headers import HeaderError, Headers, HeaderTypeError, check_header_value
from wsgikit.http11.grammar import DAY_NAMES, MONTH_NAMES, is_digits
from wsgikit.util import FileWrapper, guess_scheme, is_hop_by_hop

__all__ = [
    "BaseHandler",
    "SimpleHandler",
    "BaseCGIHandler",
    "CGIHandler",
    "IISCGIHandler",
    "read_environ",
]

class StartResponseError(ValueError, AssertionError):
    """A status or header ``start_response`` must refuse (hop-by-hop header, control chars).

    Subclasses ``AssertionError`` too, because that is what ``wsgiref`` raises.
    """


def format_date_time(timestamp: float) -> str:
    """Format a POSIX timestamp as an RFC 9110 IMF-fixdate."""
    year, month, day, hh, mm, ss, wd, _y, _z = time.gmtime(timestamp)
    return (
        f"{DAY_NAMES[wd]}, {day:02d} {MONTH_NAMES[month - 1]} {year:4d} "
        f"{hh:02d}:{mm:02d}:{ss:02d} GMT"
    )


_REQUEST_VARS = frozenset({
    "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "AUTH_TYPE",
    "CONTENT_TYPE", "CONTENT_LENGTH", "HTTPS", "REMOTE_USER", "REMOTE_IDENT",
})  # fmt: skip


def _needs_transcode(k: str) -> bool:
    return (
        k in _REQUEST_VARS
        or k.startswith("HTTP_")
        or k.startswith("SSL_")
        or (k.startswith("REDIRECT_") and _needs_transcode(k[9:]))
    )


def read_environ() -> dict[str, str]:
    """Read ``os.environ`` now, recovering the request's bytes as latin-1 (the CGI rule)."""
    enc = sys.getfilesystemencoding()
    esc = "surrogateescape"
    try:
        "".encode("utf-8", esc)
    except LookupError:  # pragma: no cover - every CPython has surrogateescape
        esc = "replace"
    environ = {}
    for k, v in os.environ.items():
        if _needs_transcode(k):
            if sys.platform == "win32":  # pragma: no cover - Windows servers
                software = os.environ.get("SERVER_SOFTWARE", "").lower()
                if software.startswith("microsoft-iis/"):
                    v = v.encode("utf-8").decode("iso-8859-1")
                elif software.startswith("apache/"):
                    pass
                elif software.startswith("simplehttp/") and "python/3" in software:
                    v = v.encode("utf-8").decode("iso-8859-1")
                else:
                    v = v.encode(enc, "replace").decode("iso-8859-1")
            else:
                v = v.encode(enc, esc).decode("iso-8859-1")
        environ[k] = v
    return environ


class _ProcessEnviron:
    """Class attribute that reads ``os.environ`` when accessed, never at import time.

    A class or instance may still assign its own ``os_environ`` mapping, as in wsgiref.
    """

    def __get__(self, instance: object, owner: type | None = None) -> dict[str, str]:
        return read_environ()


_EMPTY_ENVIRON: Mapping[str, str] = MappingProxyType({})


class BaseHandler:
    """Manage the invocation of a WSGI application."""

    # Configuration parameters; can override per-subclass or per-instance
    wsgi_version = (1, 0)
    wsgi_multithread = True
    wsgi_multiprocess = True
    wsgi_run_once = False

    origin_server = True  # We are transmitting direct to client
    http_version = "1.0"  # Version that should be used for response
    server_software: Optional[str] = None  # String name of server software, if any

    # Base for every request's environ. wsgiref copies all of os.environ here at import time;
    # wsgikit starts empty (only the CGI handlers, where CGI needs it, read the process's).
    os_environ: Mapping[str, str] = _EMPTY_ENVIRON

    # Collaborator classes
    wsgi_file_wrapper: Optional[type] = FileWrapper  # set to None to disable
    headers_class: Callable[[list[tuple[str, str]]], Headers] = Headers

    # Error handling (also per-subclass or per-instance)
    traceback_limit: Optional[int] = None  # Print entire traceback to self.get_stderr()
    error_status = "500 Internal Server Error"
    error_headers = [("Content-Type", "text/plain")]
    error_body = b"A server error occurred.  Please contact the administrator."

    # Per-request state. __init__ sets it on the instance; these immutable class-level values
    # only serve subclasses written for wsgiref whose __init__ does not call ours.
    status: Optional[str] = None
    result: Any = None
    headers_sent = False
    headers: Any = None
    bytes_sent = 0
    environ: Any = None

    def __init__(self) -> None:
        self.status = None
        self.result = None
        self.headers = None
        self.headers_sent = False
        self.bytes_sent = 0
        self.environ = None

    def run(self, application: Callable[..., Iterable[bytes]]) -> None:
        """Invoke the application (errors are logged and answered by ``handle_error``)."""
        # Do not move the close(): asynchronous servers must be able to return from run()
        # without closing when there may still be output to iterate over.
        try:
            self.setup_environ()
            self.result = application(self.environ, self.start_response)
            self.finish_response()
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError):
            # The client closed the connection: nothing to answer, nothing to log.
            return
        except BaseException:
            try:
                self.handle_error()
            except BaseException:
                # An error while handling an error: give up, let the server see it.
                self.close()
                raise

    def setup_environ(self) -> None:
        """Set up the environment for one request."""
        env = self.environ = dict(self.os_environ)
        self.add_cgi_vars()

        env["wsgi.input"] = self.get_stdin()
        env["wsgi.errors"] = self.get_stderr()
        env["wsgi.version"] = self.wsgi_version
        env["wsgi.run_once"] = self.wsgi_run_once
        env["wsgi.url_scheme"] = self.get_scheme()
        env["wsgi.multithread"] = self.wsgi_multithread
        env["wsgi.multiprocess"] = self.wsgi_multiprocess

        if self.wsgi_file_wrapper is not None:
            env["wsgi.file_wrapper"] = self.wsgi_file_wrapper

        if self.origin_server and self.server_software:
            env.setdefault("SERVER_SOFTWARE", self.server_software)

    def finish_response(self) -> None:
        """Send any iterable data, then close self and the iterable.

        Asynchronous servers redefine this to iterate from their event loop and call
        ``self.close()`` once the response is finished.
        """
        try:
            if not self.result_is_file() or not self.sendfile():
                for data in self.result:
                    self.write(data)
                self.finish_content()
        except BaseException:
            # Close the application's iterable on error too (PEP 3333).
            if hasattr(self.result, "close"):
                self.result.close()
            raise
        else:
            # Only close() on success: it resets the state (bpo-29183).
            self.close()

    def get_scheme(self) -> str:
        """Return the URL scheme being used."""
        return guess_scheme(self.environ)

    def set_content_length(self) -> None:
        """Compute Content-Length when the result is a single block."""
        try:
            blocks = len(self.result)
        except (TypeError, AttributeError, NotImplementedError):
            pass
        else:
            if blocks == 1:
                self.headers["Content-Length"] = str(self.bytes_sent)

    def cleanup_headers(self) -> None:
        """Make any necessary header changes or defaults (subclasses can extend this)."""
        if "Content-Length" not in self.headers:
            self.set_content_length()

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: Any = None,
    ) -> Callable[[bytes], None]:
        """'start_response()' callable as specified by PEP 3333."""
        if exc_info:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # avoid a dangling circular reference
        elif self.headers is not None:
            raise AssertionError("Headers already set!")

        status = self._convert_string_type(status, "Status")
        self._check_status(status)
        new_headers = self.headers_class(headers)
        for name, val in headers:
            name = self._convert_string_type(name, "Header name")
            val = self._convert_string_type(val, "Header value")
            if is_hop_by_hop(name):
                raise StartResponseError(f"Hop-by-hop header, '{name}: {val}', not allowed")
        self.status = status
        self.headers = new_headers
        return self.write

    @staticmethod
    def _check_status(status: str) -> None:
        """Raise unless ``status`` is '<3 digits> <reason>' without control characters.

        The shape errors are plain ``AssertionError`` with wsgiref's messages, raised always
        (wsgiref uses ``assert``): servers' logs, and CPython's test_wsgiref, show exactly
        ``AssertionError: Status must be at least 4 characters``.
        """
        if len(status) < 4:
            raise AssertionError("Status must be at least 4 characters")
        if not is_digits(status[:3]):
            raise AssertionError("Status message must begin w/3-digit code")
        if status[3] != " ":
            raise AssertionError("Status message must have a space after code")
        try:
            check_header_value(status, "status line")
        except HeaderError as exc:
            raise StartResponseError(f"Status {status!r} contains a forbidden character") from exc

    def _convert_string_type(self, value: object, title: str) -> str:
        """Check that ``value`` is a ``str``."""
        if type(value) is str:
            return value
        raise HeaderTypeError(f"{title} must be of type str (got {value!r})")

    def send_preamble(self) -> None:
        """Transmit version/status/date/server, via self._write()."""
        if self.origin_server:
            if self.client_is_modern():
                self._write(f"HTTP/{self.http_version} {self.status}\r\n".encode("iso-8859-1"))
                if "Date" not in self.headers:
                    self._write(f"Date: {format_date_time(time.time())}\r\n".encode("iso-8859-1"))
                if self.server_software and "Server" not in self.headers:
                    self._write(f"Server: {self.server_software}\r\n".encode("iso-8859-1"))
        else:
            self._write(f"Status: {self.status}\r\n".encode("iso-8859-1"))

    def write(self, data: bytes) -> None:
        """'write()' callable as specified by PEP 3333."""
        if type(data) is not bytes:
            raise HeaderTypeError(
                f"write() argument must be a bytes instance (got {type(data).__name__})"
            )
        if not self.status:
            raise AssertionError("write() before start_response()")
        if not self.headers_sent:
            self.bytes_sent = len(data)  # so that Content-Length can be computed
            self.send_headers()
        else:
            self.bytes_sent += len(data)
        self._write(data)
        self._flush()

    def sendfile(self) -> bool:
        """Platform-specific file transmission; return true if the file was sent.

        Only called when ``self.result`` is a ``self.wsgi_file_wrapper``. It must call
        ``self.send_headers()`` first if ``self.headers_sent`` is false.
        """
        return False

    def finish_content(self) -> None:
        """Ensure headers and content have both been sent."""
        if not self.headers_sent:
            # Only zero Content-Length if the app did not set it (HEAD responses, #3839).
            self.headers.setdefault("Content-Length", "0")
            self.send_headers()

    def close(self) -> None:
        """Close the iterable (if needed) and reset the per-request state."""
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self.result = self.headers = self.status = self.environ = None
            self.bytes_sent = 0
            self.headers_sent = False

    def send_headers(self) -> None:
        """Transmit headers to the client, via self._write().

        The header block is serialised (and so re-checked) before anything is written: a bad
        header raises while a clean 500 can still be sent.
        """
        self.cleanup_headers()
        head = bytes(self.headers)
        self.headers_sent = True
        if not self.origin_server or self.client_is_modern():
            self.send_preamble()
            self._write(head)

    def result_is_file(self) -> bool:
        """True if 'self.result' is an instance of 'self.wsgi_file_wrapper'."""
        wrapper = self.wsgi_file_wrapper
        return wrapper is not None and isinstance(self.result, wrapper)

    def client_is_modern(self) -> bool:
        """True if the client can accept a status line and headers (not HTTP/0.9)."""
        return bool(self.environ["SERVER_PROTOCOL"].upper() != "HTTP/0.9")

    def log_exception(self, exc_info: Any) -> None:
        """Log the 'exc_info' tuple in the server log (subclasses may retarget it)."""
        try:
            stderr = self.get_stderr()
            print_exception(exc_info[0], exc_info[1], exc_info[2], self.traceback_limit, stderr)
            stderr.flush()
        finally:
            exc_info = None

    def handle_error(self) -> None:
        """Log the current error, and send error output to the client if still possible."""
        self.log_exception(sys.exc_info())
        if not self.headers_sent:
            self.result = self.error_output(self.environ, self.start_response)
            self.finish_response()

    def error_output(self, environ: Any, start_response: Callable[..., Any]) -> list[bytes]:
        """WSGI mini-app for the error response: no diagnostics are shown to the client."""
        start_response(self.error_status, self.error_headers[:], sys.exc_info())
        return [self.error_body]

    # Abstract methods; *must* be overridden in subclasses

    def _write(self, data: bytes) -> None:
        """Buffer (or send) data for the client."""
        raise NotImplementedError

    def _flush(self) -> None:
        """Force sending of recent '_write()' calls (may be a no-op)."""
        raise NotImplementedError

    def get_stdin(self) -> Any:
        """Return a suitable 'wsgi.input'."""
        raise NotImplementedError

    def get_stderr(self) -> Any:
        """Return a suitable 'wsgi.errors'."""
        raise NotImplementedError

    def add_cgi_vars(self) -> None:
        """Insert CGI variables in 'self.environ'."""
        raise NotImplementedError


class SimpleHandler(BaseHandler):
    """Handler initialised with streams and an environ; for synchronous HTTP/1.0 servers.

    Usage::

        handler = SimpleHandler(inp, out, err, env, multithread=False, multiprocess=True)
        handler.run(app)
    """

    def __init__(
        self,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        environ: Mapping[str, Any],
        multithread: bool = True,
        multiprocess: bool = False,
    ) -> None:
        super().__init__()
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.base_env = environ
        self.wsgi_multithread = multithread
        self.wsgi_multiprocess = multiprocess

    def get_stdin(self) -> Any:
        return self.stdin

    def get_stderr(self) -> Any:
        return self.stderr

    def add_cgi_vars(self) -> None:
        self.environ.update(self.base_env)

    def _write(self, data: bytes) -> None:
        result = self.stdout.write(data)
        if result is None or result == len(data):
            return
        warnings.warn(
            "SimpleHandler.stdout.write() should not do partial writes",
            DeprecationWarning,
            stacklevel=2,
        )
        while True:
            data = data[result:]
            if not data:
                break
            result = self.stdout.write(data)

    def _flush(self) -> None:
        self.stdout.flush()


class BaseCGIHandler(SimpleHandler):
    """CGI-like systems using input/output/error streams and an environ mapping.

    Usage::

        handler = BaseCGIHandler(inp, out, err, env)
        handler.run(app)

    For gateway protocols like ReadyExec and FastCGI; the base class of CGIHandler. Sets
    'origin_server' to False (CGI-like output). Its ``os_environ`` is the process environment,
    read when a request's environ is set up (not at import time).
    """

    origin_server = False
    os_environ: Mapping[str, str] = _ProcessEnviron()  # type: ignore[assignment]


class CGIHandler(BaseCGIHandler):
    """CGI-based invocation via sys.stdin/stdout/stderr and os.environ.

    Usage::

        CGIHandler().run(app)

    Always uses 'wsgi.run_once' True, 'wsgi.multithread' False and 'wsgi.multiprocess' True.
    """

    wsgi_run_once = True
    # The request comes in base_env (read_environ()); do not let os.environ leak between
    # requests in multi-run CGI setups (bpo-7250).
    os_environ: Mapping[str, str] = _EMPTY_ENVIRON

    def __init__(self) -> None:
        BaseCGIHandler.__init__(
            self, sys.stdin.buffer, sys.stdout.buffer, sys.stderr,
            read_environ(), multithread=False, multiprocess=True,
        )  # fmt: skip


class IISCGIHandler(BaseCGIHandler):
    """CGI-based invocation with a workaround for IIS's PATH_INFO bug.

    IIS (without allowPathInfo) gives a PATH_INFO that repeats SCRIPT_NAME at the front; this
    handler strips that prefix.
    """

    wsgi_run_once = True
    os_environ: Mapping[str, str] = _EMPTY_ENVIRON

    def __init__(self) -> None:
        environ = read_environ()
        path = environ.get("PATH_INFO", "")
        script = environ.get("SCRIPT_NAME", "")
        if (path + "/").startswith(script + "/"):
            environ["PATH_INFO"] = path[len(script) :]
        BaseCGIHandler.__init__(
            self, sys.stdin.buffer, sys.stdout.buffer, sys.stderr,
            environ, multithread=False, multiprocess=True,
        )  # fmt: skip
