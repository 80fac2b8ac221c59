"""Write the seed corpora (``fuzz/corpus/<target>/``) from the requests in the test suite.

Every ``bytes`` literal in ``tests/`` that starts like a request (a method token, a space, a
target, or the empty lines a request may start with) is a seed; the literals are read with
``ast``, so nothing in the tests runs. Each target gets the request in its own input format.
Run ``python -m fuzz.seeds`` after adding tests; the files are small and committed.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
REQUEST_START = re.compile(rb"(?:\r\n)*[A-Z][A-Z-]{1,15} \S+ HTTP/")
MAX_SEED = 4096


def requests_in_tests(root: Path = ROOT / "tests") -> list[bytes]:
    """The request-like bytes literals in the test suite, deduplicated, in a stable order."""
    found: dict[bytes, None] = {}
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
                value = node.value
                if REQUEST_START.match(value) and len(value) <= MAX_SEED:
                    found.setdefault(value, None)
    return list(found)


def chunked_bodies(requests: list[bytes]) -> list[bytes]:
    """What follows the head of each chunked request (the chunked target adds its own head)."""
    bodies = []
    for request in requests:
        head, sep, rest = request.partition(b"\r\n\r\n")
        if sep and b"chunked" in head.lower() and rest:
            bodies.append(rest)
    return bodies


def seeds() -> dict[str, list[bytes]]:
    requests = requests_in_tests()
    bodies = chunked_bodies(requests)
    return {
        # flags 1: EOF after the bytes; 0x2b: cut into pieces as well
        "parser": [b"\x01" + r for r in requests] + [b"\x2b" + r for r in requests[:40]],
        "chunked": [b"\x01" + b for b in bodies]
        + [b"\x02" + bytes(range(1, 40)), b"\x16" + bytes(range(200, 256))],
        # script length 0: the default app (reads nothing, answers 200 with Content-Length);
        # then a few scripts that read the body and stream, fail, or lose the client.
        "gateway": [b"\x00" + r for r in requests]
        + [b"\x03" + script + r for r in requests[:12]
           for script in (b"\x01\x41\x00", b"\x07\x22\x02", b"\x04\x53\x05", b"\x01\x04\x03")],
    }


def write(corpus: Path = CORPUS) -> dict[str, int]:
    counts = {}
    for target, inputs in seeds().items():
        folder = corpus / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for data in inputs:
            name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
            (folder / name).write_bytes(data)
        counts[target] = len(inputs)
    return counts


if __name__ == "__main__":
    for target, count in write().items():
        print(f"{target}: {count} seeds", file=sys.stderr)
