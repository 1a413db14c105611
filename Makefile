# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_PREFIX := .node
AZURITE_STAMP := $(NODE_PREFIX)/node_modules/azurite/package.json

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,bench,seal,azure]"
	touch $(STAMP)

# Azurite, the Azure Storage emulator the adapter's tests run against (pinned; installed locally).
$(AZURITE_STAMP):
	npm install --prefix $(NODE_PREFIX) azurite@3.35.0 --save-exact --no-audit --no-fund

demo: $(STAMP)
	$(BIN)/heedu demo

test: $(STAMP) $(AZURITE_STAMP)
	$(BIN)/ruff check heedu tests benchmarks examples azure_adapter
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_ei.py
	$(BIN)/python benchmarks/bench_inference.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis $(NODE_PREFIX)
