"""The default request limits, each with its reason: the one definition ``RequestParser``'s
defaults and ``ServerConfig``'s settings (CLI flags, ``WSGIKIT_*`` variables) both use.

Plain data, importing nothing from wsgikit, so that the configuration leaf can read it.
"""

from __future__ import annotations

from typing import Final

#: Longest request line, 414 past it: Apache's and gunicorn's 8 KiB fit every real URL
#: (RFC 9112 §3 recommends at least 8000 octets).
MAX_REQUEST_LINE: Final = 8190
#: Most header fields, 431 past it: http.server, gunicorn and nginx allow 100.
MAX_HEADER_COUNT: Final = 100
#: Longest single field line, 431 past it: gunicorn's limit_request_field_size.
MAX_FIELD_BYTES: Final = 8190
#: Largest request head in all, 431 past it: cookies plus tokens fit well under 64 KiB.
MAX_HEADER_BYTES: Final = 65536
#: Largest request body, 413 past it: waitress's max_request_body_size, 1 GiB.
MAX_BODY_BYTES: Final = 1024**3
#: Longest chunk extension, 400 past it: unused in practice (CVE-2023-46136-style abuse).
MAX_CHUNK_EXT_BYTES: Final = 4096
#: Largest trailer section of a chunked body, 431 past it: trailers are rare and small.
MAX_TRAILER_BYTES: Final = 8192
