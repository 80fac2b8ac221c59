"""sslyze scans the running server: Mozilla-compliant, no compression, no renegotiation DoS,
session resumption by ticket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_module
from tests.support import apps
from tests.support.certs import make_ca_and_leaf
from wsgikit.config import ServerConfig
from wsgikit.server.tls import make_ssl_context

pytestmark = pytest.mark.server


def _scan(host: str, port: int, ca_file: str) -> Any:
    sslyze = require_module("sslyze")
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    )

    request = sslyze.ServerScanRequest(
        server_location=sslyze.ServerNetworkLocation(hostname="localhost", port=port,
                                                     ip_address=host),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER
        | {sslyze.ScanCommand.SESSION_RESUMPTION},
        scan_commands_extra_arguments=sslyze.ScanCommandsExtraArguments(
            certificate_info=sslyze.CertificateInfoExtraArgument(custom_ca_file=Path(ca_file))
        ),
    )
    scanner = sslyze.Scanner()
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    assert result.scan_status == sslyze.ServerScanStatusEnum.COMPLETED, result
    return result


def _issues(result: Any, profile: str) -> dict[str, str]:
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    config = MozillaTlsConfiguration.get(TlsConfigurationEnum(profile))
    try:
        check_server_against_tls_configuration(result, config)
    except ServerNotCompliantWithTlsConfiguration as exc:
        return dict(exc.issues)
    return {}


# sslyze's bundled trust stores hold an old root with a negative serial number
@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_sslyze_finds_the_server_compliant_with_its_mozilla_profile(
    live_server, tmp_path: Path, profile: str
) -> None:
    files = make_ca_and_leaf(tmp_path, "localhost", "127.0.0.1")
    options = {} if profile == "intermediate" else {"tls_profile": profile}  # the default
    config = ServerConfig(certfile=files["cert"], keyfile=files["key"], **options)
    srv = live_server(apps.hello, ssl_context=make_ssl_context(config))
    result = _scan(srv.host, srv.port, files["ca"])
    assert _issues(result, profile) == {}
    if profile == "intermediate":  # the stricter profile is checked too: TLS 1.2 is on
        assert "tls_versions" in _issues(result, "modern")
    attempts = result.scan_result
    assert attempts.tls_compression.result.supports_compression is False
    renegotiation = attempts.session_renegotiation.result
    assert renegotiation.is_vulnerable_to_client_renegotiation_dos is False
    curves = {c.name for c in attempts.elliptic_curves.result.supported_curves}
    assert curves == {"X25519", "secp256r1", "secp384r1"}  # sslyze's name for prime256v1
    if profile == "intermediate":  # sslyze tries resumption over TLS 1.2
        # (session ids too, but its probes close without close_notify, which makes OpenSSL
        # drop the session; tests/server/test_tls.py resumes by id after an HTTP exchange)
        resumption = attempts.session_resumption.result
        assert resumption.tls_ticket_resumption_result.name == "FULLY_SUPPORTED"
