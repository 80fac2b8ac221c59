"""Serve static files from a directory or package data, and fall through to the app otherwise."""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import IO, Any, Optional
from urllib.parse import quote

from werkzeug.http import (
    http_date,
    is_resource_modified,
    parse_if_range_header,
    parse_range_header,
    quote_etag,
)
from werkzeug.security import safe_join
from werkzeug.utils import get_content_type
from werkzeug.wsgi import wrap_file

from middleware._wsgi import HeaderList, encoding_quality, local_redirect, plain_response
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

#: Names Windows maps to devices whatever the directory or extension (CVE-2025-66221). Not left
#: to werkzeug's safe_join, which refuses them only on Windows: a site serves the same files on
#: every host.
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"]
    + [f"{p}{n}" for p in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]]
)
#: ``app.3f2a9c1d.js``, ``app-3f2a9c1d7e.css``: content-hashed names never change.
DEFAULT_IMMUTABLE = r"[.-][0-9a-fA-F]{8,}\.[A-Za-z0-9]+$"
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
#: Web types pinned here because ``mimetypes`` reads the host's /etc/mime.types, which differs
#: between systems (and some map .js to application/x-javascript).
_WEB_TYPES = {
    ".html": "text/html", ".htm": "text/html", ".css": "text/css", ".js": "text/javascript",
    ".mjs": "text/javascript", ".json": "application/json", ".map": "application/json",
    ".webmanifest": "application/manifest+json", ".svg": "image/svg+xml", ".wasm":
    "application/wasm", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".ico": "image/x-icon",
    ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf",
    ".txt": "text/plain", ".xml": "application/xml", ".pdf": "application/pdf",
    ".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg",
}
_CHUNK = 64 * 1024


