"""Coverage-guided fuzzing of wsgikit with atheris (``make fuzz``; see docs/fuzzing.rst).

Each target module has a ``test_one_input(data: bytes)`` that raises only on a finding (a crash,
an uncaught exception, a broken invariant). The harnesses need nothing but wsgikit, so the test
suite runs them over the committed seed corpora (``fuzz/corpus/<target>/``) without atheris;
``python -m fuzz`` runs them under libFuzzer.
"""

TARGETS = ("parser", "chunked", "gateway")
