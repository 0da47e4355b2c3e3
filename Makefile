# airtrack — the two commands that matter: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# each run names its slowest tests: the default tier must stay within 10 minutes
DURATIONS := --durations=15
# pytest-xdist workers: each has its own embedded PostgreSQL; 0 runs in this process
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist worksteal)

.PHONY: install demo test test-slow test-all lint bench dist clean

$(STAMP): pyproject.toml setup.py airtrack/fingerprint/_native.c
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "airtrack needs Python 3.11+")'
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

## install: create .venv and install airtrack with its dev extras (nothing else)
install: $(STAMP)

## demo: the whole system on the embedded PostgreSQL, demo stations and dashboard
demo: install
	$(BIN)/airtrack demo

## test: the default tier: every behaviour once, quickly (-m "not slow"), in parallel
test: install
	$(BIN)/python -m pytest -m "not slow" $(XDIST) $(DURATIONS) $(PYTEST_ARGS)

## test-slow: the slow tier alone: real-time listening, chaos scenarios, long load
test-slow: install
	$(BIN)/python -m pytest -m slow $(XDIST) $(DURATIONS) $(PYTEST_ARGS)

## test-all: the default tier, then the slow tier (what CI runs)
test-all: test test-slow

## lint: ruff (lint + format check) and mypy --strict on the package
lint: install
	$(BIN)/ruff check airtrack tests bench
	$(BIN)/ruff format --check airtrack tests bench
	$(BIN)/mypy

## bench: the benchmarks (printed tables; see README)
bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## dist: build the wheel to install on servers (dist/airtrack-<version>-<python>-<platform>.whl:
## it carries the engine's C extension, built for this Python and platform)
## with the build backend alone (pyproject's build-system), in a fresh venv: no dev tools
DIST_VENV := .dist-venv
dist:
	rm -rf dist build $(DIST_VENV)
	$(PY) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip wheel -q --no-deps -w dist .
	rm -rf $(DIST_VENV) build
	@ls dist/*.whl

clean:
	rm -rf dist build $(VENV) $(DIST_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
