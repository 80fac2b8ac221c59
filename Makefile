# wsgikit developer commands. Quick start: `make serve`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Debian packages the test suite drives (see tests/conftest.py: absent locally -> skip, CI -> fail).
# Each entry is package:program; a package is installed only when its program is missing.
DEB_TEST_PACKAGES := redis-server:redis-server nginx-light:nginx curl:curl wrk:wrk chromium:chromium gcc:gcc

.PHONY: serve test test-deps deb-deps install compiled bench fuzz lint clean
# The request path compiled with mypyc from the same sources (tools/compile.py); make test runs
# the whole suite on it too, and make bench measures it.
COMPILED := build/compiled

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "venv module missing; installing python3-venv" >&2; \
	  command -v apt-get >/dev/null && apt-get install -y -qq python3-venv >/dev/null; \
	  $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

install: $(BIN)/python
	@$(BIN)/python -m pip install -q -e .

serve: install
	@echo "Serving sample_apps on http://$(HOST):$(PORT)  (press Ctrl-C to stop)"
	@$(BIN)/python -m wsgikit serve --host $(HOST) --port $(PORT) sample_apps:app

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

bench: test-deps compiled
	@$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks --wsgikit-build compiled

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
