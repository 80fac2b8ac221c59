"""``wsgikit serve`` through the real CLI: flags, env vars, --check/--print-config, bad input."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import stat
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.ops.conftest import ServeProcess, get_json, request, run_cli
from wsgikit.config import ServerConfig

pytestmark = [pytest.mark.server]


def test_serves_on_an_ephemeral_port_and_exits_0_on_sigterm(
    serve: Callable[..., ServeProcess],
) -> None:
    proc = serve("opsapp:app", "--port", "0", "--threads", "2")
    url = proc.wait_listening()[0]
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    doc = get_json(url, "/hello")
    assert doc["PATH_INFO"] == "/hello"
    assert doc["pid"] == proc.pid  # one process is the default
    assert proc.stop() == 0
    assert "Traceback" not in proc.output()


def test_factory_flag_and_call_syntax(serve: Callable[..., ServeProcess]) -> None:
    for args in (("opsapp:create_app", "--factory"), ("opsapp:create_app()",)):
        proc = serve(*args, "--port", "0")
        status, _, body = request(proc.url)
        assert (status, body) == (200, b"factory")
        assert proc.stop() == 0


BAD_INPUT = [
    ([], "no application given"),
    (["nosuchmodule:app"], "module 'nosuchmodule' not found"),
    (["opsapp:missing"], "has no attribute 'missing'"),
    (["opsapp:not_callable"], "is not callable"),
    (["opsapp:app", "--port", "eighty"], "port: expected an integer"),
    (["opsapp:app", "--threads", "0"], "threads must be positive"),
    (["opsapp:app", "--bind", "nonsense"], "expected host:port"),
    (["opsapp:app", "--max-body-bytes", "lots"], "max_body_bytes"),
    (["opsapp:app", "--trusted-proxy", "not-an-ip"], "not an IP address or CIDR"),
    (["opsapp:app", "--certfile", "/nonexistent/cert.pem"], "file not found"),
    (["opsapp:app", "--access-log-format", "%Z"], "unknown atom"),
    (["opsapp:app", "--workers", "-1"], "workers must be positive"),
    (["opsapp:app", "--reuse-port=yes"], "ignored explicit argument"),
    (["opsapp:app", "--bind", "unix:/proc/wsgikit-test.sock"], "cannot listen on unix:"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_exit_2(
    app_dir: Path, args: list[str], message: str
) -> None:
    result = run_cli(["serve", "--port", "0", *args], app_dir)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(error_lines) == 1, result.stderr


def test_port_in_use_is_exit_2(app_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli(["serve", "opsapp:app", "--port", str(port)], app_dir)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_permission_denied_is_exit_2(app_dir: Path) -> None:
    if os.geteuid() == 0:
        # root may bind anywhere; an unwritable access-log path still shows the error path
        target = ["--access-log", "/proc/wsgikit-access.log"]
        expected = "cannot open access log"
    else:
        target = ["--port", "80"]
        expected = "permission denied"
    result = run_cli(["serve", "opsapp:app", "--port", "0", *target], app_dir)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_flag_is_usage_error(app_dir: Path) -> None:
    result = run_cli(["serve", "opsapp:app", "--no-such-flag"], app_dir)
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_check_config(app_dir: Path) -> None:
    ok = run_cli(["serve", "opsapp:app", "--check-config", "--threads", "4"], app_dir)
    assert ok.returncode == 0, ok.stderr
    assert "configuration OK" in ok.stdout
    bad = run_cli(["serve", "opsapp:missing", "--check-config"], app_dir)
    assert bad.returncode == 2
    assert "has no attribute 'missing'" in bad.stderr


def _printed(result: Any) -> dict[str, str]:
    out = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" = ")
        out[name] = value
    return out


def test_print_config_env_and_flag_precedence(app_dir: Path) -> None:
    env = {"WSGIKIT_THREADS": "3", "WSGIKIT_BACKLOG": "77", "WSGIKIT_TRUSTED_PROXIES": "10.0.0.0/8"}
    result = run_cli(["serve", "opsapp:app", "--print-config", "--backlog", "99"], app_dir, env)
    assert result.returncode == 0, result.stderr
    printed = _printed(result)
    assert printed["threads"] == "3"  # from the environment
    assert printed["backlog"] == "99"  # the flag wins over WSGIKIT_BACKLOG
    assert printed["trusted_proxies"] == "10.0.0.0/8"
    assert set(printed) == set(ServerConfig.field_names())


def test_bad_env_value_is_exit_2(app_dir: Path) -> None:
    result = run_cli(["serve", "opsapp:app"], app_dir, {"WSGIKIT_PORT": "x"})
    assert result.returncode == 2
    assert "port: expected an integer" in result.stderr


def test_app_from_env(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("--port", "0", env={"WSGIKIT_APP": "opsapp:app", "WSGIKIT_THREADS": "2"})
    assert get_json(proc.url)["version"] == "v1"
    assert proc.stop() == 0


def _sample_value(f: dataclasses.Field) -> tuple[list[str], str]:  # type: ignore[type-arg]
    """A non-default value for one setting, as flag arguments and as --print-config shows it."""
    special = {
        "host": (["::1"], "::1"),
        "binds": (["127.0.0.1:9", "--bind", "unix:/tmp/x.sock"], "127.0.0.1:9,unix:/tmp/x.sock"),
        "unix_socket_perms": (["660"], str(0o660)),
        "url_scheme": (["https"], "https"),
        "server_header": (["me"], "me"),
        "access_log": (["-"], "-"),
        "access_log_format": (['%h "%r" %s'], '%h "%r" %s'),
        "log_level": (["debug"], "debug"),
        "trusted_proxies": (["10.0.0.0/8,192.168.0.1"], "10.0.0.0/8,192.168.0.1"),
        "trusted_proxy_headers": (["forwarded"], "forwarded"),
        "status_path": (["/healthz"], "/healthz"),
        "metrics_path": (["/metrics"], "/metrics"),
        "reload_include": (["*.py", "--reload-include", "*.ini"], "*.py,*.ini"),
        "reload_exclude": (["tests/*"], "tests/*"),
        "request_warn_after": (["2.5"], "2.5"),
        "drain_delay": (["4"], "4.0"),
        "cert_reqs": (["none"], "none"),
        "tls_profile": (["modern"], "modern"),
        "tls_reload_interval": (["2.5"], "2.5"),
        "max_field_bytes": (["4096"], "4096"),
    }
    if f.name in special:
        return special[f.name]
    if isinstance(f.default, bool):
        return [], "True"
    if isinstance(f.default, float):
        return [str(f.default + 1.5)], str(f.default + 1.5)
    if isinstance(f.default, int):
        return [str(f.default + 1)], str(f.default + 1)
    raise AssertionError(f"no sample value for {f.name}")


TLS_FIELDS = {"certfile", "keyfile", "keyfile_password", "ca_certs", "ciphers"}


def test_every_flag_reaches_the_config(app_dir: Path) -> None:
    """All settings at once through their flags, then through their WSGIKIT_* variables."""
    fields = [f for f in dataclasses.fields(ServerConfig) if f.name not in TLS_FIELDS]
    argv: list[str] = []
    env: dict[str, str] = {}
    expected: dict[str, str] = {}
    for f in fields:
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        values, shown = _sample_value(f)
        argv += [flag, *values]
        expected[f.name] = shown
        if values and f.name not in ("binds", "reload_include"):
            env["WSGIKIT_" + f.name.upper()] = values[0]
        elif not values:
            env["WSGIKIT_" + f.name.upper()] = "true"
    by_flags = run_cli(["serve", "opsapp:app", "--print-config", *argv], app_dir)
    assert by_flags.returncode == 0, by_flags.stderr
    printed = _printed(by_flags)
    assert {k: printed[k] for k in expected} == expected
    by_env = run_cli(["serve", "opsapp:app", "--print-config"], app_dir, env)
    assert by_env.returncode == 0, by_env.stderr
    printed = _printed(by_env)
    wanted = {k: v for k, v in expected.items() if "WSGIKIT_" + k.upper() in env}
    assert {k: printed[k] for k in wanted} == wanted
    assert len(wanted) == len(fields) - 2  # all but the two multi-value samples


def test_tls_flags_reach_the_config(app_dir: Path, tls_files: dict[str, str]) -> None:
    result = run_cli(
        ["serve", "opsapp:app", "--print-config", "--certfile", tls_files["cert"],
         "--keyfile", tls_files["key"], "--ca-certs", tls_files["ca"], "--cert-reqs",
         "optional", "--ciphers", "ECDHE+AESGCM"],
        app_dir,
    )
    assert result.returncode == 0, result.stderr
    printed = _printed(result)
    assert printed["ciphers"] == "ECDHE+AESGCM"
    assert printed["certfile"] == tls_files["cert"]
    assert printed["keyfile"] == tls_files["key"]
    assert printed["ca_certs"] == tls_files["ca"]
    assert printed["cert_reqs"] == "optional"


def test_help_lists_flags_with_env_names(app_dir: Path) -> None:
    result = run_cli(["serve", "--help"], app_dir)
    assert result.returncode == 0
    for name in ("--bind", "--workers", "--trusted-proxy", "WSGIKIT_GRACEFUL_TIMEOUT",
                 "--reload", "--no-reload", "--check-config", "--print-config"):
        assert name in result.stdout


def test_unix_socket_perms(serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    proc = serve("opsapp:app", "--bind", f"unix:{path}", "--unix-socket-perms", "660")
    assert proc.wait_listening() == [f"unix:{path}"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
    assert proc.stop() == 0
    assert not path.exists()  # removed on exit


def test_sigint_also_drains(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0")
    get_json(proc.url)
    proc.signal(signal.SIGINT)
    assert proc.proc.wait(20) == 0
    assert "SIGINT: draining" in proc.output()


def test_deployment_docs_list_every_setting() -> None:
    """docs/deployment.rst embeds the table generated from the flags' own metadata."""
    from wsgikit.config import settings_rst

    text = (Path(__file__).resolve().parents[2] / "docs" / "deployment.rst").read_text()
    assert settings_rst() in text, (
        "docs/deployment.rst is out of date: paste "
        "`python -c 'from wsgikit.config import settings_rst; print(settings_rst())'`"
    )


def test_sighup_does_not_kill_one_process(serve: Callable[..., ServeProcess]) -> None:
    proc = serve("opsapp:app", "--port", "0")
    url = proc.wait_listening()[0]
    proc.signal(signal.SIGHUP)
    time.sleep(0.3)
    assert get_json(url)["pid"] == proc.pid
    assert proc.stop() == 0
