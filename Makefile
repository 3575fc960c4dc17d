# Two commands do everything: `make book` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb))

# Same environment for executing, testing and building: CPU only, fixed hash seed,
# the venv's tools first on PATH (so Jupyter picks the venv's kernel).
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
export CUDA_VISIBLE_DEVICES :=
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help venv book test lint unit nbval build execute bench serve lock clean

help:
	@echo "make book     create .venv, install pinned deps, build the site into _build/html"
	@echo "make test     everything CI checks: lint, unit tests, nbval, build, browser tests"
	@echo "make execute  re-run every notebook in place (NB=path for just one)"
	@echo "make bench    benchmark the from-scratch BiGRUs against nn.GRU"
	@echo "make serve    serve the built book on http://127.0.0.1:8000"

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	# Build matplotlib's font cache now, so no notebook prints the one-time notice.
	$(BIN)/python -c "import matplotlib.pyplot"
	touch $@

book: $(STAMP) build

build: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/python tools/timed.py "book build" -- $(BIN)/jupyter-book build . --warningiserror --keep-going

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q --cov=birnn_utils --cov-report=term-missing:skip-covered

NBVAL_ARGS := --nbval --nbval-current-env --nbval-cell-timeout=600 \
  --nbval-sanitize-with tests/nbval_sanitize.cfg -n 2 --dist loadscope -p no:cacheprovider

nbval: $(STAMP)
	mkdir -p _build
	NBVAL_TIMING_JSON=_build/nbval_timing.json \
	  $(BIN)/python -m pytest $(NOTEBOOKS) $(NBVAL_ARGS) -p tools.nbval_timing -q
	$(BIN)/python tools/nbval_floor.py _build/nbval_timing.json $(NBVAL_ARGS)

test: $(STAMP) lint unit nbval build

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py $(or $(NB),$(NOTEBOOKS))

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_bigru.py

serve: $(STAMP)
	@test -f _build/html/index.html || $(MAKE) build
	@echo "Serving the book at http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory _build/html

lock: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements.in
	{ head -n 2 requirements.txt; $(BIN)/python -m pip freeze --exclude-editable \
	  | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean:
	rm -rf _build .pytest_cache .coverage
