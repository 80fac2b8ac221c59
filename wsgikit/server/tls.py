"""TLS through the standard library: contexts from ``ServerConfig``, handshakes off the worker pool,
certificates that rotate, and client-certificate information for the environ.

* :func:`make_ssl_context`: a server ``SSLContext`` with Mozilla's "intermediate" (default) or
  "modern" profile, ALPN ``http/1.1``, session tickets for cheap resumption, and SNI when several
  certificates are given.
* :class:`Handshaker`: one selector thread that runs every handshake non-blocking, so a client
  that never sends its ClientHello (or sends it a byte at a time) holds no worker thread; it
  closes handshakes that are not done within ``handshake_timeout``.
* :class:`CertReloader`: builds a new context from the files on SIGHUP or when they change; a bad
  new certificate is refused with one log line and the old context stays in service.
* :func:`tls_environ`: the mod_ssl names (``SSL_CLIENT_S_DN``, ``SSL_CLIENT_CERT``...).

Errors are ``TLSConfigError`` with one line naming the file and the problem, so the CLI can print
it and exit 2.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from wsgikit.config import ConfigError, ServerConfig
from wsgikit.http11 import error_response
from wsgikit.server.keepalive import KeepAliveParker

__all__ = [
    "TLSConfigError", "PROFILES", "TLSProfile", "make_ssl_context", "Handshaker", "CertReloader",
    "client_cert_environ", "tls_environ",
]

log = logging.getLogger("wsgikit.error")

_CERT_REQS = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}


@dataclass(frozen=True)
class TLSProfile:
    """One of Mozilla's server-side TLS configurations (https://ssl-config.mozilla.org, v5.7)."""

    name: str
    minimum_version: ssl.TLSVersion
    #: OpenSSL cipher string for TLS 1.2 (TLS 1.3's suites are OpenSSL's default three, which
    #: are the ones both profiles list).
    ciphers: str
    #: Key-exchange groups ("curves"), most preferred first.
    groups: str


_GROUPS = "X25519:prime256v1:secp384r1"

#: The profiles ``--tls-profile`` chooses from. Intermediate leaves out Mozilla's three DHE
#: suites: Python cannot load the ffdhe2048 group they need without a DH parameter file, and
#: without it OpenSSL never picks them anyway.
PROFILES = {
    "intermediate": TLSProfile(
        "intermediate",
        ssl.TLSVersion.TLSv1_2,
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
        _GROUPS,
    ),
    "modern": TLSProfile("modern", ssl.TLSVersion.TLSv1_3, "", _GROUPS),
}


class TLSConfigError(ConfigError):
    """A certificate, key or CA file cannot be used; the message names it."""


# -- contexts ------------------------------------------------------------------------------------


def make_ssl_context(config: ServerConfig) -> Optional[ssl.SSLContext]:
    """A server ``SSLContext`` when ``config.certfile`` is set, else ``None``.

    With several certificates the first one is the default and the others are chosen by the
    server name the client asks for (SNI), matched against their subjectAltName DNS names.
    """
    if not config.certfile:
        return None
    keys: tuple[Optional[str], ...] = config.keyfile or (None,) * len(config.certfile)
    pairs = list(zip(config.certfile, keys))
    for certfile, keyfile in pairs:
        for what, path in (("certfile", certfile), ("keyfile", keyfile)):
            if path and not os.path.isfile(path):
                raise TLSConfigError(f"TLS: {what} file not found: {path}")
    if config.ca_certs and not os.path.isfile(config.ca_certs):
        raise TLSConfigError(f"TLS: ca_certs file not found: {config.ca_certs}")
    default = _context(config, *pairs[0])
    if len(pairs) > 1:
        by_name: dict[str, ssl.SSLContext] = {}
        for certfile, keyfile in pairs[1:]:
            context = _context(config, certfile, keyfile)
            names = _dns_names(certfile)
            if not names:
                raise TLSConfigError(
                    f"TLS: certfile {certfile!r} names no host (no subjectAltName DNS entry "
                    "or common name): SNI cannot choose it"
                )
            for name in names:
                by_name.setdefault(name.lower(), context)
        default.sni_callback = _sni_chooser(by_name)
    return default


