"""The server over real loopback sockets: keep-alive, pipelining, bodies, 100-continue, framing."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time

import pytest

from tests.conftest import require_module, require_program
from tests.support import apps
from tests.support.rawhttp import RawClient, exchange

pytestmark = pytest.mark.server


def test_keep_alive_reuses_one_connection_with_http_client(live_server):
    srv = live_server(apps.environ_json)
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    ports = set()
    for i in range(3):
        conn.request("GET", f"/n/{i}")
        response = conn.getresponse()
        data = json.loads(response.read())
        assert response.status == 200
        assert data["PATH_INFO"] == f"/n/{i}"
        ports.add(data["REMOTE_PORT"])
    conn.close()
    assert len(ports) == 1  # the same client socket served all three


def test_pipelined_requests_are_answered_in_order(live_server):
    recorder = apps.Recorder()
    srv = live_server(recorder)
    with RawClient(srv.host, srv.port) as client:
        client.send(
            b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        statuses = [client.read_response().status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert recorder.paths == ["GET /one", "POST /two", "GET /three"]
    deadline = time.monotonic() + 3  # close() runs just after the last bytes are sent
    while recorder.closes < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.closes == 3


def test_chunked_upload_is_decoded_for_the_app(live_server):
    srv = live_server(apps.echo)
    with RawClient(srv.host, srv.port) as client:
        client.send(
            b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
        response = client.read_response()
    assert response.status == 200
    assert response.body == b"hello world"


def test_request_trailers_reach_the_app_once_the_body_is_read(live_server):
    """``wsgikit.trailers``: absent while the body is unread, the trailer fields (names
    lower-cased) once it has been read to its end, an empty tuple for a chunked body without
    trailers, absent for a body with a Content-Length; on one keep-alive connection."""

    def app(environ, start_response):
        before = "wsgikit.trailers" in environ
        body = environ["wsgi.input"].read()
        after = environ.get("wsgikit.trailers")
        payload = json.dumps({"before": before, "body": body.decode(), "after": after}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(payload)))])
        return [payload]

    srv = live_server(app)
    with RawClient(srv.host, srv.port) as client:
        client.send(
            b"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other:  two words \r\n\r\n"
        )
        first = json.loads(client.read_response().body)
        client.send(b"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"2\r\nhi\r\n0\r\n\r\n")
        second = json.loads(client.read_response().body)
        client.send(b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        third = json.loads(client.read_response().body)
    assert first == {"before": False, "body": "hello",
                     "after": [["x-checksum", "abc"], ["x-other", "two words"]]}
    assert second == {"before": False, "body": "hi", "after": []}
    assert third == {"before": False, "body": "ok", "after": None}


def test_wsgi_input_iteration_and_readline(live_server):
    srv = live_server(apps.echo_lines)
    body = b"one\ntwo\nthree"
    response = exchange(
        srv.host, srv.port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    assert json.loads(response.body) == ["one\n", "two\n", "three"]


def test_100_continue_is_sent_when_the_app_reads(live_server):
    srv = live_server(apps.echo)
    with RawClient(srv.host, srv.port) as client:
        client.send(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = client.read_response(skip_interim=False)
        assert interim.status == 100
        client.send(b"data")
        response = client.read_response()
    assert response.status == 200
    assert response.body == b"data"


def test_no_100_continue_when_the_app_answers_without_reading(live_server):
    recorder = apps.Recorder()
    srv = live_server(recorder)
    with RawClient(srv.host, srv.port) as client:
        client.send(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        response = client.read_response(skip_interim=False)
        assert response.status == 200  # the final answer, no 100 first
        assert response.closes
        # a client that sends the body anyway: it must never be parsed as a request
        try:
            client.send(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass
        assert client.is_closed_by_server()
    assert recorder.paths == ["POST /upload"]


def test_unread_small_body_is_drained_not_parsed_as_a_request(live_server):
    recorder = apps.Recorder()
    srv = live_server(recorder)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with RawClient(srv.host, srv.port) as client:
        client.send(
            b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (len(smuggled), smuggled)
        )
        first = client.read_response()
        assert first.status == 200 and not first.closes
        client.send(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().status == 200
    assert recorder.paths == ["POST /first", "GET /second"]


def test_unread_body_over_drain_limit_closes_the_connection(live_server):
    srv = live_server(apps.no_read, max_drain_bytes=100)
    with RawClient(srv.host, srv.port) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
        response = client.read_response()
        assert response.status == 200
        assert response.closes
        assert client.is_closed_by_server()


@pytest.mark.parametrize("code", ["204", "304"])
def test_204_and_304_have_no_body_and_keep_the_connection(live_server, code):
    srv = live_server(apps.status_app)
    with RawClient(srv.host, srv.port) as client:
        client.send(f"GET /{code} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = client.read_response()
        assert response.status == int(code)
        assert response.header("transfer-encoding") is None
        client.send(b"GET /200 HTTP/1.1\r\nHost: x\r\n\r\n")
        after = client.read_response()  # the next response starts right where the first ended
        assert after.status == 200 and after.body == b"body"


def test_head_sends_headers_only(live_server):
    srv = live_server(apps.hello)
    with RawClient(srv.host, srv.port) as client:
        client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = client.read_response(method="HEAD")
        assert head.status == 200 and head.header("content-length") == "13"
        get = client.read_response()
        assert get.body == b"Hello, World!"


def test_http10_response_is_close_delimited_without_content_length(live_server):
    srv = live_server(apps.streaming)
    with RawClient(srv.host, srv.port) as client:
        client.send(b"GET / HTTP/1.0\r\n\r\n")
        response = client.read_response()
    assert response.body == b"".join(f"part {i}\n".encode() for i in range(5))
    assert response.header("transfer-encoding") is None


def test_streaming_http11_is_chunked(live_server):
    srv = live_server(apps.streaming)
    response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.header("transfer-encoding") == "chunked"
    assert response.complete and response.body.startswith(b"part 0\n")


def test_write_callable(live_server):
    srv = live_server(apps.write_callable)
    response = exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.body == b"written returned"


@pytest.mark.parametrize("content_length", [True, False])
def test_file_wrapper_sends_the_file(live_server, tmp_path, content_length):
    path = tmp_path / "data.bin"
    payload = os.urandom(300_000)
    path.write_bytes(payload)
    srv = live_server(apps.file_app(str(path), content_length=content_length))
    with RawClient(srv.host, srv.port) as client:
        for _ in range(2):  # the connection stays usable after a sendfile
            client.send(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
            response = client.read_response()
            assert response.status == 200 and response.body == payload


def test_environ_over_the_wire(live_server):
    srv = live_server(apps.environ_json)
    response = exchange(
        srv.host, srv.port,
        b"GET /a%20b/%C3%A9?q=%20x HTTP/1.1\r\nHost: example.com\r\nX-Auth-User: alice\r\n"
        b"X_Auth_User: mallory\r\nAccept: a\r\nAccept: b\r\n\r\n",
    )
    env = json.loads(response.body)
    assert env["PATH_INFO"] == "/a b/\u00c3\u00a9"  # latin-1 decoded bytes (PEP 3333)
    assert env["QUERY_STRING"] == "q=%20x"
    assert env["REQUEST_URI"] == env["RAW_URI"] == "/a%20b/%C3%A9?q=%20x"
    assert env["HTTP_X_AUTH_USER"] == "alice"
    assert env["HTTP_ACCEPT"] == "a, b"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["wsgi.input_terminated"] is True
    assert "PATH" not in env and "HOME" not in env  # never os.environ


def test_environ_extra_keys_reach_every_request_as_copies(live_server):
    seen = []

    def app(environ, start_response):
        seen.append(environ["example.token"])
        environ["example.token"] = "changed by the app"  # must not leak into the next request
        start_response("200 OK", [("Content-Length", "0")])
        return []

    srv = live_server(app, environ_extra={"example.token": "from the server"})
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    for _ in range(2):
        conn.request("GET", "/")
        assert conn.getresponse().read() == b""
    conn.close()
    assert seen == ["from the server", "from the server"]


def test_requests_library_round_trip(live_server):
    requests = require_module("requests")
    srv = live_server(apps.echo)
    with requests.Session() as session:
        for size in (0, 10, 100_000):
            r = session.post(srv.url + "/echo", data=b"z" * size, timeout=5)
            assert r.status_code == 200 and r.content == b"z" * size

        def gen():
            yield b"abc"
            yield b"def"

        r = session.post(srv.url + "/echo", data=gen(), timeout=5)  # chunked upload
        assert r.content == b"abcdef"


@pytest.mark.e2e
def test_curl_keep_alive_and_chunked_upload(live_server):
    curl = require_program("curl")
    srv = live_server(apps.echo)
    result = subprocess.run(
        [curl, "-sS", "--max-time", "10", "-H", "Transfer-Encoding: chunked",
         "--data-binary", "hello curl", srv.url + "/a", "--next", "-sS", srv.url + "/b",
         "-w", "%{num_connects}"],
        capture_output=True, timeout=20, check=True,
    )
    assert result.stdout == b"hello curl0"  # second request: 0 new connections (reused)


def test_unix_socket_listener(live_server, tmp_path):
    path = str(tmp_path / "s.sock")
    srv = live_server(apps.hello, binds=(f"unix:{path}",))
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"Hello, World!")
    srv.stop()
    assert not os.path.exists(path)


def test_on_response_hook_gets_a_record(live_server):
    records = []
    srv = live_server(apps.hello, on_response=records.append)
    exchange(srv.host, srv.port, b"GET /r?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n")
    for _ in range(100):
        if records:
            break
        time.sleep(0.01)
    (record,) = records
    assert (record.method, record.target, record.status, record.body_bytes) == (
        "GET", "/r?x=1", 200, 13,
    )
    assert ("user-agent", "t") in record.request_headers
    assert record.duration >= 0 and record.queue_wait >= 0
    assert "wsgikit.queue_wait" in record.environ


def test_every_bind_spec_is_served(live_server):
    srv = live_server(apps.hello, binds=("127.0.0.1:0", "127.0.0.1:0"))
    ports = [sock.getsockname()[1] for sock in srv.server.listeners]
    assert len(set(ports)) == 2
    for port in ports:
        assert exchange("127.0.0.1", port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


def test_pre_bound_sockets_are_adopted(live_server):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    srv = live_server(apps.hello, sockets=[sock])
    assert srv.port == sock.getsockname()[1]
    assert exchange(srv.host, srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


def test_max_connections_leaves_extra_clients_in_the_backlog(live_server):
    srv = live_server(apps.hello, max_connections=1, keepalive_timeout=0.5)
    with RawClient(srv.host, srv.port) as first:
        first.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert first.read_response().status == 200
        with RawClient(srv.host, srv.port, timeout=5) as second:
            second.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # served only once the first (idle) connection times out and frees its slot
            started = time.monotonic()
            assert second.read_response().status == 200
            assert time.monotonic() - started > 0.2


@pytest.mark.parametrize("shape", ["list", "generator"])
def test_large_bodies_arrive_whole_and_keep_the_connection(live_server, shape):
    """Blocks past the copy limit are sent after the head rather than joined to it."""
    block = bytes(range(256)) * 4096  # 1 MiB

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(2 * len(block)))])
        return [block, block] if shape == "list" else iter([block, block])

    srv = live_server(app)
    with RawClient(srv.host, srv.port, timeout=10) as client:
        for _ in range(2):
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = client.read_response()
            assert response.status == 200 and response.complete
            assert response.body == block + block


def test_a_large_block_past_content_length_is_cut_and_closes(live_server):
    block = b"x" * (256 * 1024)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "100000")])
        return iter([block])

    srv = live_server(app)
    with RawClient(srv.host, srv.port, timeout=10) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response()
        assert response.status == 200 and response.body == block[:100000]
        assert client.is_closed_by_server()


def test_a_body_larger_than_the_socket_buffers_waits_for_a_slow_reader(live_server):
    """The send path's EAGAIN-then-poll branch: the client reads only after a pause."""
    block = os.urandom(1 << 20)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(16 * len(block)))])
        return iter([block] * 16)

    srv = live_server(app)
    with RawClient(srv.host, srv.port, timeout=20) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)  # 16 MiB cannot all sit in the kernel's buffers meanwhile
        response = client.read_response()
    assert response.status == 200 and response.complete
    assert response.body == block * 16
