"""TLS through the standard library: an ``SSLContext`` from ``ServerConfig`` and client-certificate
information for the environ, named as mod_ssl and cheroot name it (``SSL_CLIENT_S_DN``, ...).

Errors are ``TLSConfigError`` with one line naming the file and the problem, so the CLI can print
it and exit 2.
"""

from __future__ import annotations

import os
import ssl
from typing import Any, Optional

from wsgikit.config import ConfigError, ServerConfig

__all__ = ["TLSConfigError", "make_ssl_context", "client_cert_environ", "tls_environ"]

_CERT_REQS = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}


class TLSConfigError(ConfigError):
    """A certificate, key or CA file cannot be used; the message names it."""


def make_ssl_context(config: ServerConfig) -> Optional[ssl.SSLContext]:
    """A server ``SSLContext`` when ``config.certfile`` is set, else ``None``.

    TLS 1.2 is the floor (the stdlib default ciphers); HTTP/1.1 is offered by ALPN so clients
    that ask get a definite answer.
    """
    if not config.certfile:
        return None
    for what, path in (("certfile", config.certfile), ("keyfile", config.keyfile),
                       ("ca_certs", config.ca_certs)):
        if path and not os.path.isfile(path):
            raise TLSConfigError(f"TLS: {what} file not found: {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    password = config.keyfile_password
    try:
        context.load_cert_chain(config.certfile, config.keyfile, password=password)
    except FileNotFoundError as exc:
        raise TLSConfigError(f"TLS: file not found: {exc.filename}") from None
    except PermissionError as exc:
        raise TLSConfigError(f"TLS: permission denied reading {exc.filename}") from None
    except ssl.SSLError as exc:
        what = "key file password is wrong or" if password else "key file is encrypted or"
        raise TLSConfigError(
            f"TLS: cannot load certfile {config.certfile!r} / keyfile "
            f"{config.keyfile or config.certfile!r}: {what} does not match the certificate "
            f"({exc.reason or exc})"
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
    """mod_ssl-style ``SSL_CLIENT_*`` keys for a verified client certificate (empty if none)."""
    try:
        cert = sock.getpeercert()
        der = sock.getpeercert(binary_form=True)
    except (ValueError, OSError):
        return {}
    if not cert or not der:
        return {}
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
    env.update(client_cert_environ(sock))
    return env