class StaticFilesMiddleware:
    """Serve files under ``prefix`` from ``directory`` (or ``package`` data) with HTTP caching.

    GET and HEAD only; ETag + Last-Modified with conditional GET (304), single Range (206, 416),
    precompressed ``.br``/``.gz`` siblings chosen by Accept-Encoding (with ``Vary``),
    ``Cache-Control`` (``immutable`` for content-hashed names), delivery through
    ``wsgi.file_wrapper`` (sendfile on wsgikit's server). Any request that does not name a
    servable file goes to the wrapped app unchanged: traversal attempts (``..``, absolute paths,
    NUL, backslashes, Windows device names, dotfiles, symlinks leaving the root unless
    ``follow_symlinks``) are simply not files.

    Reads REQUEST_METHOD, PATH_INFO, HTTP_ACCEPT_ENCODING, HTTP_RANGE, HTTP_IF_RANGE,
    HTTP_IF_NONE_MATCH, HTTP_IF_MODIFIED_SINCE and ``wsgi.file_wrapper``. Writes nothing.
    """

    def __init__(
        self,
        app: Optional[WSGIApplication] = None,
        *,
        directory: Optional[str] = None,
        package: Optional[str] = None,
        package_path: str = "static",
        prefix: str = "/static",
        max_age: int = 60,
        immutable_pattern: Optional[str] = DEFAULT_IMMUTABLE,
        index: Optional[str] = "index.html",
        follow_symlinks: bool = False,
        allow_hidden: bool = False,
        precompressed: bool = True,
    ) -> None:
        if app is not None and not callable(app):
            raise TypeError("app must be a WSGI callable or None")
        if (directory is None) == (package is None):
            raise ValueError("give exactly one of directory= or package=")
        if package is not None:
            directory = _package_directory(package, package_path)
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError("directory must be a path")
        root = os.path.realpath(os.fspath(directory))
        if not os.path.isdir(root):
            raise ValueError(f"static directory {root!r} does not exist or is not a directory")
        if not isinstance(prefix, str) or (prefix and not prefix.startswith("/")):
            raise ValueError(f"prefix must be '' or start with '/', got {prefix!r}")
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"max_age must be a non-negative int, got {max_age!r}")
        self.app = app
        self.root = root
        self.prefix = prefix.rstrip("/").encode("utf-8").decode("latin-1")
        self.max_age = max_age
        self.immutable = re.compile(immutable_pattern) if immutable_pattern else None
        self.index = index
        self.follow_symlinks = follow_symlinks
        self.allow_hidden = allow_hidden
        self.precompressed = precompressed

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, add_slash = self._locate(environ.get("PATH_INFO", ""))
        if path is None:
            return self._fall_through(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if add_slash and method in ("GET", "HEAD"):
            # A directory with an index: its relative links only work below a trailing slash.
            location = quote(
                local_redirect(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "") + "/")
                .encode("latin-1"), safe="/;=,@:!$&'()*+~",
            )
            if environ.get("QUERY_STRING"):
                location += "?" + environ["QUERY_STRING"]
            return plain_response(start_response, "301 Moved Permanently",
                                  f"Moved to {location}", [("Location", location)],
                                  head=method == "HEAD")
        if method not in ("GET", "HEAD"):
            return plain_response(
                start_response, "405 Method Not Allowed",
                f"{method} is not allowed on a static file", [("Allow", "GET, HEAD")],
            )
        return self.serve(path, environ, start_response)

    def _fall_through(self, environ: WSGIEnvironment, start_response: StartResponse
                      ) -> Iterable[bytes]:
        if self.app is None:
            return plain_response(start_response, "404 Not Found", "Not Found",
                                  head=environ.get("REQUEST_METHOD") == "HEAD")
        return self.app(environ, start_response)

    def find(self, path_info: str) -> Optional[str]:
        """The real file path for PATH_INFO, or None when it names no servable file."""
        return self._locate(path_info)[0]

    def _locate(self, path_info: str) -> tuple[Optional[str], bool]:
        """(file path or None, whether the URL needs a trailing slash to reach it)."""
        if self.prefix:
            if not (path_info == self.prefix or path_info.startswith(self.prefix + "/")):
                return None, False
            path_info = path_info[len(self.prefix):]
        try:
            url_path = path_info.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return None, False
        if "\x00" in url_path or "\\" in url_path or ":" in url_path:
            return None, False
        if not url_path:
            return self._index_of(self.root), True
        if not url_path.startswith("/"):
            return None, False
        parts = url_path.split("/")[1:]
        if not parts[-1]:
            parts.pop()
            want_index = True
        else:
            want_index = False
        for part in parts:
            if part in ("", ".", "..") or _is_device_name(part):
                return None, False
            if part.startswith(".") and not self.allow_hidden:
                return None, False
        candidate = safe_join(self.root, *parts) if parts else self.root
        if candidate is None or not self._inside_root(candidate):
            return None, False
        if want_index or candidate == self.root:
            return self._index_of(candidate), False
        if os.path.isdir(candidate):
            return self._index_of(candidate), True
        return (candidate if _is_regular_file(candidate) else None), False

    def _inside_root(self, path: str) -> bool:
        """False for a symlink (anywhere on the path) leading out of the root, unless allowed."""
        if self.follow_symlinks:
            return True
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def _index_of(self, directory: str) -> Optional[str]:
        if not self.index or not os.path.isdir(directory):
            return None
        candidate = os.path.join(directory, self.index)
        ok = _is_regular_file(candidate) and self._inside_root(candidate)
        return candidate if ok else None

    def serve(self, path: str, environ: WSGIEnvironment, start_response: StartResponse
              ) -> Iterable[bytes]:
        """Answer GET/HEAD for the file at ``path`` (already checked by ``find``)."""
        headers: HeaderList = []
        served_path, encoding = path, None
        if self.precompressed:
            accept = environ.get("HTTP_ACCEPT_ENCODING")
            siblings = [
                (c, path + s) for c, s in _ENCODINGS
                if _is_regular_file(path + s) and self._inside_root(path + s)
            ]
            if siblings:
                headers.append(("Vary", "Accept-Encoding"))
            for coding, sibling in siblings:
                if encoding_quality(accept, coding) > 0:
                    served_path, encoding = sibling, coding
                    break
        try:
            file = open(served_path, "rb")  # noqa: SIM115 (closed by the file wrapper)
        except OSError:
            return self._fall_through(environ, start_response)
        try:
            info = os.fstat(file.fileno())
            size = info.st_size
            modified = datetime.fromtimestamp(int(info.st_mtime), timezone.utc)
            tag = f"{info.st_mtime_ns:x}-{size:x}" + (f"-{encoding}" if encoding else "")
            etag = quote_etag(tag)
            headers += [
                ("Content-Type", get_content_type(_content_type(path), "utf-8")),
                ("ETag", etag),
                ("Last-Modified", http_date(modified)),
                ("Cache-Control", self._cache_control(path)),
                ("Accept-Ranges", "bytes"),
                ("X-Content-Type-Options", "nosniff"),
            ]
            if encoding:
                headers.append(("Content-Encoding", encoding))
            if not is_resource_modified(environ, etag=etag, last_modified=modified):
                file.close()
                start_response("304 Not Modified", [h for h in headers if h[0] != "Content-Type"])
                return []
            start, stop, status = 0, size, "200 OK"
            range_header = environ.get("HTTP_RANGE")
            if range_header and _if_range_allows(environ, etag, modified):
                ranges = parse_range_header(range_header)
                if ranges is not None and ranges.units == "bytes" and len(ranges.ranges) == 1:
                    bounds = ranges.range_for_length(size)
                    if bounds is None:
                        file.close()
                        return plain_response(
                            start_response, "416 Range Not Satisfiable",
                            f"Range {range_header!r} is outside the {size} bytes of this file",
                            [("Content-Range", f"bytes */{size}"), ("Accept-Ranges", "bytes")],
                        )
                    start, stop = bounds
                    status = "206 Partial Content"
                    headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{size}"))
            headers.append(("Content-Length", str(stop - start)))
            start_response(status, headers)
            if environ.get("REQUEST_METHOD") == "HEAD":
                file.close()
                return []
            if start == 0 and stop == size:
                return wrap_file(environ, file, _CHUNK)
            piece = _FileSlice(file, start, stop - start)  # file-like: read, close, fileno, tell
            return wrap_file(environ, piece, _CHUNK)  # type: ignore[arg-type]
        except BaseException:
            file.close()
            raise

    def _cache_control(self, path: str) -> str:
        # No "public": it only matters for requests with Authorization, where it would let a
        # shared cache keep a file served behind HTTP auth and hand it to anyone (REDbot:
        # STORE_PUBLIC_UNNECESSARY). Without it, other responses are just as cacheable.
        if self.immutable is not None and self.immutable.search(os.path.basename(path)):
            return "max-age=31536000, immutable"
        if self.max_age == 0:
            return "no-cache"
        return f"max-age={self.max_age}"


