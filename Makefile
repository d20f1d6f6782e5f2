# Flask Offload Lab: every command starts here. `make help` lists them.
# Each target installs what it needs first (.venv with the pinned requirements.txt).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
APP    ?= sync

.PHONY: help setup test test-fast lint format up down bench bench-quick bench-web-tier \
        bench-celery-pool bench-api chaos soak run-once demo notebooks notebooks-run \
        flower lock clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --editable .
	touch $@

setup: $(VENV)/.installed  ## create .venv with the pinned dependencies

test: setup  ## run the whole test suite (real Redis, provider, gunicorn, Locust, Chromium)
	$(BIN)/pytest

test-fast: setup  ## the tests that need no browser and no benchmark run
	$(BIN)/pytest -m "not browser and not bench"

lint: setup  ## ruff: lint and formatting check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup  ## ruff: fix imports and format
	$(BIN)/ruff check --fix --select I .
	$(BIN)/ruff format .

up: setup  ## start one app's stack until Ctrl-C: make up APP=sync|celery|asyncio
	$(BIN)/python -m lab_stack up --app $(APP)

down: setup  ## stop processes left behind by a stack runner that was killed
	$(BIN)/python -m lab_stack down

bench: setup  ## the full sweep: results/, plots and the claims report (about 6 minutes)
	$(BIN)/python -m loadtests.sweep

bench-quick: setup  ## a one-minute sweep into results/quick/ (short delay, few points)
	$(BIN)/python -m loadtests.sweep --quick

bench-web-tier: setup  ## the sync app under more gunicorn workers and threads (notebook 2)
	$(BIN)/python -m loadtests.sweep --apps sync --web-workers 1 4 --web-threads 1 4 \
		--visitors 0 2 4 6 8 12 --no-throughput --out results/web-tier

bench-celery-pool: setup  ## the Celery app with 1, 4 and 16 worker processes (notebook 3)
	$(BIN)/python -m loadtests.sweep --apps celery --celery-concurrency 1 4 16 \
		--visitors 2 4 8 --no-throughput --out results/celery-pool

bench-api: setup  ## use case 2: price lookups against the slow rates API, homepage timed (1 min)
	$(BIN)/python -m loadtests.api_lookup

chaos: setup  ## kill workers, web servers, Redis, the provider mid-burst; count lost emails
	$(BIN)/python -m loadtests.chaos

soak: setup  ## the Celery app for minutes with a provider slower than its visitors
	$(BIN)/python -m loadtests.soak

run-once: setup  ## a scheduled job with 3 web servers: beat vs cron in each vs cron on one
	$(BIN)/python -m loadtests.run_once

demo: setup  ## a stack plus Locust's web UI for a live class demo: make demo APP=sync
	$(BIN)/python -m loadtests.demo --app $(APP)

notebooks: setup  ## open the notebooks in Jupyter Lab
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-notebooks.txt
	$(BIN)/jupyter lab notebooks/

notebooks-run: setup  ## re-run every notebook against results/ and save its outputs
	$(BIN)/python -m loadtests.notebooks

flower: setup  ## Celery Flower against the lab's Redis (start `make up APP=celery` first)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-notebooks.txt
	$(BIN)/celery -A celery_app.worker flower --address=127.0.0.1 --port=5555

lock:  ## re-pin requirements.txt from requirements.in in a scratch venv
	rm -rf /tmp/offload-lab-lock && $(PYTHON) -m venv /tmp/offload-lab-lock
	/tmp/offload-lab-lock/bin/pip install --quiet -r requirements.in
	/tmp/offload-lab-lock/bin/pip freeze --exclude-editable > requirements.txt

clean:  ## remove the venv and runtime data (results/ stays)
	rm -rf $(VENV) var .pytest_cache .ruff_cache
