# Two commands do everything: `make book` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.package-lock.json
CHROMIUM := /usr/bin/chromium
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb))

# Same environment for executing, testing and building: CPU only, fixed hash seed,
# the venv's tools first on PATH (so Jupyter picks the venv's kernel).
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
export CUDA_VISIBLE_DEVICES :=
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help venv book test lint unit nbval nbval-portable nbval-legacy build execute bench serve \
  lock clean pdf pdf-test texlive gpu-check

help:
	@echo "make book     create .venv, install pinned deps, build the site into _build/html"
	@echo "make test     everything CI checks: lint, unit tests, nbval, build, browser tests"
	@echo "make browser  open every built page in Chromium: errors, links, MathJax, axe-core"
	@echo "make pdf      the whole book as one PDF, _build/latex/book.pdf (xelatex, TeX Live)"
	@echo "make pdf-test make pdf, then check it: no LaTeX errors, titles, math, figures"
	@echo "make execute  re-run every notebook in place (NB=path for just one)"
	@echo "make nbval-legacy  nbval on the code paths of a CPU without AVX (slow; not in make test)"
	@echo "make bench    benchmark the from-scratch BiGRUs against nn.GRU"
	@echo "make gpu-check the cuDNN behaviour chapter 6 marks untested (needs a CUDA GPU)"
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

# MathJax is served by the site itself (no CDN): the pinned npm package is copied to
# _build/vendor/_static/mathjax, which _config.yml's html_extra_path puts in the site.
build: $(STAMP) $(NPM_STAMP)
	rm -rf _build/html _build/.doctrees _build/vendor
	mkdir -p _build/vendor/_static
	cp -R node_modules/mathjax/es5 _build/vendor/_static/mathjax
	cp node_modules/mathjax/LICENSE _build/vendor/_static/mathjax/LICENSE
	# The PDF (make pdf) is published next to the site, linked from the front page.
	if [ -f $(PDF) ]; then cp $(PDF) _build/vendor/$(PDF_NAME); fi
	PYTHONPATH=$(CURDIR) $(BIN)/python tools/timed.py "book build" -- \
	  $(BIN)/jupyter-book build . --warningiserror --keep-going

# Pinned JavaScript packages (package-lock.json): MathJax for the site, axe-core for the
# browser tests. npm ci reinstalls them whenever package.json or the lock file changes.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# The browser tests drive Debian's Chromium (never a downloaded build). Installed here
# when missing and running as root; under CI=true a missing browser fails the run.
.PHONY: chromium browser
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$${CI:-}" = true ]; then echo "error: $(CHROMIUM) missing (apt-get install chromium)" >&2; exit 1; fi; \
	  echo "warning: $(CHROMIUM) missing: the browser tests will be skipped" >&2; fi

browser: $(STAMP) $(NPM_STAMP) chromium
	@test -f _build/html/index.html || $(MAKE) build
	$(BIN)/python tools/timed.py "browser tests" -- $(BIN)/python -m pytest tests/browser -q

# The PDF: Jupyter Book 1's LaTeX builder with xelatex from Debian's TeX Live (never a
# downloaded toolchain). Installed here when missing and running as root, like chromium.
# Its own target and CI step (`make pdf-test`): TeX Live and three xelatex passes would
# add minutes to `make test`.
TEXLIVE_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra \
  texlive-fonts-recommended texlive-plain-generic lmodern latexmk xindy fonts-freefont-otf \
  fonts-dejavu-core poppler-utils
PDF := _build/latex/book.pdf
PDF_NAME := birnn-book.pdf

texlive:
	@missing=; for p in $(TEXLIVE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing; fi
	@if ! command -v xelatex >/dev/null || ! command -v pdftotext >/dev/null; then \
	  echo "error: xelatex or pdftotext missing: apt-get install $(TEXLIVE_PACKAGES)" >&2; exit 1; fi

pdf: $(STAMP) texlive
	rm -rf _build/latex
	# _config.yml's html_extra_path names it; the LaTeX builder warns when it is absent.
	mkdir -p _build/vendor
	PYTHONPATH=$(CURDIR) $(BIN)/python tools/timed.py "pdf build" -- \
	  $(BIN)/jupyter-book build . --builder pdflatex --warningiserror --keep-going
	@test -f $(PDF) && echo "$(PDF): $$(pdfinfo $(PDF) | sed -n 's/^Pages: *//p') pages"

pdf-test: pdf
	$(BIN)/python -m pytest tests/pdf -q

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/browser --ignore=tests/pdf -q -n 2 --dist loadscope \
	  --cov=birnn_utils --cov-report=term-missing:skip-covered --cov-fail-under=90

NBVAL_ARGS := --nbval --nbval-current-env --nbval-cell-timeout=600 \
  --nbval-sanitize-with tests/nbval_sanitize.cfg -n 2 --dist loadscope -p no:cacheprovider

nbval: $(STAMP)
	mkdir -p _build
	NBVAL_TIMING_JSON=_build/nbval_timing.json \
	  $(BIN)/python -m pytest $(NOTEBOOKS) $(NBVAL_ARGS) -p tools.nbval_timing -q
	$(BIN)/python tools/nbval_floor.py _build/nbval_timing.json $(NBVAL_ARGS)

# The stored outputs must not depend on the CPU: run nbval again on the AVX2 code paths
# of ATen, MKL and oneDNN (what most AMD and older Intel CPUs take; this machine has
# AVX-512). A printed float32 digit that moves fails here.
nbval-portable: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
	  $(BIN)/python tools/timed.py "nbval on AVX2 code paths" -- \
	  $(BIN)/python -m pytest $(NOTEBOOKS) $(NBVAL_ARGS) -q

# Older CPUs (no AVX): run nbval again, one intra-op thread, first with MKL on its SSE4.2
# kernels, then with ATen's default (non-vectorised) kernels; see CONTRIBUTING.md. Both
# runs always happen; the target fails if either does. Not part of `make test` (it runs
# every notebook twice more: minutes); the lead runs it before a release.
LEGACY_ENVS := MKL_ENABLE_INSTRUCTIONS=SSE4_2 ATEN_CPU_CAPABILITY=default

nbval-legacy: $(STAMP)
	status=0; for setting in $(LEGACY_ENVS); do \
	  env $$setting OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	    $(BIN)/python tools/timed.py "nbval with $$setting, one thread" -- \
	    $(BIN)/python -m pytest $(NOTEBOOKS) $(NBVAL_ARGS) -q || status=1; \
	done; exit $$status

test: $(STAMP) lint unit nbval nbval-portable build browser

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py $(or $(NB),$(NOTEBOOKS))

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_bigru.py

# The one GPU check (a few minutes on a CUDA machine; says so and exits 0 without one).
# The rest of the Makefile hides GPUs (CUDA_VISIBLE_DEVICES is empty): not here.
gpu-check: $(STAMP)
	env -u CUDA_VISIBLE_DEVICES $(BIN)/python tools/gpu_check.py

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
