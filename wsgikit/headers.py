"""HTTP response headers: a drop-in superset of :mod:`wsgiref.headers` (Python 3.11).

``Headers`` is a list-backed, case-insensitive view, as in wsgiref (adapted from CPython's
module, Copyright Python Software Foundation, PSF licence). The difference: every name and value
is checked on the way in, always (not only under ``__debug__``). Names must be RFC 9110 tokens;
values must not contain CR, LF, NUL or other control characters (HTAB allowed) and must be
latin-1. That closes the header-injection hole of CVE-2026-0865. The errors subclass both the
natural exception (``ValueError``/``TypeError``) and ``AssertionError``, which is what wsgiref
raises, so code written for either keeps working.
"""

from __future__ import annotations

import re
from typing import Optional, overload

from wsgikit.http11.grammar import NOT_FIELD_CHAR_RE, TOKEN_RE

__all__ = ["Headers", "HeaderError", "HeaderTypeError", "check_header_name", "check_header_value"]

# `special' characters in parameters, the existence of which force quoting of the value.
tspecials = re.compile(r'[ \(\)<>@,;:\\"/\[\]\?=]')

# Names are RFC 9110 §5.6.2 tokens (TOKEN_RE); a value holds only §5.5 field characters
# (NOT_FIELD_CHAR_RE finds a CTL other than HTAB, DEL, or a non-latin-1 character).


class HeaderError(ValueError, AssertionError):
    """A header name or value that must not be sent (not a token, control characters...).

    Subclasses ``AssertionError`` too, because that is what ``wsgiref`` raises for bad headers.
    """


class HeaderTypeError(TypeError, AssertionError):
    """A header name or value that is not a ``str`` (wsgiref raises ``AssertionError``)."""


def _require_str(value: object, title: str = "Header names/values") -> str:
    if type(value) is str:
        return value
    raise HeaderTypeError(f"{title} must be of type str (got {value!r})")


def check_header_name(name: object) -> str:
    """Return ``name`` if it is a ``str`` and an RFC 9110 token, else raise."""
    name = _require_str(name, "Header name")
    if not TOKEN_RE.fullmatch(name):
        raise HeaderError(f"Header name {name!r} is not an RFC 9110 token")
    return name


def check_header_value(value: object, name: str = "") -> str:
    """Return ``value`` if it is a ``str`` safe to send (no CR/LF/NUL/CTL, latin-1), else raise."""
    value = _require_str(value, "Header value")
    bad = NOT_FIELD_CHAR_RE.search(value)
    if bad is not None:
        what = "a control character" if bad.group() <= "\x7f" else "a non-latin-1 character"
        raise HeaderError(
            f"Header value for {name or 'header'!r} contains {what} ({bad.group()!r}): {value!r}"
        )
    return value


def _formatparam(param: str, value: Optional[str] = None, quote: int = 1) -> str:
    """Format a key=value pair, quoting the value if needed or if quote is true."""
    if value is not None and len(value) > 0:
        if quote or tspecials.search(value):
            value = value.replace("\\", "\\\\").replace('"', r"\"")
            return f'{param}="{value}"'
        return f"{param}={value}"
    return param


class Headers:
    """Manage a collection of HTTP response headers (validated on every insertion)."""

    def __init__(self, headers: Optional[list[tuple[str, str]]] = None) -> None:
        headers = headers if headers is not None else []
        if type(headers) is not list:
            raise TypeError("Headers must be a list of name/value tuples")
        self._headers = headers
        for pair in headers:
            if type(pair) is not tuple or len(pair) != 2:
                raise HeaderTypeError(f"Headers must be (name, value) tuples (got {pair!r})")
            name, value = pair
            check_header_name(name)
            check_header_value(value, name)

    def _convert_string_type(self, value: object) -> str:
        """Check the type (wsgiref's hook; kept for subclasses that call it)."""
        return _require_str(value)

    def __len__(self) -> int:
        """Return the total number of headers, including duplicates."""
        return len(self._headers)

    def __setitem__(self, name: str, val: str) -> None:
        """Set the value of a header (replacing every existing one)."""
        pair = (check_header_name(name), check_header_value(val, name))
        del self[name]
        self._headers.append(pair)

    def __delitem__(self, name: str) -> None:
        """Delete all occurrences of a header, if present (no error when missing)."""
        name = _require_str(name).lower()
        self._headers[:] = [kv for kv in self._headers if kv[0].lower() != name]

    def __getitem__(self, name: str) -> Optional[str]:
        """Get the first header value for 'name', or None if it is missing."""
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        """Return true if the message contains the header."""
        return self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        """Return a list of all the values for the named field, in order (may be empty)."""
        name = _require_str(name).lower()
        return [kv[1] for kv in self._headers if kv[0].lower() == name]

    @overload
    def get(self, name: str) -> Optional[str]: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: Optional[str]) -> Optional[str]: ...

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """Get the first header value for 'name', or return 'default'."""
        name = _require_str(name).lower()
        for k, v in self._headers:
            if k.lower() == name:
                return v
        return default

    def keys(self) -> list[str]:
        """Return a list of all the header field names, in order, with duplicates."""
        return [k for k, _ in self._headers]

    def values(self) -> list[str]:
        """Return a list of all header values, in order, with duplicates."""
        return [v for _, v in self._headers]

    def items(self) -> list[tuple[str, str]]:
        """Return a copy of the (name, value) list, in order, with duplicates."""
        return self._headers[:]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._headers!r})"

    def __str__(self) -> str:
        """The formatted headers, with the final blank line, ready for HTTP transmission."""
        return "\r\n".join([f"{name}: {value}" for name, value in self._headers] + ["", ""])

    def __bytes__(self) -> bytes:
        """The formatted headers as latin-1 bytes, re-checked so nothing unsafe is sent.

        The list is shared with the application (as in wsgiref), so it may have changed since
        the values were added; a bad pair raises ``HeaderError`` instead of reaching the wire.
        """
        for name, value in self._headers:
            check_header_name(name)
            check_header_value(value, name)
        return str(self).encode("iso-8859-1")

    def setdefault(self, name: str, value: str) -> str:
        """Return the first value for 'name'; if there is none, add 'name: value' and return it."""
        result = self.get(name)
        if result is None:
            self._headers.append((check_header_name(name), check_header_value(value, name)))
            return value
        return result

    def add_header(self, _name: str, _value: Optional[str], **_params: Optional[str]) -> None:
        """Add a header with optional parameters (underscores in their names become dashes).

        ``h.add_header('content-disposition', 'attachment', filename='bud.gif')``; a parameter
        whose value is None is added as a bare key.
        """
        parts = []
        if _value is not None:
            parts.append(_require_str(_value))
        for k, v in _params.items():
            k = _require_str(k)
            if v is None:
                parts.append(k.replace("_", "-"))
            else:
                parts.append(_formatparam(k.replace("_", "-"), _require_str(v)))
        value = "; ".join(parts)
        self._headers.append((check_header_name(_name), check_header_value(value, _name)))
