"""RequestIdMiddleware: X-Request-ID and traceparent, generated, propagated, validated."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pytest
import webtest

from middleware.request_id import RequestIdMiddleware, parse_traceparent
from wsgikit.validate import validator

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def show(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    keys = ("wsgikit.request_id", "wsgikit.traceparent", "wsgikit.trace_id",
            "wsgikit.parent_id", "HTTP_X_REQUEST_ID")
    body = json.dumps({k: environ.get(k) for k in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def client(**options: Any) -> webtest.TestApp:
    return webtest.TestApp(validator(RequestIdMiddleware(show, **options)))


def test_generated_when_absent() -> None:
    res = client().get("/")
    data = res.json
    assert re.fullmatch(r"[0-9a-f]{32}", data["wsgikit.request_id"])
    assert res.headers["X-Request-ID"] == data["wsgikit.request_id"] == data["HTTP_X_REQUEST_ID"]
    assert parse_traceparent(data["wsgikit.traceparent"]) is not None
    assert data["wsgikit.parent_id"] is None
    assert client().get("/").json["wsgikit.request_id"] != data["wsgikit.request_id"]


def test_valid_incoming_id_propagated() -> None:
    res = client().get("/", headers={"X-Request-ID": "abc-123_x.y"})
    assert res.json["wsgikit.request_id"] == "abc-123_x.y"
    assert res.headers["X-Request-ID"] == "abc-123_x.y"


@pytest.mark.parametrize("bad", ["a b", "x" * 201, "semi;colon", "new\tline", "<script>"])
def test_invalid_incoming_id_replaced(bad: str) -> None:
    res = client().get("/", headers={"X-Request-ID": bad})
    assert res.json["wsgikit.request_id"] != bad
    assert re.fullmatch(r"[0-9a-f]{32}", res.json["wsgikit.request_id"])


def test_untrusted_incoming_ignored_and_custom_generator() -> None:
    res = client(trust_incoming=False, generator=lambda: "gen-1").get(
        "/", headers={"X-Request-ID": "client-chosen"})
    assert res.json["wsgikit.request_id"] == "gen-1"


def test_custom_header_and_no_response_header() -> None:
    res = client(header="X-Correlation-ID", response_header=False).get(
        "/", headers={"X-Correlation-ID": "corr-9"})
    assert res.json["wsgikit.request_id"] == "corr-9"
    assert "X-Correlation-ID" not in res.headers


def test_traceparent_propagated_with_new_span() -> None:
    data = client().get("/", headers={"traceparent": TRACE}).json
    assert data["wsgikit.trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert data["wsgikit.parent_id"] == "00f067aa0ba902b7"
    trace_id, span, flags = parse_traceparent(data["wsgikit.traceparent"])  # type: ignore[misc]
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and flags == "01"
    assert span != "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("value", "valid"),
    [(TRACE, True), ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),
     ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
     ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
     ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", False),
     ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", False),
     ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", True),
     ("garbage", False), ("", False)],
)
def test_parse_traceparent(value: str, valid: bool) -> None:
    assert (parse_traceparent(value) is not None) is valid


def test_invalid_traceparent_starts_new_trace() -> None:
    data = client().get("/", headers={"traceparent": "garbage"}).json
    assert data["wsgikit.parent_id"] is None and len(data["wsgikit.trace_id"]) == 32


@pytest.mark.parametrize(
    ("options", "error"),
    [({"header": "X Bad"}, ValueError), ({"header": ""}, ValueError),
     ({"generator": "uuid"}, TypeError)],
)
def test_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        RequestIdMiddleware(show, **options)


def test_bad_generator_output_is_an_error() -> None:
    with pytest.raises(ValueError):
        client(generator=lambda: "bad id\r\n").get("/")
