"""The metrics store and its Prometheus text, read back with prometheus_client's own parser."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest
from webtest import TestApp

from wsgikit.ops.metrics import (
    BUCKETS,
    CONTENT_TYPE,
    MAX_SLOTS,
    MetricsEndpoint,
    MetricsStore,
    Recorder,
)


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    from tests.conftest import require_module

    require_module("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def record(method: str = "GET", status: int = 200, duration: float = 0.003, body: int = 5,
           environ: Any = None) -> Any:
    return SimpleNamespace(method=method, status=status, duration=duration, body_bytes=body,
                           environ=environ if environ is not None else {})


def test_responses_are_counted_by_method_status_class_and_duration() -> None:
    recorder = Recorder(MetricsStore())
    recorder.on_response(record())
    recorder.on_response(record("POST", 201, 0.2, 7, {"CONTENT_LENGTH": "11"}))
    recorder.on_response(record("BREW", 418, 30.0, 0))
    m = parse(recorder.store.render())
    requests = m["wsgikit_requests_total"]
    assert requests[(("method", "GET"), ("status", "2xx"))] == 1
    assert requests[(("method", "POST"), ("status", "2xx"))] == 1
    assert requests[(("method", "other"), ("status", "4xx"))] == 1
    assert sum(requests.values()) == 3
    buckets = m["wsgikit_request_duration_seconds_bucket"]
    assert buckets[(("le", "0.005"),)] == 1 and buckets[(("le", "0.25"),)] == 2
    assert buckets[(("le", str(BUCKETS[-1])),)] == 2 and buckets[(("le", "+Inf"),)] == 3
    assert m["wsgikit_request_duration_seconds_count"][()] == 3
    assert m["wsgikit_request_duration_seconds_sum"][()] == pytest.approx(30.203)
    assert m["wsgikit_response_body_bytes_total"][()] == 12
    assert m["wsgikit_request_body_bytes_total"][()] == 11


def test_bytes_in_come_from_what_wsgi_input_received() -> None:
    recorder = Recorder(MetricsStore())
    body = SimpleNamespace(received=300)
    recorder.on_response(record(environ={"wsgi.input": body, "CONTENT_LENGTH": "5"}))
    assert parse(recorder.store.render())["wsgikit_request_body_bytes_total"][()] == 300


def test_published_stats_become_gauges_and_counters() -> None:
    recorder = Recorder(MetricsStore())
    recorder.stats_source = lambda: {"open_connections": 4, "busy_workers": 2, "queued": 1,
                                     "rejected": 9, "client_malformed": 3, "client_tls": 1}
    recorder.publish()
    m = parse(recorder.store.render())
    assert m["wsgikit_open_connections"][()] == 4
    assert m["wsgikit_busy_workers"][()] == 2
    assert m["wsgikit_queue_depth"][()] == 1
    assert m["wsgikit_backpressure_rejections_total"][()] == 9
    assert m["wsgikit_client_errors_total"][(("kind", "malformed"),)] == 3
    assert m["wsgikit_client_errors_total"][(("kind", "tls"),)] == 1


def test_slots_sum_and_a_replacement_continues_its_predecessors_counters() -> None:
    store = MetricsStore(3)
    first, second = Recorder(store, 1), Recorder(store, 2)
    first.stats_source = lambda: {"rejected": 5, "open_connections": 3}
    second.stats_source = lambda: {"rejected": 1, "open_connections": 2}
    for r in (first, second):
        r.on_response(record())
        r.publish()
    m = parse(store.render())
    assert m["wsgikit_backpressure_rejections_total"][()] == 6
    assert m["wsgikit_open_connections"][()] == 5
    store.clear_gauges(1)  # worker 1 is gone; a new process takes its slot
    Recorder(store, 0).worker_restarted()
    replacement = Recorder(store, 1)
    replacement.stats_source = lambda: {"rejected": 2, "open_connections": 1}
    replacement.publish()
    replacement.on_response(record())
    m = parse(store.render())
    assert m["wsgikit_backpressure_rejections_total"][()] == 5 + 2 + 1  # never goes back
    assert m["wsgikit_open_connections"][()] == 1 + 2
    assert sum(m["wsgikit_requests_total"].values()) == 3
    assert m["wsgikit_worker_restarts_total"][()] == 1


def test_the_store_is_shared_with_forked_children() -> None:
    store = MetricsStore(2)
    pid = os.fork()
    if pid == 0:  # the child writes its slot and leaves at once
        try:
            Recorder(store, 1).on_response(record())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert sum(parse(store.render())["wsgikit_requests_total"].values()) == 1


def test_slot_count_is_bounded() -> None:
    with pytest.raises(ValueError):
        MetricsStore(0)
    with pytest.raises(ValueError):
        MetricsStore(MAX_SLOTS + 1)


def test_endpoint_answers_before_the_app_and_is_read_only() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    recorder = Recorder(MetricsStore())
    recorder.on_response(record())
    client = TestApp(MetricsEndpoint(app, path="/metrics", recorder=recorder))
    resp = client.get("/metrics")
    assert resp.headers["Content-Type"] == CONTENT_TYPE
    assert resp.headers["Cache-Control"] == "no-store"
    assert sum(parse(resp.text)["wsgikit_requests_total"].values()) == 1
    assert client.head("/metrics").body == b""
    assert client.post("/metrics", status=405).headers["Allow"] == "GET, HEAD"
    assert client.get("/other").text == "app"
