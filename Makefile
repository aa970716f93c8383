# Two commands set a fresh Debian machine up: `make demo` and `make test`. Everything they need
# (ffmpeg from Debian, a venv with the package and its test deps) is installed here, never by hand.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.yaml
DEMO_DIR ?= demo
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: help deps ffmpeg browser venv demo test test-slow lint extract report run download bench clean

help:
	@echo "make demo      - the whole pipeline on a small generated sample (no credentials)"
	@echo "make test      - install what is missing, then ruff and the whole test suite"
	@echo "make test-slow - also the long soak tests"
	@echo "make extract   - dfdx extract --config $(CONFIG)"
	@echo "make report    - rebuild the report from the ledger"
	@echo "make download  - dfdx download --config $(CONFIG) (needs Kaggle credentials)"
	@echo "make run       - download, then extract: dfdx run --config $(CONFIG)"
	@echo "make bench     - side-by-side benchmark against the usual alternatives, then local vs Ray (prints the tables)"

ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  echo "installing ffmpeg from Debian's packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ffmpeg >/dev/null; }

# Debian's chromium renders report.html in tests/inspect/test_html.py (a real browser, not a parser).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "installing chromium from Debian's packages (for the report.html render test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

# torch and torchvision only for tests (dfdx.train.dataset, and torchvision's ImageFolder loading the output
# folder as it is). A torchvision that matches its torch: on x86_64 the 2.14.1/0.29.1 pair (a CUDA build,
# ~5.5 GB, that runs on the CPU; the CPU-only torch 2.13.0 wheel has no torchvision that imports beside
# it: "operator torchvision::nms does not exist"); on aarch64 the 2.9.1/0.24.1 CPU pair.
ifeq ($(shell uname -m),aarch64)
TORCH_PINS := torch==2.9.1 torchvision==0.24.1
else
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
endif
TORCH_STAMP := $(VENV)/.torch-$(subst ==,-,$(subst $() ,_,$(TORCH_PINS)))
$(TORCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_PINS) 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@rm -f $(VENV)/.torch-* && touch $@

deps: ffmpeg venv

demo: deps
	$(BIN)/dfdx demo --dir $(DEMO_DIR)

lint: venv
	$(BIN)/ruff check dfdx tests benchmarks

test: deps browser lint $(TORCH_STAMP)
	$(BIN)/python -m pytest -q

test-slow: deps browser lint $(TORCH_STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

extract: deps
	$(BIN)/dfdx extract --config $(CONFIG)

report: venv
	$(BIN)/dfdx report --config $(CONFIG)

download: venv
	$(BIN)/dfdx download --config $(CONFIG)

run: deps
	$(BIN)/dfdx run --config $(CONFIG)

bench: deps
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[bench,ray]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@# dfdx as a pip install leaves it: its modules byte-compiled (an editable install is not, and where
	@# PYTHONDONTWRITEBYTECODE is set every process — dfdx, each PyAV worker, each Ray worker — compiles them again)
	$(BIN)/python -m compileall -q dfdx
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/ray_bench.py
	$(BIN)/python benchmarks/ray_bench.py --copies 4 --rounds 3
	$(BIN)/python benchmarks/faces.py

clean:
	rm -rf demo .pytest_cache .ruff_cache
