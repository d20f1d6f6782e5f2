# Flask Offload Lab: every command starts here. `make help` lists them.
# Each target installs what it needs first (.venv with the pinned requirements.txt); the ones
# that start servers check first that there is a Redis to start (`make redis`).
# Another Python: `make test PYTHON=python3.13` (its own venv, .venv-3.13); some tests:
# `TESTS=tests/test_apps.py`.

PYTHON ?= python3
# One venv per interpreter asked for, so another PYTHON never reuses a venv another one built.
VENV   ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(shell $(PYTHON) -c \
          'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo missing))
BIN    := $(VENV)/bin
APP    ?= sync
RUN    ?= reference
# make test's pytest workers: the benchmark tests on one, one after another, the rest beside
# them (most of the suite waits on servers, not on the CPU); WORKERS=0 runs it in one process.
WORKERS ?= 2
# What `make check-platforms` proves the pins install on: students' laptops.
CHECK_PYTHONS   := 3.11 3.12 3.13 3.14
CHECK_PLATFORMS := x86_64-manylinux_2_28 aarch64-manylinux_2_28 x86_64-apple-darwin \
                   aarch64-apple-darwin

.PHONY: help setup doctor redis test test-busy test-fast lint format up down bench bench-quick bench-reference bench-open \
        bench-open-agreement bench-regimes bench-shortcut bench-web-tier bench-cost \
        bench-celery-pool bench-api bench-reports bench-progress bench-cpu chaos soak run-once demo notebooks \
        notebooks-run \
        flower lock check-platforms clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-21s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "The lab needs Python \
	3.11 or newer; $(PYTHON) is " + sys.version.split()[0] + ". Try: make PYTHON=python3.13 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --editable .
	touch $@

setup: $(VENV)/.installed  ## create .venv with the pinned dependencies

doctor: setup  ## check what a class needs on this laptop, one line each with the fix (under 2 min)
	@$(BIN)/python -m loadtests.runners.doctor

redis: setup  ## which Redis the stacks start (or the one command that installs one)
	@$(BIN)/python -m lab_stack redis

test: redis  ## run the whole test suite (real Redis, provider, gunicorn, Locust, Chromium)
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup $(TESTS)

test-busy: redis  ## the whole suite beside a one-core CPU hog: no test may depend on this machine's speed
	$(BIN)/python -m tests.busy $(BIN)/pytest -n $(WORKERS) --dist loadgroup $(TESTS)

test-fast: redis  ## the tests that need no browser and no benchmark run
	$(BIN)/pytest -m "not browser and not bench"

lint: setup  ## ruff: lint and formatting check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup  ## ruff: fix imports and format
	$(BIN)/ruff check --fix --select I .
	$(BIN)/ruff format .

up: redis  ## one stack until Ctrl-C: make up APP=sync|celery|asyncio [PROXY=1: nginx in front]
	$(BIN)/python -m lab_stack up --app $(APP) $(if $(PROXY),--proxy)

down: setup  ## stop processes left behind by a stack runner that was killed
	$(BIN)/python -m lab_stack down

bench: redis  ## a short open sweep, then both scenarios, into results/local/; ends with the verdict
	$(BIN)/python -m loadtests.runners.open_arrivals --quick
	$(BIN)/python -m loadtests.runners.bench

bench-reference: redis  ## regenerate the headline reference (results/, docs/): cpu, capacity, bench x3, regimes, open sweeps
	$(BIN)/python -m loadtests.runners.cpu_cost
	$(BIN)/python -m loadtests.runners.capacity
	$(BIN)/python -m loadtests.runners.bench --reference
	$(BIN)/python -m loadtests.runners.regimes
	$(BIN)/python -m loadtests.runners.open_arrivals
	$(BIN)/python -m loadtests.runners.open_arrivals --agreement
	$(BIN)/python -m loadtests.publishing.hand_offs
	$(BIN)/python -m loadtests.publishing.pages

bench-open: redis  ## every hand-off under the same Poisson arrivals, rho 0.25-0.9 on 3 schedules each and 1.2 (~60 min)
	$(BIN)/python -m loadtests.runners.open_arrivals

bench-open-agreement: redis  ## do both generators measure the same? sync at rho 0.5, 0.9, 3 schedules each (~33 min)
	$(BIN)/python -m loadtests.runners.open_arrivals --agreement

bench-cost: redis  ## one target at 1-8 visitors/s: each hand-off's smallest size, predicted then measured, its processes and memory (~45 min)
	$(BIN)/python -m loadtests.runners.cost
	$(BIN)/python -m loadtests.publishing.cost_sections
	$(BIN)/python -m loadtests.publishing.pages

bench-capacity: redis  ## where each part breaks: the web process's homepage rate, the email worker's backlog (~10 min)
	$(BIN)/python -m loadtests.runners.capacity
	$(BIN)/python -m loadtests.publishing.equal_load

bench-regimes: redis  ## the closed loop's two stable answers: staggered vs synchronized start, at once (~12 min)
	$(BIN)/python -m loadtests.runners.regimes

bench-quick: redis  ## a one-minute bench into results/quick/ (short delay, 4 visitors, a burst)
	$(BIN)/python -m loadtests.runners.bench --quick

bench-web-tier: redis  ## the sync app under more gunicorn workers and threads (notebook 2)
	$(BIN)/python -m loadtests.runners.bench --apps sync --web-workers 1 4 --web-threads 1 4 \
		--visitors 0 4 8 12 --burst --out results/web-tier

bench-celery-pool: redis  ## Celery's pool: 1, 4, 16 processes, 64 threads, 64 greenlets (notebook 3)
	$(BIN)/python -m loadtests.runners.bench --apps celery --celery-workers 1 4 16 threads:64 gevent:64 \
		--visitors 2 4 8 16 --burst --out results/celery-pool

bench-shortcut: redis  ## "why not a thread?": every in-process shortcut in both bench scenarios
	$(BIN)/python -m loadtests.runners.bench --kind shortcut --out results/shortcut
	$(BIN)/python -m loadtests.publishing.hand_offs

bench-api: redis  ## use case 2: price lookups against the slow rates API, homepage timed (1 min)
	$(BIN)/python -m loadtests.runners.api_lookup

bench-reports: redis  ## do contact emails wait behind long reports? own queue vs shared (1 min)
	$(BIN)/python -m loadtests.runners.report_isolation

bench-progress: redis  ## use case 3: what a visitor sees while a long report is built, per app
	$(BIN)/python -m loadtests.runners.report_progress
	$(BIN)/python -m loadtests.runners.report_progress --work compute

bench-cpu: redis  ## the web worker's CPU time per request: homepage vs Celery POST, profiled
	$(BIN)/python -m loadtests.runners.cpu_cost

chaos: redis  ## kill or restart workers, web servers, Redis, the provider mid-burst; count losses
	$(BIN)/python -m loadtests.runners.chaos
	$(BIN)/python -m loadtests.publishing.hand_offs
	$(BIN)/python -m loadtests.publishing.pages

soak: redis  ## every hand-off that answers before sending (queue first), 2 min each, slow provider
	$(BIN)/python -m loadtests.runners.soak --every
	$(BIN)/python -m loadtests.publishing.hand_offs

run-once: redis  ## a scheduled job with 3 web servers: beat vs cron in each vs cron on one
	$(BIN)/python -m loadtests.runners.run_once

demo: redis  ## a stack plus Locust's web UI for a live class demo: make demo APP=sync
	$(BIN)/python -m loadtests.runners.demo --app $(APP)

notebooks: setup  ## open the notebooks in Jupyter Lab (RUN=local: on your own make bench)
	LAB_RUN=$(RUN) $(BIN)/jupyter lab notebooks/

class-student: setup  ## the one-class notebook for students: no outputs, predictions first (var/student/)
	$(BIN)/python -m loadtests.publishing.notebooks --student var/student

notebooks-run: setup  ## re-run every notebook against results/ and save its outputs
	$(BIN)/python -m loadtests.publishing.notebooks

flower: setup  ## Celery Flower against the lab's Redis (start `make up APP=celery` first)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-flower.txt
	$(BIN)/celery -A celery_app.worker flower --address=127.0.0.1 --port=5555

lock: setup  ## re-pin requirements.txt from pyproject.toml, for every platform at once
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--custom-compile-command "make lock" --quiet -o requirements.txt

check-platforms: setup  ## prove the pins install from wheels on Linux and macOS, x86 and ARM
	@for py in $(CHECK_PYTHONS); do for platform in $(CHECK_PLATFORMS); do \
		$(BIN)/uv pip compile requirements.txt --python-version $$py \
			--python-platform $$platform --only-binary :all: --quiet -o /dev/null \
			&& echo "ok      CPython $$py on $$platform" \
			|| { echo "FAILED  CPython $$py on $$platform"; exit 1; }; \
	done; done

clean:  ## remove the venvs and runtime data (results/ stays)
	rm -rf .venv .venv-* var .pytest_cache .ruff_cache
