"""Sessions: a dict per visitor, kept in a signed cookie (default), in memory or in Redis.

The default store puts the whole session in the cookie as signed JSON (never pickle: a leaked
key must not mean code execution, CVE-2013-7489). Such a session is readable by the client, and
logging out only clears the browser's copy: a copied cookie works until it expires, unless
``absolute_max_age`` bounds it and per-user ``revocations`` end it. Keep logins in
``MemoryStore`` (one process) or ``RedisStore``, where logout deletes the session itself (and
when the data outgrows a cookie: a clear ``SessionTooLarge`` says so). With a server-side store
the cookie carries only a random, signed session id.

The cookie is sent only when the session changed, so a read-only request costs no Set-Cookie.
Call ``regenerate()`` when the user logs in (a new id defeats session fixation) and ``clear()``
when they log out.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from typing import Any, Optional, Protocol

from middleware._wsgi import HeaderList, intercept_start_response, is_https
from middleware.cookies import (
    MAX_COOKIE_BYTES,
    build_delete_cookie,
    build_set_cookie,
    parse_cookie_header,
)
from middleware.signing import ExpiredSignature, InvalidSignature, Key, Signer
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "CookieStore",
    "MemoryRevocations",
    "MemoryStore",
    "RedisRevocations",
    "RedisStore",
    "Revocations",
    "Session",
    "SessionMiddleware",
    "SessionStore",
    "SessionTooLarge",
    "get_session",
]

logger = logging.getLogger("wsgikit.sessions")

ENVIRON_SESSION = "wsgikit.session"
#: The session key that carries the middleware's own data (issue time, user and generation).
META_KEY = "_wsgikit"
DEFAULT_COOKIE_NAME = "session"
DEFAULT_MAX_AGE = 14 * 24 * 3600


class SessionTooLarge(ValueError):
    """The session does not fit in a cookie; store less or use a server-side store."""


class SessionStore(Protocol):
    """Where server-side session data lives, keyed by a random session id.

    ``save`` stores a brand-new session. ``update`` rewrites an existing one *only if it still
    exists* and says whether it did: a request that began before a logout (or a login's
    ``regenerate()``) and ends after it must not bring the deleted session back.
    """

    def load(self, sid: str) -> Optional[dict[str, Any]]: ...

    def save(self, sid: str, data: dict[str, Any], max_age: int) -> None: ...

    def update(self, sid: str, data: dict[str, Any], max_age: int) -> bool: ...

    def delete(self, sid: str) -> None: ...


def _to_json(data: dict[str, Any]) -> str:
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"session data must be JSON-serializable: {exc}") from None


def _from_json(text: str) -> Optional[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class MemoryStore:
    """Sessions in this process's memory: fine for one process and for tests, lost on restart.

    Two bounded least-recently-used buckets, so anonymous traffic cannot push out users: a new
    session waits among at most ``max_new`` (default ``max_entries``) others until its client
    brings the cookie back; only then does it join the ``max_entries`` kept sessions. A flood
    of cookieless requests thus only evicts other sessions nobody came back for. Eviction takes
    the least recently used entry, in O(1) (expired entries go when touched or evicted).
    """

    def __init__(self, *, max_entries: int = 10_000, max_new: Optional[int] = None) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, not {max_entries!r}")
        if max_new is None:
            max_new = max_entries
        if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
            raise ValueError(f"max_new must be a positive int, not {max_new!r}")
        self.max_entries = max_entries
        self.max_new = max_new
        self._new: OrderedDict[str, tuple[float, str]] = OrderedDict()  # never brought back
        self._kept: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _put(bucket: OrderedDict[str, tuple[float, str]], limit: int, sid: str,
             entry: tuple[float, str]) -> None:
        bucket[sid] = entry
        bucket.move_to_end(sid)
        while len(bucket) > limit:
            bucket.popitem(last=False)  # the least recently used

    def load(self, sid: str) -> Optional[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            entry = self._kept.get(sid)
            if entry is not None:
                self._kept.move_to_end(sid)
            else:
                entry = self._new.pop(sid, None)
                if entry is None:
                    return None
                self._put(self._kept, self.max_entries, sid, entry)  # it came back: keep it
            if entry[0] <= now:
                del self._kept[sid]
                return None
        return _from_json(entry[1])

    def save(self, sid: str, data: dict[str, Any], max_age: int) -> None:
        entry = (time.monotonic() + max_age, _to_json(data))
        with self._lock:
            self._kept.pop(sid, None)
            self._put(self._new, self.max_new, sid, entry)

    def update(self, sid: str, data: dict[str, Any], max_age: int) -> bool:
        text = _to_json(data)
        now = time.monotonic()
        with self._lock:
            for bucket in (self._kept, self._new):
                entry = bucket.get(sid)
                if entry is None:
                    continue
                if entry[0] <= now:
                    del bucket[sid]
                    return False
                bucket[sid] = (now + max_age, text)
                bucket.move_to_end(sid)
                return True
        return False

    def delete(self, sid: str) -> None:
        with self._lock:
            self._kept.pop(sid, None)
            self._new.pop(sid, None)

    def __len__(self) -> int:
        return len(self._kept) + len(self._new)


class RedisStore:
    """Sessions in Redis (redis-py), as JSON strings with a TTL, under ``prefix + sid``.

    ``client`` is a ``redis.Redis`` (or anything with get/set(ex=)/delete); build it with a
    socket timeout so a slow Redis cannot hang a request.
    """

    def __init__(self, client: Any, *, prefix: str = "wsgikit:session:") -> None:
        for method in ("get", "set", "delete"):
            if not callable(getattr(client, method, None)):
                raise TypeError(f"client must be a redis.Redis-like object (no {method}())")
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 2.0, **options: Any) -> RedisStore:
        """A store on ``redis.Redis.from_url(url)`` with connect and read timeouts."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, **options)

    def load(self, sid: str) -> Optional[dict[str, Any]]:
        raw = self.client.get(self.prefix + sid)
        if raw is None:
            return None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return _from_json(text)

    def save(self, sid: str, data: dict[str, Any], max_age: int) -> None:
        if not self.client.set(self.prefix + sid, _to_json(data), ex=max_age, nx=True):
            raise RuntimeError("session id collision in Redis (the id generator is broken?)")

    def update(self, sid: str, data: dict[str, Any], max_age: int) -> bool:
        # SET ... XX: written only if the key still exists, atomically in Redis.
        return bool(self.client.set(self.prefix + sid, _to_json(data), ex=max_age, xx=True))

    def delete(self, sid: str) -> None:
        self.client.delete(self.prefix + sid)


