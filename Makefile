# airtrack — the two commands that matter: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-all lint bench dist clean

$(STAMP): pyproject.toml
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

## test: the default suite (representative cut; slow chaos/bench suites excluded)
test: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## test-all: every suite, including slow chaos and long tests
test-all: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff (lint + format check) and mypy --strict on the package
lint: install
	$(BIN)/ruff check airtrack tests bench
	$(BIN)/ruff format --check airtrack tests bench
	$(BIN)/mypy

## bench: the benchmarks (printed tables; see README)
bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## dist: build the wheel to install on servers (dist/airtrack-<version>-py3-none-any.whl)
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