def _context(config: ServerConfig, certfile: str, keyfile: Optional[str]) -> ssl.SSLContext:
    profile = PROFILES[config.tls_profile]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = profile.minimum_version
    ciphers = config.ciphers or profile.ciphers
    if ciphers:
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError:
            raise TLSConfigError(f"TLS: no usable cipher in {ciphers!r}") from None
    # Mozilla: let the client pick among suites that are all strong (phones without AES
    # hardware prefer ChaCha20); no renegotiation (a client-initiated one is a CPU DoS);
    # compression stays off (CRIME; Python's default). Resumption: session tickets (OpenSSL's
    # default, stateless, shared by --workers since the key is made before the fork) and the
    # session-id cache. Not OP_IGNORE_UNEXPECTED_EOF: in OpenSSL 3.0 an EOF read after our
    # close_notify then clears the "sent" flag and the session is evicted after all.
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    if not _set_groups(context, profile.groups):
        context.set_ecdh_curve("prime256v1")  # one group the profile lists, never X448/P-521
    password = config.keyfile_password
    try:
        context.load_cert_chain(certfile, keyfile, password=password)
    except FileNotFoundError as exc:
        raise TLSConfigError(f"TLS: file not found: {exc.filename}") from None
    except PermissionError as exc:
        raise TLSConfigError(f"TLS: permission denied reading {exc.filename}") from None
    except ssl.SSLError as exc:
        what = "key file password is wrong or" if password else "key file is encrypted or"
        raise TLSConfigError(
            f"TLS: cannot load certfile {certfile!r} / keyfile {keyfile or certfile!r}: "
            f"{what} does not match the certificate ({exc.reason or exc})"
        ) from None
    except OSError as exc:
        raise TLSConfigError(f"TLS: cannot read certificate: {exc}") from None
    if config.ca_certs:
        try:
            context.load_verify_locations(cafile=config.ca_certs)
        except FileNotFoundError:
            raise TLSConfigError(f"TLS: CA file not found: {config.ca_certs}") from None
        except (ssl.SSLError, OSError) as exc:
            raise TLSConfigError(f"TLS: cannot load CA file {config.ca_certs!r}: {exc}") from None
    context.verify_mode = _CERT_REQS[config.cert_reqs]
    context.set_alpn_protocols(["http/1.1"])
    return context


def _set_groups(context: ssl.SSLContext, groups: str) -> bool:
    """Limit key exchange to ``groups`` (OpenSSL's ``SSL_CTX_set1_groups_list``).

    Python before 3.15 offers only ``set_ecdh_curve`` (one group), so this calls libssl through
    ctypes: the ``SSL_CTX *`` is the first field after the object header of CPython's context
    object, checked by reading the options back through it before anything is changed. False
    when that is not possible (another Python, another layout): the caller falls back.
    """
    if sys.implementation.name != "cpython":
        return False
    try:
        import _ssl
        import ctypes

        lib = ctypes.CDLL(_ssl.__file__)
        get_options = lib.SSL_CTX_get_options
        get_options.restype = ctypes.c_uint64
        get_options.argtypes = [ctypes.c_void_p]
        ctrl = lib.SSL_CTX_ctrl
        ctrl.restype = ctypes.c_long
        ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
        pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        if not pointer or get_options(pointer) != int(context.options):
            return False
        set_groups_list = 92  # SSL_CTRL_SET_GROUPS_LIST
        return bool(ctrl(pointer, set_groups_list, 0, groups.encode("ascii")) == 1)
    except (ImportError, OSError, AttributeError, ValueError, TypeError):
        return False


def _dns_names(certfile: str) -> list[str]:
    """The DNS names a certificate file's first certificate is for (SAN, else the CN)."""
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:  # pragma: no cover - every CPython since 3.2 has it
        raise TLSConfigError("TLS: this Python cannot read certificate names (needed for SNI)")
    try:
        cert = decode(certfile)
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"TLS: cannot read certificate {certfile!r}: {exc}") from None
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    if not names:
        for rdn in cert.get("subject", ()):
            names += [value for key, value in rdn if key == "commonName"]
    return names


def _sni_chooser(
    by_name: dict[str, ssl.SSLContext]
) -> Callable[[Any, Optional[str], ssl.SSLContext], None]:
    def choose(sslobj: Any, server_name: Optional[str], _: ssl.SSLContext) -> None:
        if not server_name:
            return
        name = server_name.lower().rstrip(".")
        context = by_name.get(name)
        if context is None and "." in name:
            context = by_name.get("*." + name.split(".", 1)[1])
        if context is not None:
            sslobj.context = context

    return choose


# -- handshakes off the worker pool ------------------------------------------------------------


#: nginx's answer to the same mistake, in plain text over the raw TCP connection.
PLAIN_HTTP_MESSAGE = "The plain HTTP request was sent to HTTPS port"


