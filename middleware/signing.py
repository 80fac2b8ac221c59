"""Signed, timestamped values: a thin layer over itsdangerous with safer defaults.

Why a layer at all: itsdangerous signs with HMAC-SHA1 by default and orders rotation keys
oldest-first. Here the digest is always SHA-256, keys are given newest first (sign with
``keys[0]``, accept any), every key must be at least 32 bytes, and the two failures a caller
cares about come out as this module's own exceptions. Signing is not encryption: the client can
read a signed value, it just cannot change it. No WSGI in here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Optional, Union, cast

import itsdangerous

__all__ = ["MIN_KEY_BYTES", "ExpiredSignature", "InvalidSignature", "Signer"]

MIN_KEY_BYTES = 32

Key = Union[str, bytes]


class InvalidSignature(ValueError):
    """The value was not signed by any of our keys (tampered, truncated or foreign)."""


class ExpiredSignature(InvalidSignature):
    """The signature is genuine but older than the allowed ``max_age``."""

    def __init__(self, message: str, *, age: float) -> None:
        super().__init__(message)
        self.age = age


def _check_keys(keys: Sequence[Key]) -> list[bytes]:
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a sequence of keys, newest first (e.g. [key]), not one key")
    out: list[bytes] = []
    for position, key in enumerate(keys):
        if isinstance(key, str):
            key = key.encode("utf-8")
        if not isinstance(key, bytes):
            raise TypeError(f"keys[{position}] must be str or bytes, not {type(key).__name__}")
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"keys[{position}] is {len(key)} bytes; signing keys need at least "
                f"{MIN_KEY_BYTES} (generate one with secrets.token_hex(32))"
            )
        out.append(key)
    if not out:
        raise ValueError("at least one signing key is needed")
    return out


def _check_max_age(max_age: Optional[float]) -> Optional[float]:
    if max_age is None:
        return None
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)):
        raise TypeError(f"max_age must be a number of seconds or None, not {max_age!r}")
    if max_age <= 0:
        raise ValueError(f"max_age must be positive, not {max_age!r}")
    return max_age


class Signer:
    """Sign strings or JSON data with HMAC-SHA256 and a timestamp; verify with key rotation.

    ``keys`` is newest first: new signatures use ``keys[0]``; a value signed by any key in the
    list still verifies, so a key can be retired gradually. ``salt`` separates purposes (a
    session cookie signature never verifies as a CSRF token). ``max_age`` (seconds) is the
    default limit for ``unsign``/``loads``; ``None`` means no limit.
    """

    def __init__(
        self,
        keys: Sequence[Key],
        *,
        salt: str = "wsgikit.signing",
        max_age: Optional[float] = None,
    ) -> None:
        if not isinstance(salt, str) or not salt:
            raise ValueError("salt must be a non-empty string naming the purpose of the signature")
        self.keys = _check_keys(keys)
        self.salt = salt
        self.max_age = _check_max_age(max_age)
        # itsdangerous wants oldest first and signs with the last key.
        oldest_first = list(reversed(self.keys))
        self._signer = itsdangerous.TimestampSigner(
            oldest_first, salt=salt, digest_method=hashlib.sha256
        )
        self._serializer = itsdangerous.URLSafeTimedSerializer(
            oldest_first, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def sign(self, value: str) -> str:
        """``value`` with a timestamp and signature appended (``value.timestamp.signature``)."""
        if not isinstance(value, str):
            raise TypeError(f"sign() takes a str, not {type(value).__name__}")
        return self._signer.sign(value).decode("utf-8")

    def unsign(self, signed: str, *, max_age: Optional[float] = None) -> str:
        """The original string; raise InvalidSignature or ExpiredSignature."""
        limit = _check_max_age(max_age) if max_age is not None else self.max_age
        try:
            return self._signer.unsign(signed, max_age=cast(Optional[int], limit)).decode("utf-8")
        except itsdangerous.SignatureExpired as exc:
            raise self._expired(exc, limit) from None
        except (itsdangerous.BadSignature, UnicodeError) as exc:
            raise InvalidSignature(f"bad signature: {exc}") from None

    def dumps(self, data: Any) -> str:
        """``data`` as URL-safe, compact JSON (never pickle), timestamped and signed."""
        try:
            return self._serializer.dumps(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"only JSON-serializable data can be signed: {exc}") from None

    def loads(self, signed: str, *, max_age: Optional[float] = None) -> Any:
        """The data ``dumps`` signed; raise InvalidSignature or ExpiredSignature."""
        limit = _check_max_age(max_age) if max_age is not None else self.max_age
        try:
            return self._serializer.loads(signed, max_age=cast(Optional[int], limit))
        except itsdangerous.SignatureExpired as exc:
            raise self._expired(exc, limit) from None
        except itsdangerous.BadData as exc:
            raise InvalidSignature(f"bad signature: {exc}") from None

    def _expired(
        self, exc: itsdangerous.SignatureExpired, limit: Optional[float]
    ) -> ExpiredSignature:
        age = 0.0
        if exc.date_signed is not None:
            age = float(self._signer.get_timestamp()) - exc.date_signed.timestamp()
        return ExpiredSignature(
            f"signature expired: {age:.0f} s old, max_age is {limit} s", age=age
        )

    def __repr__(self) -> str:
        return f"<Signer salt={self.salt!r} keys={len(self.keys)} max_age={self.max_age!r}>"