class _FileSlice:
    """An open file limited to ``length`` bytes from ``start``, for a Range response.

    ``read`` stops at the end of the slice, so a server that iterates the file wrapper sends
    exactly the range; ``fileno``/``tell`` let a sendfile-capable server (wsgikit, gunicorn) send
    it from ``tell()`` for Content-Length bytes without copying through Python.
    """

    def __init__(self, file: IO[bytes], start: int, length: int) -> None:
        self._file = file
        self._file.seek(start)
        self._remaining = length

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if size < 0 or size > self._remaining:
            size = self._remaining
        data = self._file.read(size)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


def _content_type(path: str) -> str:
    """The media type for ``path`` (pinned web types first, then ``mimetypes``)."""
    extension = os.path.splitext(path)[1].lower()
    pinned = _WEB_TYPES.get(extension)
    if pinned is not None:
        return pinned
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


def _if_range_allows(environ: WSGIEnvironment, etag: str, modified: datetime) -> bool:
    """RFC 9110 section 13.1.5: serve the range only if If-Range still matches."""
    value: str = environ.get("HTTP_IF_RANGE") or ""
    if not value:
        return True
    if_range = parse_if_range_header(value)
    if if_range.date is not None:
        return if_range.date == modified
    # Strong comparison on the field as sent: parse_if_range_header drops the W/ of a weak
    # tag, and a weak tag must never match.
    return value == etag


def _is_device_name(part: str) -> bool:
    stem = part.split(".", 1)[0].rstrip(" .").upper()
    return stem in _WINDOWS_DEVICES


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _package_directory(package: str, package_path: str) -> str:
    from importlib import resources

    try:
        base: Any = resources.files(package)
    except ModuleNotFoundError:
        raise ValueError(f"package {package!r} cannot be imported") from None
    target = base.joinpath(*[p for p in package_path.split("/") if p])
    if not isinstance(target, os.PathLike):
        raise ValueError(f"package {package!r} is not installed as files on disk (zip?)")
    return str(os.fspath(target))
