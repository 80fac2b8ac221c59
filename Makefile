# wsgikit developer commands. Quick start: `make serve`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Debian packages the test suite drives (see tests/conftest.py: absent locally -> skip, CI -> fail).
# Each entry is package:program; a package is installed only when its program is missing.
DEB_TEST_PACKAGES := redis-server:redis-server nginx-light:nginx haproxy:haproxy curl:curl wrk:wrk chromium:chromium gcc:gcc

.PHONY: serve test test-deps deb-deps install compiled dist bench soak fuzz lint clean
# The request path compiled with mypyc from the same sources (tools/compile.py); make test runs
# the whole suite on it too, and make bench measures it.
COMPILED := build/compiled

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "venv module missing; installing python3-venv" >&2; \
	  command -v apt-get >/dev/null && apt-get install -y -qq python3-venv >/dev/null; \
	  $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

# What users get: a regular (non-editable) install, which compiles the request path when a C
# compiler and the Python headers are present (setup.py, docs/compiled.rst). The stamp keeps
# `make serve` from rebuilding when nothing changed; test-deps' editable install removes it.
INSTALLED := $(VENV)/.wsgikit-installed
install: $(INSTALLED)

$(INSTALLED): $(BIN)/python $(shell find wsgikit middleware -name '*.py') setup.py setup.cfg pyproject.toml tools/compile.py
	@echo "installing wsgikit into $(VENV) (compiling the request path takes about a minute)"
	@$(BIN)/python -m pip install -q .
	@touch $@

# The console script, not `python -m`: the source tree on sys.path[0] would hide the install.
serve: install
	@echo "Serving sample_apps on http://$(HOST):$(PORT)  (press Ctrl-C to stop)"
	@$(BIN)/wsgikit serve --host $(HOST) --port $(PORT) sample_apps:app

# Debian's python3.X keeps Lib/test (needed by tests/compat: CPython's test_wsgiref) in a separate package.
deb-deps: $(BIN)/python
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  missing=""; \
	  for pair in $(DEB_TEST_PACKAGES); do \
	    pkg=$${pair%%:*}; prog=$${pair##*:}; \
	    command -v $$prog >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	  done; \
	  $(BIN)/python -c "import test.test_wsgiref" 2>/dev/null || \
	    missing="$$missing libpython$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')-testsuite"; \
	  $(BIN)/python -c "import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))" 2>/dev/null || \
	    missing="$$missing libpython$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	else \
	  echo "apt-get unavailable or not root: tests needing redis-server/nginx/curl/wrk/chromium will skip"; \
	fi

test-deps: $(BIN)/python deb-deps
	@$(BIN)/python -m pip install -q -e '.[test,testing,redis]'
	@rm -f $(INSTALLED)

$(COMPILED)/.built: $(shell find wsgikit -name '*.py') tools/compile.py setup.py
	@$(BIN)/python -m pip install -q -e '.[compile]'
	$(BIN)/python tools/compile.py --out $(COMPILED)
	@touch $@

compiled: $(BIN)/python $(COMPILED)/.built

# pytest exits 5 when it collects nothing; that is a failure here, like any other non-zero code.
# Two passes: the Python build, then the compiled one (-P keeps the source tree off sys.path[0];
# WSGIKIT_EXPECT_COMPILED makes the pass fail if it did not get the compiled modules).
test: test-deps compiled
	$(BIN)/python -m pytest
	PYTHONPATH=$(CURDIR)/$(COMPILED) WSGIKIT_EXPECT_COMPILED=1 $(BIN)/python -P -m pytest

# An sdist, then from it a compiled wheel and a pure-Python wheel (tests/ops/test_dist.py
# installs each into a fresh venv and serves a request).
DIST ?= dist
dist: $(BIN)/python
	@$(BIN)/python -m pip install -q build
	@rm -rf $(DIST) && mkdir -p $(DIST)
	$(BIN)/python -m build --sdist --outdir $(DIST) .
	WSGIKIT_COMPILE=1 $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir -w $(DIST) $(DIST)/wsgikit-*.tar.gz
	WSGIKIT_COMPILE=0 $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir -w $(DIST) $(DIST)/wsgikit-*.tar.gz
	@ls -1 $(DIST)

# The compiled build is the one `pip install .` gives (docs/compiled.rst). BENCH_ARGS="--repeat 2"
# measures every cell twice and reports the spread of the 1 MiB scenarios.
bench: test-deps compiled
	@$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks --wsgikit-build compiled $(BENCH_ARGS)

# Mixed and abusive load for SOAK_DURATION seconds (default 10 minutes), then idle; the JSON
# and the PNG of the timeline go to benchmarks/results/. SOAK_ARGS adds options, for example
# SOAK_ARGS="--server waitress --server gunicorn-gthread" (see python -m benchmarks.soak -h).
SOAK_DURATION ?= 600
soak: test-deps
	@$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks.soak --duration $(SOAK_DURATION) $(SOAK_ARGS)

# Coverage-guided fuzzing (fuzz/, docs/fuzzing.rst): FUZZ_RUNS inputs per target, a per-input
# deadline, then a line-coverage figure; findings land in build/fuzz/<target>/.
FUZZ_RUNS ?= 1000000
fuzz: $(BIN)/python
	@$(BIN)/python -m pip install -q -e '.[fuzz]'
	nice -n 5 $(BIN)/python -m fuzz --runs $(FUZZ_RUNS) $(FUZZ_TARGETS)

lint: $(BIN)/python
	@$(BIN)/python -m pip install -q -e '.[lint,testing]'
	$(BIN)/python -m ruff check wsgikit middleware sample_apps tests benchmarks fuzz tools setup.py
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
