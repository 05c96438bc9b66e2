# Two commands for a newcomer: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
ANON_HOME ?= $(CURDIR)/.anon
export ANON_HOME
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: install demo test ui lint validate clean-home

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first: the CPU build 2.13.0 is what the rest of the dependencies then accept as is.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/anon demo

test: install
	$(BIN)/pytest -q

ui: install
	$(BIN)/anon instance
	DAGSTER_HOME=$$($(BIN)/anon instance --print-home) $(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

validate: install
	$(BIN)/anon validate

lint: install
	$(BIN)/ruff check anon_platform anon_platform_tests scripts benchmarks

clean-home:
	rm -rf $(ANON_HOME)
