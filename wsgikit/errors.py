"""Errors of the server layer that are not HTTP protocol errors (those are in ``http11``).

Kept in a module of their own, which is never compiled: the modules on the request path can
be compiled with mypyc (see docs/compiled.rst), and a compiled class cannot subclass a
built-in exception such as ``ConnectionError``.
"""

from __future__ import annotations

__all__ = ["ClientDisconnected"]


class ClientDisconnected(ConnectionError):
    """The client went away (EOF or reset) while we were reading its body or sending to it."""