class Handshaker:
    """Runs TLS handshakes in one selector thread, so waiting for a client never holds a worker.

    ``add(conn)`` takes an accepted connection (socket wrapped, not yet handshaken). Each time
    its socket is ready the thread takes one non-blocking ``do_handshake()`` step; the crypto
    runs with the GIL released. When the handshake is done it reads what already came (the
    request usually follows the client's Finished at once) and calls ``on_done(conn, got_data)``:
    the server hands the connection to a worker, or parks it until its request begins. A
    handshake not done ``timeout`` seconds after the accept is closed; failures (scanners,
    wrong protocol) are counted and go to ``record_error`` (the server's ``ClientErrorLog``: a
    DEBUG line each, a summary a minute), so a scan cannot flood the log.
    """

    def __init__(
        self,
        on_done: Callable[[Any, bool], None],
        timeout: float,
        *,
        server_header: Optional[str] = "wsgikit",
        record_error: Optional[Callable[[str, str, str], None]] = None,
    ) -> None:
        self._on_done = on_done
        self._record_error = record_error
        self.timeout = timeout
        self._server_header = server_header
        self._parker = KeepAliveParker(self._ready, self._expired, name="wsgikit-tls")
        self.completed = 0
        self.failed = 0
        self.timed_out = 0
        self.plain_http = 0

    def start(self) -> None:
        self._parker.start()

    def stop(self) -> list[Any]:
        """Stop the thread; return the connections still handshaking (the caller closes them)."""
        return self._parker.stop()

    def __len__(self) -> int:
        return len(self._parker)

    def stats(self) -> dict[str, int]:
        return {
            "handshaking": len(self._parker),
            "handshakes": self.completed,
            "handshake_failures": self.failed,
            "handshake_timeouts": self.timed_out,
            "plain_http_on_tls": self.plain_http,
        }

    def add(self, conn: Any) -> bool:
        """Start ``conn``'s handshake once its first bytes come; False if stopped."""
        conn.sock.setblocking(False)
        return self._parker.park(conn, conn.accepted_at + self.timeout)

    def _ready(self, conn: Any) -> None:
        sock = conn.sock
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._wait(conn, writable=False)
            return
        except ssl.SSLWantWriteError:
            self._wait(conn, writable=True)
            return
        except ssl.SSLError as exc:
            if exc.reason == "HTTP_REQUEST":
                self._answer_plain_http(conn)
            else:
                self._fail(conn, exc)
            return
        except OSError as exc:
            self._fail(conn, exc)
            return
        self.completed += 1
        conn.tls_established()
        try:
            data = sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            data = None
        except OSError as exc:  # ssl.SSLError included
            log.debug("wsgikit: TLS read from %s failed after the handshake: %s",
                      conn.remote_addr, exc)
            conn.close()
            return
        if data == b"":
            conn.close()  # a handshake and nothing else (a probe, a health check)
            return
        if data:
            conn.prefeed(data)
        self._on_done(conn, bool(data))

    def _wait(self, conn: Any, writable: bool) -> None:
        if not self._parker.park(conn, conn.accepted_at + self.timeout, writable):
            conn.close()  # stopping

    def _expired(self, conn: Any) -> None:
        self.timed_out += 1
        self._record("timeout", conn, f"TLS handshake not done in {self.timeout:g} s; closed")
        conn.close()

    def _fail(self, conn: Any, exc: BaseException) -> None:
        self.failed += 1
        self._record("tls", conn, f"TLS handshake failed: {exc}")
        conn.close()

    def _record(self, kind: str, conn: Any, detail: str) -> None:
        """One client error: to the server's client-error log, else a DEBUG line."""
        detail = f"port {conn.remote_port}: {detail}"
        if self._record_error is not None:
            self._record_error(kind, conn.remote_addr, detail)
        else:
            log.debug("wsgikit: %s %s", conn.remote_addr, detail)

    def _answer_plain_http(self, conn: Any) -> None:
        """A plain HTTP request on the TLS port: 400 in plain text, as nginx does, then close."""
        self.plain_http += 1
        self._record("malformed", conn, "plain HTTP request on the TLS port (400)")
        sock = conn.sock
        data = error_response(400, PLAIN_HTTP_MESSAGE, server_header=self._server_header)
        # socket.socket's own methods act on the TCP connection under the TLS layer.
        try:
            socket.socket.send(sock, data)
            socket.socket.shutdown(sock, socket.SHUT_WR)
            socket.socket.recv(sock, 65536)  # the rest of the request: close() is then no reset
        except OSError:
            pass
        conn.close()


# -- certificates that rotate ------------------------------------------------------------------


