"""Gateway over in-memory fakes: start_response rules, write(), wsgi.input, errors, close()."""

from __future__ import annotations

import logging
import sys

import pytest

from wsgikit.http11 import ContentTooLarge
from wsgikit.server.gateway import BodyInput, ClientDisconnected, Gateway


class Wire:
    """Collects what the gateway sends; can fail like a vanished client."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[bytes] = []
        self.fail_after = fail_after

    def send(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise BrokenPipeError("client went away")
        self.sent.append(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.sent)


def body_source(*chunks: bytes):
    parts = list(chunks)

    def pull() -> bytes:
        return parts.pop(0) if parts else b""

    return pull


def run(app, *, method="GET", version="1.1", body=(), keep_alive=True, wire=None, sendfile=None,
        sendv=None):
    wire = wire or Wire()
    continues = []
    wsgi_input = BodyInput(body_source(*body), lambda: continues.append(1))
    environ = {"wsgi.input": wsgi_input, "PATH_INFO": "/"}
    gateway = Gateway(app, environ, method=method, http_version=version, send=wire.send,
                      keep_alive=lambda: keep_alive, sendfile=sendfile, sendv=sendv)
    outcome = gateway.run()
    return outcome, wire, continues


def simple(status="200 OK", headers=None, body=(b"hi",)):
    def app(environ, start_response):
        start_response(status, headers if headers is not None else [("Content-Length", "2")])
        return list(body)

    return app


def test_small_list_body_goes_out_in_one_send_with_keep_alive():
    outcome, wire, _ = run(simple())
    assert len(wire.sent) == 1
    assert wire.data.startswith(b"HTTP/1.1 200 OK\r\n") and wire.data.endswith(b"\r\n\r\nhi")
    assert outcome.keep_alive and outcome.status == 200 and outcome.body_bytes == 2


def test_no_content_length_on_http11_is_chunked():
    outcome, wire, _ = run(simple(headers=[], body=(b"ab", b"cd")))
    assert b"transfer-encoding: chunked" in wire.data.lower()
    assert wire.data.endswith(b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
    assert outcome.keep_alive


def test_head_is_not_sent_before_the_first_non_empty_chunk():
    sent_before = []
    wire = Wire()

    def app(environ, start_response):
        start_response("200 OK", [])
        yield b""
        sent_before.append(len(wire.sent))
        yield b"x"

    run(app, wire=wire)
    assert sent_before == [0]


def test_second_start_response_needs_exc_info():
    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("500 Oops", [])
        return [b""]

    outcome, wire, _ = run(app)
    assert outcome.status == 500 and not outcome.keep_alive
    assert wire.data.startswith(b"HTTP/1.1 500 ")


def test_exc_info_before_headers_replaces_the_status():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        try:
            raise ValueError("x")
        except ValueError:
            start_response("502 Bad Gateway", [("Content-Length", "3")], sys.exc_info())
        return [b"bad"]

    outcome, wire, _ = run(app)
    assert outcome.status == 502 and wire.data.endswith(b"bad")


def test_exc_info_after_headers_reraises_and_closes():
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"started")
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Oops", [], sys.exc_info())
        return [b"never"]

    outcome, wire, _ = run(app)
    assert wire.data.count(b"HTTP/1.1") == 1  # never a second status line
    assert not outcome.keep_alive and isinstance(outcome.error, ValueError)


def test_app_error_before_headers_is_500_without_details(caplog):
    def app(environ, start_response):
        raise KeyError("secret")

    with caplog.at_level(logging.ERROR):
        outcome, wire, _ = run(app)
    assert wire.data.startswith(b"HTTP/1.1 500 ") and b"secret" not in wire.data
    assert b"connection: close" in wire.data.lower()
    assert any("secret" in (r.exc_text or "") for r in caplog.records)


@pytest.mark.parametrize(
    "headers",
    [[("X-A", "a\r\nInjected: 1")], [("Connection", "close")], [("Keep-Alive", "5")],
     [("Bad Name", "v")]],
)
def test_invalid_or_hop_by_hop_headers_are_500(headers, caplog):
    outcome, wire, _ = run(simple(headers=headers))
    assert outcome.status == 500
    assert b"Injected" not in wire.data and b"Keep-Alive: 5" not in wire.data
    assert caplog.records


def test_body_before_start_response_is_500():
    def app(environ, start_response):
        return [b"x"]

    outcome, _, _ = run(app)
    assert outcome.status == 500


def test_str_body_is_a_500():
    outcome, _, _ = run(simple(headers=[], body=("text",)))
    assert outcome.status == 500


def test_close_called_once_on_success_error_and_disconnect():
    class Body:
        def __init__(self, fail=False):
            self.closes = 0
            self.fail = fail

        def __iter__(self):
            yield b"a"
            if self.fail:
                raise RuntimeError("mid")
            yield b"b"

        def close(self):
            self.closes += 1

    for fail, wire in ((False, Wire()), (True, Wire()), (False, Wire(fail_after=0))):
        body = Body(fail)

        def app(environ, start_response, body=body):
            start_response("200 OK", [])
            return body

        run(app, wire=wire)
        assert body.closes == 1


def test_disconnect_while_sending_is_not_an_app_error(caplog):
    outcome, _, _ = run(simple(), wire=Wire(fail_after=0))
    assert isinstance(outcome.error, ClientDisconnected) and not outcome.keep_alive
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_fewer_bytes_than_content_length_closes():
    outcome, _, _ = run(simple(headers=[("Content-Length", "10")], body=(b"short",)))
    assert not outcome.keep_alive


def test_request_keep_alive_false_means_connection_close():
    outcome, wire, _ = run(simple(), keep_alive=False)
    assert b"connection: close" in wire.data.lower() and not outcome.keep_alive


def test_write_callable_sends_immediately():
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Length", "6")])
        write(b"abc")
        return [b"def"]

    outcome, wire, _ = run(app)
    assert len(wire.sent) >= 2 and wire.data.endswith(b"abcdef") and outcome.keep_alive


def test_head_request_sends_no_body():
    outcome, wire, _ = run(simple(), method="HEAD")
    assert wire.data.endswith(b"\r\n\r\n") and b"hi" not in wire.data


def test_a_large_list_body_goes_out_with_its_head_in_one_vectored_send():
    block = bytes(range(256)) * 256  # 64 KiB: past the size that is copied next to the head
    calls: list[list[bytes]] = []
    outcome, wire, _ = run(simple(headers=[("Content-Length", str(2 * len(block)))],
                                  body=(block, block)), sendv=calls.append)
    assert len(calls) == 1 and wire.sent == []
    head, first, second = calls[0]
    assert first is block and second is block  # sent as they are, never copied
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert outcome.keep_alive and outcome.body_bytes == 2 * len(block)


def test_a_streamed_large_first_block_goes_with_the_head_later_ones_alone():
    block = bytes(range(256)) * 256

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(2 * len(block)))])
        yield block
        yield block

    calls: list[list[bytes]] = []
    outcome, wire, _ = run(app, sendv=calls.append)
    assert len(calls) == 1 and calls[0][1] is block
    assert wire.sent == [block]
    assert outcome.keep_alive and outcome.body_bytes == 2 * len(block)


def test_a_small_list_body_is_joined_even_with_sendv():
    calls: list[list[bytes]] = []
    outcome, wire, _ = run(simple(), sendv=calls.append)
    assert calls == [] and len(wire.sent) == 1 and wire.sent[0].endswith(b"\r\n\r\nhi")


def test_without_sendv_the_head_and_a_large_block_are_two_sends():
    block = b"x" * 100_000  # a list body this large is not coalesced with its head
    outcome, wire, _ = run(simple(headers=[("Content-Length", "100000")], body=(block,)))
    assert len(wire.sent) == 2 and wire.sent[1] is block
    assert outcome.keep_alive


# -- wsgi.input ----------------------------------------------------------------------------


def make_input(*chunks: bytes) -> tuple[BodyInput, list[int]]:
    firsts: list[int] = []
    return BodyInput(body_source(*chunks), lambda: firsts.append(1)), firsts


def test_input_read_variants():
    inp, firsts = make_input(b"line one\nline", b" two\nrest")
    assert firsts == []  # nothing read yet: no 100 Continue
    assert inp.read(0) == b"" and firsts == []
    assert inp.readline() == b"line one\n"
    assert firsts == [1]
    assert inp.readline(4) == b"line"
    assert inp.read(5) == b" two\n"
    assert inp.read() == b"rest"
    assert inp.read() == b"" and inp.readline() == b""
    assert inp.at_eof and firsts == [1]


@pytest.mark.parametrize("seed", range(40))
def test_input_reads_in_any_pattern_return_the_body_in_order(seed: int) -> None:
    """Mixed read(n), read(), readline() over chunks of any size give back the exact body."""
    import random

    rng = random.Random(seed)
    body = bytes(rng.choice(b"ab\n") for _ in range(rng.randrange(0, 3000)))
    count = min(rng.randrange(0, 12), max(len(body) - 1, 0))
    cuts = sorted(rng.sample(range(1, max(len(body), 2)), k=count))
    chunks = [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)]) if body[i:j]]
    inp, _ = make_input(*chunks)
    got = b""
    for _ in range(200):
        how = rng.randrange(4)
        if how == 0:
            part = inp.read(rng.randrange(0, 700))
        elif how == 1:
            part = inp.readline(rng.choice([-1, rng.randrange(0, 50)]))
        elif how == 2:
            part = inp.read(None if rng.random() < 0.5 else -1)
        else:
            part = inp.readline()
        got += part
        if len(got) == len(body):
            break
    got += inp.read()
    assert got == body


def test_input_readlines_and_iteration():
    inp, _ = make_input(b"a\nb", b"\nc")
    assert inp.readlines() == [b"a\n", b"b\n", b"c"]
    inp, _ = make_input(b"x\ny\n")
    assert list(inp) == [b"x\n", b"y\n"]


def test_input_error_is_remembered():
    def pull() -> bytes:
        raise ContentTooLarge("body too large")

    inp = BodyInput(pull)
    with pytest.raises(ContentTooLarge):
        inp.read()
    with pytest.raises(ContentTooLarge):
        inp.read()  # an app that swallowed it cannot read past it
    assert isinstance(inp.error, ContentTooLarge)


def test_input_error_answered_with_its_status():
    def pull() -> bytes:
        raise ContentTooLarge("body too large")

    def app(environ, start_response):
        try:
            environ["wsgi.input"].read()
        except Exception:
            pass
        raise RuntimeError("app gave up")

    wire = Wire()
    environ = {"wsgi.input": BodyInput(pull), "PATH_INFO": "/"}
    outcome = Gateway(app, environ, method="POST", http_version="1.1", send=wire.send,
                      keep_alive=lambda: True).run()
    assert outcome.status == 413 and wire.data.startswith(b"HTTP/1.1 413 ")


def test_file_wrapper_uses_sendfile(tmp_path):
    from wsgikit.util import FileWrapper

    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    calls = []

    def sendfile(file, offset, count):
        calls.append((offset, count))
        return count

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "10")])
        return FileWrapper(open(path, "rb"))

    outcome, wire, _ = run(app, sendfile=sendfile)
    assert calls == [(0, 10)] and outcome.keep_alive and outcome.body_bytes == 10
    outcome, wire, _ = run(app)  # no sendfile (TLS): streamed through the writer
    assert wire.data.endswith(b"0123456789")


@pytest.mark.parametrize(
    ("headers", "version", "file_size", "keep_alive", "count", "closes"),
    [
        ([("Content-Length", "10")], "1.1", 10, True, 10, False),  # whole file, reusable
        ([("Content-Length", "6")], "1.1", 10, True, 6, False),  # the head's length, no more
        ([("Content-Length", "10")], "1.1", 4, True, 4, True),  # file shorter than promised
        ([("Content-Length", "10")], "1.1", 10, False, 10, True),  # the request said close
        ([], "1.0", 10, True, 10, True),  # HTTP/1.0, no length: close-delimited
    ],
)
def test_sendfile_keep_alive_is_what_the_writer_decided(
    tmp_path, caplog, headers, version, file_size, keep_alive, count, closes
):
    """After a sendfile the connection is reused exactly when the writer says so: its head's
    framing and Connection field, and every promised byte sent."""
    from wsgikit.util import FileWrapper

    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * file_size)
    calls = []

    def sendfile(file, offset, count):
        calls.append(count)
        return min(count, file_size)

    def app(environ, start_response):
        start_response("200 OK", list(headers))
        return FileWrapper(open(path, "rb"))

    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        outcome, wire, _ = run(app, version=version, keep_alive=keep_alive, sendfile=sendfile)
    assert calls == [count]
    assert outcome.body_bytes == count
    assert outcome.keep_alive is not closes
    assert (b"Connection: close\r\n" in wire.data) is (not keep_alive or version == "1.0")
    short = file_size < int(dict(headers).get("Content-Length", file_size))
    assert ("less than its Content-Length" in caplog.text) is short
