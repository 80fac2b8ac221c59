"""A raw-socket HTTP/1.1 client for server tests: exact bytes out, strict parsing in.

It shares no code with wsgikit (a bug in the server's parser must not hide in the tests), and
every read has a deadline, so a server that hangs fails the test instead of the test run.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Optional


class RawHTTPError(AssertionError):
    """The server's bytes were not a well-formed response, or came too late."""


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = True  # False: the connection closed before the framed body ended

    def header(self, name: str) -> Optional[str]:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def closes(self) -> bool:
        return "close" in (self.header("connection") or "").lower()


class RawClient:
    """One TCP connection; ``send`` bytes, ``read_response`` parses one response.

    With ``context`` the connection is TLS (handshake done in the constructor, SNI
    ``server_hostname``, resuming ``session`` if given); ``self.sock`` is then the
    ``ssl.SSLSocket``.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 5.0,
                 context: Optional[ssl.SSLContext] = None,
                 server_hostname: Optional[str] = None,
                 session: Optional[ssl.SSLSession] = None) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if context is not None:
            try:
                self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname,
                                                session=session)
            except BaseException:
                self.sock.close()
                raise
        self.buffer = b""
        self.eof = False

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RawHTTPError(f"no response within {self.timeout} s; got {self.buffer[:200]!r}")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise RawHTTPError(
                f"no response within {self.timeout} s; got {self.buffer[:200]!r}"
            ) from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        return data

    def _read_until(self, marker: bytes, deadline: float) -> Optional[bytes]:
        while marker not in self.buffer:
            data = self._recv(deadline)
            if not data:
                return None
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, n: int, deadline: float) -> tuple[bytes, bool]:
        while len(self.buffer) < n:
            data = self._recv(deadline)
            if not data:
                out, self.buffer = self.buffer, b""
                return out, False
            self.buffer += data
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out, True

    def read_response(
        self, *, method: str = "GET", timeout: Optional[float] = None, skip_interim: bool = True
    ) -> RawResponse:
        """Parse one response (1xx ones skipped unless ``skip_interim`` is False)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            head = self._read_until(b"\r\n\r\n", deadline)
            if head is None:
                raise RawHTTPError(f"connection closed before a response head: {self.buffer!r}")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise RawHTTPError(f"bad status line {lines[0]!r}")
            response = RawResponse(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "")
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or name != name.strip() or not name:
                    raise RawHTTPError(f"bad header line {line!r}")
                response.headers.append((name, value.strip()))
            if 100 <= response.status < 200:
                if skip_interim:
                    continue
                return response
            break
        status = response.status
        if method == "HEAD" or status in (204, 304):
            return response
        te = (response.header("transfer-encoding") or "").lower()
        cl = response.header("content-length")
        if te:
            if te != "chunked":
                raise RawHTTPError(f"unexpected Transfer-Encoding {te!r}")
            if cl is not None:
                raise RawHTTPError("both Content-Length and Transfer-Encoding")
            body = b""
            while True:
                size_line = self._read_until(b"\r\n", deadline)
                if size_line is None:
                    response.body, response.complete = body, False
                    return response
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    trailer = self._read_until(b"\r\n", deadline)
                    while trailer:
                        trailer = self._read_until(b"\r\n", deadline)
                    response.body = body
                    response.complete = trailer is not None
                    return response
                chunk, ok = self._read_exactly(size + 2, deadline)
                if not ok:
                    response.body, response.complete = body + chunk, False
                    return response
                if chunk[-2:] != b"\r\n":
                    raise RawHTTPError("chunk data not followed by CRLF")
                body += chunk[:-2]
        if cl is not None:
            response.body, response.complete = self._read_exactly(int(cl), deadline)
            return response
        # close-delimited
        body = self.buffer
        self.buffer = b""
        while True:
            data = self._recv(deadline)
            if not data:
                break
            body += data
        response.body = body
        return response

    def read_until_close(self, timeout: Optional[float] = None) -> bytes:
        """Everything until the server closes (fails if it does not within the deadline)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        data, self.buffer = self.buffer, b""
        while True:
            chunk = self._recv(deadline)
            if not chunk:
                return data
            data += chunk

    def is_closed_by_server(self, timeout: float = 2.0) -> bool:
        """True if the server closes the connection (EOF or reset) within ``timeout``."""
        try:
            rest = self.read_until_close(timeout)
        except RawHTTPError:
            return False
        return rest == b"" or self.eof


def exchange(host: str, port: int, data: bytes, *, timeout: float = 5.0) -> RawResponse:
    """Send ``data`` on a new connection and parse the first response."""
    with RawClient(host, port, timeout=timeout) as client:
        client.send(data)
        return client.read_response()
