"""middleware.signing: SHA-256, key rotation (newest first), max age, clear errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import itsdangerous
import pytest

from middleware.signing import ExpiredSignature, InvalidSignature, Signer

NEW = "n" * 32
OLD = "o" * 32


def test_round_trip_string_and_json() -> None:
    signer = Signer([NEW])
    assert signer.unsign(signer.sign("hello")) == "hello"
    data = {"user": "alice", "n": [1, 2, 3], "ok": True, "none": None}
    assert signer.loads(signer.dumps(data)) == data


def test_signature_is_hmac_sha256_with_itsdangerous_key_derivation() -> None:
    signer = Signer([NEW], salt="s")
    value, timestamp, sig = signer.sign("v").rsplit(".", 2)
    # itsdangerous' django-concat derivation, but with SHA-256 instead of its SHA-1 default.
    key = hashlib.sha256(b"s" + b"signer" + NEW.encode()).digest()
    expected = hmac.new(key, f"{value}.{timestamp}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) == expected
    assert len(expected) == 32


def test_sha1_itsdangerous_default_is_not_accepted() -> None:
    sha1 = itsdangerous.TimestampSigner(NEW, salt="wsgikit.signing")
    with pytest.raises(InvalidSignature):
        Signer([NEW]).unsign(sha1.sign("v").decode())


def test_signs_with_newest_key_and_accepts_older() -> None:
    old_token = Signer([OLD]).sign("from-before")
    rotated = Signer([NEW, OLD])
    assert rotated.unsign(old_token) == "from-before"
    new_token = rotated.sign("now")
    assert Signer([NEW]).unsign(new_token) == "now"
    with pytest.raises(InvalidSignature):
        Signer([OLD]).unsign(new_token)


def test_retired_key_no_longer_verifies() -> None:
    old_token = Signer([OLD]).dumps({"a": 1})
    with pytest.raises(InvalidSignature):
        Signer([NEW]).loads(old_token)


def flip(token: str, index: int) -> str:
    """``token`` with the character at ``index`` changed."""
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]


@pytest.mark.parametrize(
    "mangle",
    [
        # Not the last character: it carries base64 padding bits a decoder may ignore.
        pytest.param(lambda t: flip(t, t.rindex(".") + 1), id="signature-char"),
        pytest.param(lambda t: "X" + t[1:], id="value"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="no-signature"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "é" + t, id="non-ascii"),
    ],
)
def test_tampering_is_detected(mangle) -> None:  # type: ignore[no-untyped-def]
    signer = Signer([NEW])
    with pytest.raises(InvalidSignature):
        signer.unsign(mangle(signer.sign("value")))
    with pytest.raises(InvalidSignature):
        signer.loads(mangle(signer.dumps({"v": 1})))


def test_salt_separates_purposes() -> None:
    token = Signer([NEW], salt="session").sign("x")
    with pytest.raises(InvalidSignature):
        Signer([NEW], salt="csrf").unsign(token)


def test_max_age_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer([NEW], max_age=60)
    token = signer.sign("v")
    json_token = signer.dumps([1])
    assert signer.unsign(token) == "v"
    real_time = time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() + 120)
    with pytest.raises(ExpiredSignature) as info:
        signer.unsign(token)
    assert info.value.age >= 119
    assert "max_age is 60" in str(info.value)
    with pytest.raises(ExpiredSignature):
        signer.loads(json_token)
    # A per-call limit overrides the default.
    assert signer.unsign(token, max_age=600) == "v"
    assert isinstance(info.value, InvalidSignature)  # callers can catch one type


def test_json_only_never_pickle() -> None:
    signer = Signer([NEW])
    with pytest.raises(TypeError, match="JSON"):
        signer.dumps({"when": object()})


@pytest.mark.parametrize(
    ("keys", "error", "match"),
    [
        pytest.param([], ValueError, "at least one", id="none"),
        pytest.param(["short"], ValueError, "at least 32", id="short"),
        pytest.param(NEW, TypeError, "sequence", id="one-string"),
        pytest.param([12345], TypeError, "str or bytes", id="int"),
    ],
)
def test_bad_keys_are_refused(keys, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        Signer(keys)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="max_age"):
        Signer([NEW], max_age=0)
    with pytest.raises(TypeError, match="max_age"):
        Signer([NEW], max_age="60")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="salt"):
        Signer([NEW], salt="")
    with pytest.raises(TypeError, match="str"):
        Signer([NEW]).sign(b"bytes")  # type: ignore[arg-type]