class CookieStore:
    """Marker for the default: the session data itself travels in the signed cookie."""


class Revocations(Protocol):
    """Per-user revocation counters: a session tied to a user (``Session.set_user``) records
    the user's counter and stops loading once ``revoke(user)`` has moved it on."""

    def generation(self, user: str) -> int: ...

    def revoke(self, user: str) -> int: ...


class MemoryRevocations:
    """Revocation counters in this process's memory: one process only, reset on restart."""

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def generation(self, user: str) -> int:
        return self._counters.get(user, 0)

    def revoke(self, user: str) -> int:
        """End every session of ``user`` (all devices, all copies); the new generation."""
        with self._lock:
            self._counters[user] = self._counters.get(user, 0) + 1
            return self._counters[user]


class RedisRevocations:
    """Revocation counters in Redis (``INCR``), shared by every process: ``prefix + user``."""

    def __init__(self, client: Any, *, prefix: str = "wsgikit:revoked:") -> None:
        for method in ("get", "incr"):
            if not callable(getattr(client, method, None)):
                raise TypeError(f"client must be a redis.Redis-like object (no {method}())")
        self.client = client
        self.prefix = prefix

    def generation(self, user: str) -> int:
        raw = self.client.get(self.prefix + user)
        return int(raw) if raw is not None else 0

    def revoke(self, user: str) -> int:
        return int(self.client.incr(self.prefix + user))


