# Two commands for a newcomer: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
ANON_HOME ?= $(CURDIR)/.anon
export ANON_HOME
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: install demo test ui lint validate clean-home bench browser e2e workers

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
	$(BIN)/pytest -q -m "not e2e"

ui: install
	$(BIN)/anon instance
	DAGSTER_HOME=$$($(BIN)/anon instance --print-home) $(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

# Generators vs SDV (benchmarks/README.md); about 4 minutes on 2 idle cores.
bench: install
	$(BIN)/python benchmarks/bench_generators.py

# Debian's chromium and its driver for the browser test (never a downloaded browser build).
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

# The service deployment on PostgreSQL and the UI in a browser (anon_platform_tests/integration/test_deployment.py,
# test_ui_browser.py).
e2e: install browser
	$(BIN)/pytest -q -m e2e

# Celery workers for runs on ANON_EXECUTOR=celery (docs/scale-out.md): one on the `cpu` queue, one
# on the `gpu` queue (torch training; CUDA when torch sees a card). Concurrency per queue is the
# workers' -c; broker and backend from ANON_CELERY_BROKER / ANON_CELERY_BACKEND (executors.py).
ANON_CELERY_BROKER ?= redis://127.0.0.1:6379/0
export ANON_CELERY_BROKER
CPU_CONCURRENCY ?= 2
GPU_CONCURRENCY ?= 1
CELERY_WORKER = $(BIN)/dagster-celery worker start -A dagster_celery.app -y $(ANON_HOME)/celery.yaml
workers: install
	$(BIN)/anon instance
	$(BIN)/python -m anon_platform.executors $(ANON_HOME)/celery.yaml
	export DAGSTER_HOME=$$($(BIN)/anon instance --print-home) PATH=$(CURDIR)/$(BIN):$$PATH; \
	CUDA_VISIBLE_DEVICES= $(CELERY_WORKER) -q cpu -n cpu -- -c $(CPU_CONCURRENCY) & cpu=$$!; \
	$(CELERY_WORKER) -q gpu -n gpu -- -c $(GPU_CONCURRENCY) & gpu=$$!; \
	trap 'kill $$cpu $$gpu; wait' INT TERM; wait

validate: install
	$(BIN)/anon validate

# ruff, and the import contract of pyproject.toml ([tool.importlinter]: layers, no cycles)
lint: install
	$(BIN)/ruff check anon_platform anon_platform_tests scripts benchmarks
	$(BIN)/lint-imports --no-cache

clean-home:
	rm -rf $(ANON_HOME)
