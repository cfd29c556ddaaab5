# Two commands on a fresh machine: `make run` and `make test`. Both set everything up and are
# fast the second time: the venv, torch and llama-cpp-python are installed once (pip caches the
# compiled llama-cpp-python wheel), and the models are checked once per data directory.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.llmos-installed

.PHONY: run test setup models bench lint clean

run: setup models
	$(BIN)/llmos

test: setup
	$(BIN)/python -m pytest -q

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned to the CPU build on local disk, so nothing else pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

models: setup
	$(BIN)/llmos model prepare default

bench: setup
	$(BIN)/python bench/overhead.py

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
