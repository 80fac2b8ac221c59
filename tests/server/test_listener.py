"""One binder (``wsgikit.server.listener``): ``make_server()``, ``simple_server.make_server()``
and ``wsgikit serve`` get the same sockets, with the same options and the same errors."""

from __future__ import annotations

import http.client
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import require_ipv6_loopback
from wsgikit import simple_server
from wsgikit.config import BindSpec, ServerConfig
from wsgikit.ops import run
from wsgikit.server import listener, make_server
from wsgikit.server.listener import ListenError, close_listeners

pytestmark = [pytest.mark.server]


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def _options(sock: socket.socket) -> dict[str, int]:
    return {
        "v6only": sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY),
        "reuseaddr": sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR),
        "accepting": sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
    }


def test_make_server_on_an_ipv6_literal_gets_the_cli_socket_options() -> None:
    """Before: make_server picked the family from ``":" in host`` and left IPV6_V6ONLY at the
    system default; the CLI set it. Now both are IPv6-only, and the server answers on ::1."""
    require_ipv6_loopback()
    cli = run.open_listeners(ServerConfig(binds=("[::1]:0",)), environ={})
    server = make_server(hello, host="::1", port=0)
    try:
        sock = server.listeners[0]
        assert sock.family == socket.AF_INET6
        assert _options(sock) == _options(cli[0].sock) == {
            "v6only": 1, "reuseaddr": 1, "accepting": 1}
        import threading

        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        conn = http.client.HTTPConnection("::1", server.server_address[1], timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"hello")
        finally:
            conn.close()
        server.shutdown()
        thread.join(5)
    finally:
        server.server_close()
        close_listeners(cli)


def test_every_path_binds_through_the_one_binder(monkeypatch: pytest.MonkeyPatch) -> None:
    """make_server(), simple_server.make_server() and the CLI's open_listeners() all reach
    ``listener._bind_tcp``: replacing it is seen by all three (there is no second binder)."""
    seen: list[tuple[str, BindSpec]] = []
    real = listener._bind_tcp

    def spy(spec: BindSpec, config: ServerConfig) -> socket.socket:
        seen.append((who, spec))
        return real(spec, config)

    monkeypatch.setattr(listener, "_bind_tcp", spy)
    who = "make_server"
    make_server(hello, host="127.0.0.1", port=0).server_close()
    who = "simple_server"
    simple_server.make_server("127.0.0.1", 0, hello).server_close()
    who = "cli"
    close_listeners(run.open_listeners(ServerConfig(binds=("127.0.0.1:0",)), environ={}))
    assert seen == [(name, BindSpec("tcp", host="127.0.0.1", port=0))
                    for name in ("make_server", "simple_server", "cli")]
    from wsgikit.server import server as server_module

    assert run.listener.bind_listeners is server_module.bind_listeners is listener.bind_listeners


def test_make_server_on_a_taken_port_says_so_as_the_cli_does() -> None:
    """The binder's error (ListenError naming address and reason) now reaches Python users."""
    taken = make_server(hello, host="127.0.0.1", port=0)
    try:
        port = taken.server_address[1]
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}: "
                                              "address already in use"):
            make_server(hello, host="127.0.0.1", port=port)
    finally:
        taken.server_close()


def test_make_server_unix_socket_mode_and_cleanup(tmp_path: Path) -> None:
    """unix:/PATH from make_server: created with unix_socket_perms (under a umask), refused over
    a regular file, removed by server_close(); the same code as ``--bind unix:``."""
    path = tmp_path / "app.sock"
    server = make_server(hello, binds=(f"unix:{path}",), unix_socket_perms=0o600)
    try:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    finally:
        server.server_close()
    assert not path.exists()
    path.write_text("data")
    with pytest.raises(ListenError, match="exists and is not a socket"):
        make_server(hello, binds=(f"unix:{path}",))
    assert path.read_text() == "data"


def test_given_listeners_are_served_and_left_to_their_owner(tmp_path: Path) -> None:
    """Server(sockets=[Listener...]) (what wsgikit serve passes) serves them; server_close()
    closes the sockets but leaves removing a Unix socket file to whoever bound it."""
    path = tmp_path / "given.sock"
    bound = listener.bind_listeners(ServerConfig(binds=(f"unix:{path}",)))
    server = make_server(hello, sockets=bound)
    try:
        assert server.listeners == [bound[0].sock]
    finally:
        server.server_close()
    assert path.exists()
    close_listeners(bound)
    assert not path.exists()


def test_a_name_with_both_families_binds_ipv4_as_wsgiref_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """localhost resolving to ::1 first (common) must still answer on 127.0.0.1."""
    real = socket.getaddrinfo

    def six_first(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (b"localhost", "localhost"):
            v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))
            return [v6, *real("127.0.0.1", port, *args, **kwargs)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", six_first)
    [bound] = listener.bind_listeners(ServerConfig(host="localhost", port=0))
    try:
        assert bound.sock.family == socket.AF_INET
        assert bound.sock.getsockname()[0] == "127.0.0.1"
    finally:
        close_listeners([bound])