class Session(MutableMapping[str, Any]):
    """The visitor's session: a dict of JSON values plus ``regenerate()`` and ``clear()``.

    ``new`` is true when no stored session was found; ``problem`` then says why, if the
    client did send a session cookie (bad signature, expired, unknown id).
    Assigning or deleting a key marks it modified; a change inside a nested value does not,
    so set ``session.modified = True`` after ``session["cart"].append(item)``.
    """

    def __init__(
        self,
        data: Optional[dict[str, Any]] = None,
        *,
        sid: Optional[str] = None,
        problem: Optional[str] = None,
    ) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self.problem = problem  # why a session cookie sent by the client was not used
        self.sid = sid  # None: new session (or cookie store)
        self.old_sid: Optional[str] = None
        self.modified = False
        self.new = data is None
        self.interrupted = False  # True: the store lost it mid-request; the change was dropped
        self.issued_at: Optional[int] = None  # when it was created or regenerated (Unix time)
        self.user: Optional[tuple[str, int]] = None  # set_user(): (user, revocation generation)
        self._revocations: Optional[Revocations] = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys must be str (JSON), not {type(key).__name__}")
        if key == META_KEY:
            raise KeyError(f"{META_KEY!r} is reserved for the session's own metadata")
        _to_json({key: value})  # fail here, at the line that stored it
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Forget everything (log out): the store entry and the cookie are removed."""
        if self._data or self.sid is not None:
            self.modified = True
        self._data.clear()
        self.user = None
        self.issued_at = None

    def regenerate(self) -> None:
        """Keep the data under a new session id; call it on login (against session fixation)."""
        if self.sid is not None and self.old_sid is None:
            self.old_sid = self.sid
        self.sid = None
        self.issued_at = None  # a new session: its absolute lifetime starts now
        self.modified = True

    def set_user(self, user: str) -> None:
        """Tie the session to ``user``, so that ``revocations.revoke(user)`` (on logout,
        password change, "log out everywhere") ends it and every copy of its cookie.

        Needs ``SessionMiddleware(revocations=...)``.
        """
        if self._revocations is None:
            raise RuntimeError("set_user() needs SessionMiddleware(revocations=...)")
        if not isinstance(user, str) or not user:
            raise TypeError("user must be a non-empty str")
        self.user = (user, self._revocations.generation(user))
        self.modified = True

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"<Session keys={sorted(self._data)} modified={self.modified}>"


def get_session(environ: WSGIEnvironment) -> Session:
    """The session ``SessionMiddleware`` put in the environ; RuntimeError when there is none."""
    session = environ.get(ENVIRON_SESSION)
    if not isinstance(session, Session):
        raise RuntimeError("no session in the environ: wrap the app in SessionMiddleware")
    return session


class SessionMiddleware:
    """Give each request ``environ["wsgikit.session"]`` (a ``Session``) and persist changes.

    Reads the session cookie (named by ``cookie_name()``: ``__Host-session`` when Secure, else
    ``session``); on ``start_response`` writes one Set-Cookie if the session changed (or
    deletes the cookie when a session was cleared). Cookie defaults:
    HttpOnly, SameSite=Lax, Path=/, Secure on https (``secure=True`` forces it), Max-Age
    ``max_age`` (14 days), which is also the signature/store expiry. ``secret_keys`` are newest
    first: sessions signed with an older key still load and are re-signed with the newest key
    when next changed. ``absolute_max_age`` (seconds) ends a session that long after its
    creation or ``regenerate()``, however often it was re-signed; ``revocations`` (with
    ``Session.set_user``) lets the app end every session of a user at once.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        secret_keys: Sequence[Key],
        store: Optional[SessionStore | CookieStore] = None,
        cookie_name: Optional[str] = None,
        max_age: int = DEFAULT_MAX_AGE,
        path: str = "/",
        domain: Optional[str] = None,
        secure: Optional[bool] = None,
        samesite: str = "Lax",
        salt: str = "wsgikit.session",
        absolute_max_age: Optional[int] = None,
        revocations: Optional[Revocations] = None,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI callable")
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0:
            raise ValueError(f"max_age must be a positive int (seconds), not {max_age!r}")
        if absolute_max_age is not None and (
            isinstance(absolute_max_age, bool)
            or not isinstance(absolute_max_age, int)
            or absolute_max_age <= 0
        ):
            raise ValueError(
                f"absolute_max_age must be a positive int (seconds) or None, not "
                f"{absolute_max_age!r}"
            )
        if revocations is not None:
            for method in ("generation", "revoke"):
                if not callable(getattr(revocations, method, None)):
                    raise TypeError(f"revocations must have generation/revoke (no {method})")
        if store is not None and not isinstance(store, CookieStore):
            for method in ("load", "save", "update", "delete"):
                if not callable(getattr(store, method, None)):
                    raise TypeError(
                        f"store must have load/save/update/delete methods (no {method})"
                    )
        self.app = app
        self.store = None if isinstance(store, CookieStore) else store
        self.signer = Signer(secret_keys, salt=salt, max_age=max_age)
        self.explicit_name = cookie_name
        self.max_age = max_age
        self.absolute_max_age = absolute_max_age
        self.revocations = revocations
        self.cookie_options: dict[str, Any] = {
            "path": path,
            "domain": domain,
            "samesite": samesite,
        }
        self.secure = secure
        # Check the cookie options now, not on the first request.
        build_set_cookie(self.cookie_name(True), "x", secure=True, max_age=max_age,
                         **self.cookie_options)

    def cookie_name(self, secure: bool) -> str:
        """The session cookie's name: ``cookie_name`` if given, else ``__Host-session`` when
        the cookie is Secure with Path=/ and no Domain, else ``session``.

        A ``__Host-`` cookie can only be set by this very host over https, so a sibling
        subdomain cannot plant one (cookie tossing, RFC 6265bis section 4.1.3.2).
        """
        if self.explicit_name is not None:
            return self.explicit_name
        options = self.cookie_options
        if secure and options["path"] == "/" and options["domain"] is None:
            return "__Host-" + DEFAULT_COOKIE_NAME
        return DEFAULT_COOKIE_NAME

    def _load(self, value: str) -> Session:
        """The session ``value`` names; a fresh one (with ``problem`` saying why) if refused."""
        try:
            if self.store is None:
                data = self.signer.loads(value)
                if isinstance(data, dict):
                    return self._accept(data, None)
                return Session(problem="session cookie does not hold a JSON object")
            sid = self.signer.unsign(value)
        except ExpiredSignature:
            return Session(problem="session cookie expired")
        except InvalidSignature:
            return Session(problem="session cookie has a bad signature")
        stored = self.store.load(sid)
        if stored is None:
            return Session(problem="session id unknown to the store (expired or revoked)")
        return self._accept(stored, sid)

    def _accept(self, data: dict[str, Any], sid: Optional[str]) -> Session:
        """A verified session, unless past its absolute lifetime or its user was revoked."""
        meta = data.pop(META_KEY, None)
        if not isinstance(meta, dict):
            meta = {}
        issued = meta.get("iat")
        issued_at = issued if isinstance(issued, int) and not isinstance(issued, bool) else None
        problem = None
        if self.absolute_max_age is not None and (
            issued_at is None or time.time() - issued_at > self.absolute_max_age
        ):
            problem = "session reached its absolute lifetime (log in again)"
        user, generation = meta.get("uid"), meta.get("gen")
        if problem is None and self.revocations is not None and user is not None:
            if not isinstance(user, str) or self.revocations.generation(user) != generation:
                problem = "session revoked (its user's sessions were ended)"
        if problem is not None:
            if sid is not None and self.store is not None:
                self.store.delete(sid)
            return Session(problem=problem)
        session = Session(data, sid=sid)
        session.issued_at = issued_at
        if isinstance(user, str) and isinstance(generation, int):
            session.user = (user, generation)
        return session

    def _pack(self, session: Session) -> dict[str, Any]:
        """The session's data plus the middleware's metadata, as stored or signed."""
        if session.issued_at is None:
            session.issued_at = int(time.time())
        meta: dict[str, Any] = {"iat": session.issued_at}
        if session.user is not None:
            meta["uid"], meta["gen"] = session.user
        data = session.to_dict()
        data[META_KEY] = meta
        return data

    def _headers(self, session: Session, had_cookie: bool, secure: bool) -> HeaderList:
        if not session.modified:
            return []
        name = self.cookie_name(secure)
        if self.store is not None:
            for sid in (session.old_sid, session.sid if not session else None):
                if sid is not None:
                    self.store.delete(sid)
        if not session:
            if not had_cookie:
                return []
            header = build_delete_cookie(name, secure=secure, **self.cookie_options)
            return [("Set-Cookie", header)]
        if self.store is None:
            value = self.signer.dumps(self._pack(session))
        elif session.sid is None:
            session.sid = secrets.token_urlsafe(32)
            self.store.save(session.sid, self._pack(session), self.max_age)
            value = self.signer.sign(session.sid)
        elif self.store.update(session.sid, self._pack(session), self.max_age):
            value = self.signer.sign(session.sid)
        else:
            # Deleted while this request ran (a logout or login elsewhere, or expiry): never
            # write it back, and leave the browser's cookie alone (a newer response set it).
            session.interrupted = True
            logger.warning("session changed by a request that outlived its session "
                           "(logged out or regenerated meanwhile): change dropped")
            return []
        size = len(name) + len(value)
        if size > MAX_COOKIE_BYTES:
            raise SessionTooLarge(
                f"the session cookie would be {size} bytes, over the {MAX_COOKIE_BYTES}-byte "
                "browser limit: store less in the session or use a server-side store "
                "(MemoryStore, RedisStore)"
            )
        header = build_set_cookie(
            name, value, secure=secure, max_age=self.max_age, **self.cookie_options
        )
        return [("Set-Cookie", header)]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        secure = is_https(environ) if self.secure is None else self.secure
        cookies = parse_cookie_header(environ.get("HTTP_COOKIE"))
        values = cookies.getlist(self.cookie_name(secure))
        session = Session()
        for value in values:  # the first one that verifies wins (no shadowing by junk)
            session = self._load(value)
            if not session.new:
                break
        session._revocations = self.revocations
        environ[ENVIRON_SESSION] = session

        def add_cookie(status: str, headers: HeaderList) -> tuple[str, HeaderList]:
            return status, headers + self._headers(session, bool(values), secure)

        # The app's iterable as it is: a wsgi.file_wrapper keeps the server's sendfile path.
        return self.app(environ, intercept_start_response(start_response, add_cookie))
