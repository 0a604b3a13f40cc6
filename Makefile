# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The offline copy of model and footage: METRO_SHARED_DIR, as the tests read it, else ../shared.
SHARED ?= $(or $(METRO_SHARED_DIR),$(abspath ../shared))
OFFLINE := $(if $(wildcard $(SHARED)/models),--from $(SHARED),)

.PHONY: demo test lint typecheck pytest assets venv bench soak clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,deploy]'
	touch $@

assets: venv
	$(BIN)/metro-edge assets fetch $(OFFLINE)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/python -m metro_common.schema --check

typecheck: venv
	$(BIN)/mypy metro_common edge_agent hub

pytest: venv assets
	METRO_SHARED_DIR=$(SHARED) $(BIN)/pytest

test: lint typecheck pytest

demo: venv assets
	$(BIN)/python scripts/demo.py

bench: venv assets
	$(BIN)/python benchmarks/run_all.py

soak: venv assets
	METRO_SHARED_DIR=$(SHARED) $(BIN)/pytest -m slow -p no:cacheprovider tests

clean:
	rm -rf $(VENV) .assets var .mypy_cache .ruff_cache .pytest_cache
