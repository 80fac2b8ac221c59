"""The fuzz harnesses (fuzz/) over their committed seed corpora, and the findings they made.

``make fuzz`` runs the harnesses under atheris for a million inputs each; here each seed runs
once through the same ``test_one_input`` (no atheris needed), so a regression the seeds reach
fails the normal suite. The ``finding-*`` inputs are what the fuzzer once flagged.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from fuzz import TARGETS
from fuzz.parser_target import Finding
from fuzz.seeds import CORPUS


@pytest.mark.parametrize("target", TARGETS)
def test_every_seed_passes_its_harness(target: str) -> None:
    module = importlib.import_module(f"fuzz.{target}_target")
    files = sorted((CORPUS / target).iterdir())
    assert len(files) >= 15, f"fuzz/corpus/{target} is nearly empty"
    for path in files:
        module.test_one_input(path.read_bytes())


def test_the_parser_harness_reports_a_broken_invariant() -> None:
    """The harness can fail: events that differ with the cut are a finding."""
    from fuzz import parser_target

    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    whole = parser_target.run([request], eof=True)
    assert [e[0] for e in whole] == ["head", "body", "closed"]
    with pytest.raises(Finding):
        parser_target.same_events(whole, whole[:1])


def test_the_chunked_harness_decodes_its_own_valid_bodies() -> None:
    from fuzz.chunked_target import encode

    encoded, data = encode(bytes([5, 3, 17, 6, 0, 0, 1, 0x10]))
    assert data and encoded.endswith(b"\r\n\r\n")
    assert b"0005" in encoded.lower() or b"5" in encoded


def test_corpus_folder_exists_for_every_target() -> None:
    assert {p.name for p in Path(CORPUS).iterdir() if p.is_dir()} >= set(TARGETS)


def test_the_gateway_harness_reads_responses_back_strictly() -> None:
    """Valid responses (the last one cut short) pass; an interim status as the answer and bytes
    after a last response are findings."""
    from fuzz.gateway_target import check_responses

    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    check_responses(ok + ok, ["GET", "GET"])
    check_responses(ok + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", ["GET", "GET"])
    check_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", ["HEAD"])
    with pytest.raises(Finding):
        check_responses(b"HTTP/1.1 100 Continue\r\n\r\n", ["GET"])
    with pytest.raises(Finding):
        check_responses(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
                        + ok, ["GET", "GET"])
