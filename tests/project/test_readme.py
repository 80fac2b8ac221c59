"""README.rst's Python examples run as written (the blocks that do not start a server for ever)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import webtest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", re.M)


def python_blocks() -> list[str]:
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    blocks = [re.sub(r"^    ", "", b, flags=re.M) for b in BLOCK.findall(text)]
    assert len(blocks) >= 6, "README.rst lost its Python examples"
    return blocks


BLOCKS = python_blocks()


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    source = BLOCKS[index]
    if "wsgikit.serve(" in source:
        # Runs for ever: execute everything else and check the call it would make.
        calls: list[tuple[Any, dict[str, Any]]] = []
        import wsgikit

        monkeypatch.setattr(wsgikit, "serve", lambda app, **kw: calls.append((app, kw)))
        exec(compile(source, f"README.rst block {index}", "exec"), {})
        assert calls and calls[0][1]["port"] == 8000
        response = webtest.TestApp(calls[0][0]).get("/")
        assert response.body == b"Hello\n"
        return
    monkeypatch.chdir(ROOT)  # examples name paths relative to the checkout
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(source, f"README.rst block {index}", "exec"), namespace)
    out = capsys.readouterr().out
    if "refused:" in source:
        assert "refused:" in out and "would serve on port" in out
    if "summary()" in source:
        assert "A321" in out and "Connection" in out
    app = namespace.get("app")
    if "Middleware(" in source and app is not None:
        response = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"}).get("/")
        assert response.status_int == 200
        if "wsgikit.session" in source:
            assert response.text.startswith("visit 1, token ")
            assert "theme=dark" in response.headers.get("Set-Cookie", "") or any(
                "theme=dark" in v for k, v in response.headerlist if k == "Set-Cookie"
            )
    assert os.path.isdir(ROOT / "sample_apps")