class CertReloader:
    """Rebuilds the server's context from its files: on demand (SIGHUP) or when they change.

    ``install`` receives each new context (``Server.set_ssl_context``): new connections get the
    new certificate, open ones keep theirs. A file that cannot be used is refused with one ERROR
    line naming it, and the context in service stays.
    """

    def __init__(self, config: ServerConfig, install: Callable[[ssl.SSLContext], None]) -> None:
        self.config = config
        self._install = install
        self._lock = threading.Lock()
        self._stamp = self._stamps()
        self.reloads = 0

    def _files(self) -> list[str]:
        files = [*self.config.certfile, *self.config.keyfile]
        if self.config.ca_certs:
            files.append(self.config.ca_certs)
        return files

    def _stamps(self) -> tuple[tuple[str, float, int, int], ...]:
        stamps = []
        for path in self._files():
            try:
                st = os.stat(path)
                stamps.append((path, st.st_mtime, st.st_size, st.st_ino))
            except OSError:
                stamps.append((path, -1.0, -1, -1))
        return tuple(stamps)

    def reload(self, reason: str = "SIGHUP") -> bool:
        """Load the files again and install the new context; False (old one kept) on error."""
        with self._lock:
            self._stamp = self._stamps()
            try:
                context = make_ssl_context(self.config)
            except ConfigError as exc:
                log.error("wsgikit: %s: new TLS certificate refused, the current one stays in "
                          "service: %s", reason, exc)
                return False
            if context is None:  # pragma: no cover - only built when certfile is set
                return False
            self._install(context)
            self.reloads += 1
        log.info("wsgikit: %s: TLS certificate reloaded from %s", reason,
                 ", ".join(self.config.certfile))
        return True

    def changed(self) -> bool:
        """Whether a file changed (mtime, size or inode) since the last load."""
        return self._stamps() != self._stamp

    def watch(self, interval: float, stop: threading.Event) -> None:
        """Reload whenever the files change, checking every ``interval`` s until ``stop``."""
        while not stop.wait(interval):
            if self.changed():
                # a renewal tool may write the certificate and the key one after the other:
                # give it a moment so both are new before loading them
                if stop.wait(min(interval, 0.5)):
                    return
                self.reload("certificate files changed")

    def start_watching(self, interval: float) -> threading.Event:
        """Run :meth:`watch` in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        threading.Thread(target=self.watch, args=(interval, stop), name="wsgikit-tls-watch",
                         daemon=True).start()
        return stop


# -- the environ -------------------------------------------------------------------------------


def _dn(name: Any) -> str:
    """An RFC 4514-ish string from ``getpeercert()``'s nested tuples (``CN=x,O=y``)."""
    parts = []
    for rdn in name or ():
        for key, value in rdn:
            short = {
                "commonName": "CN",
                "organizationName": "O",
                "organizationalUnitName": "OU",
                "countryName": "C",
                "localityName": "L",
                "stateOrProvinceName": "ST",
                "emailAddress": "emailAddress",
            }.get(key, key)
            parts.append(f"{short}={value}")
    return ",".join(parts)


def client_cert_environ(sock: ssl.SSLSocket) -> dict[str, str]:
    """mod_ssl-style ``SSL_CLIENT_*`` keys: a verified certificate, or ``SSL_CLIENT_VERIFY=NONE``.

    A certificate that fails verification never gets this far (the handshake fails), so
    ``SSL_CLIENT_VERIFY`` is ``SUCCESS`` or ``NONE``.
    """
    try:
        cert = sock.getpeercert()
        der = sock.getpeercert(binary_form=True)
    except (ValueError, OSError):
        return {}
    if not cert or not der:
        return {"SSL_CLIENT_VERIFY": "NONE"}
    env = {
        "SSL_CLIENT_VERIFY": "SUCCESS",
        "SSL_CLIENT_S_DN": _dn(cert.get("subject")),
        "SSL_CLIENT_I_DN": _dn(cert.get("issuer")),
        "SSL_CLIENT_M_SERIAL": str(cert.get("serialNumber", "")),
        "SSL_CLIENT_V_START": str(cert.get("notBefore", "")),
        "SSL_CLIENT_V_END": str(cert.get("notAfter", "")),
        "SSL_CLIENT_CERT": ssl.DER_cert_to_PEM_cert(der),
    }
    subject: Any = cert.get("subject") or ()
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                env["SSL_CLIENT_S_DN_CN"] = str(value)
    return env


def tls_environ(sock: ssl.SSLSocket) -> dict[str, str]:
    """Everything TLS adds to one request's environ: scheme, HTTPS, protocol, cipher, client."""
    env = {"wsgi.url_scheme": "https", "HTTPS": "on"}
    version = sock.version()
    if version:
        env["SSL_PROTOCOL"] = version
    cipher = sock.cipher()
    if cipher:
        env["SSL_CIPHER"] = cipher[0]
    env["SSL_SESSION_RESUMED"] = "Resumed" if sock.session_reused else "Initial"
    env.update(client_cert_environ(sock))
    return env
