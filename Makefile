# calcisvd developer and user entry points. `make help` lists them.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.calcisvd-installed

.DEFAULT_GOAL := help
.PHONY: help venv demo test test-fast lint bench clean-data prefect-local system-packages

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements/lock.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements/lock.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)  ## create or update .venv from the pinned versions (requirements/lock.txt)

system-packages:  ## install the Debian packages the service tests need (ops/system_packages.txt)
	@bash ops/system_packages.sh

demo: $(STAMP)  ## simulate a small cohort and run the whole pipeline on it
	$(BIN)/calcisvd simulate
	$(BIN)/calcisvd run

# Tests run on TEST_WORKERS processes (pytest-xdist): the tests marked `serial` (real servers
# with their schedulers and workers, kills at a moment; tests/conftest.py) are one unit of work,
# run one after another on one worker and started first; the other workers take the remaining
# tests file by file (the tests of one file stay together, in order).
TEST_WORKERS ?= 2
PYTEST_XDIST = -n $(TEST_WORKERS) --no-loadscope-reorder

test: $(STAMP) system-packages  ## run the test suite (real Prefect, DuckDB, GX, Nipype, bids-validator)
	$(BIN)/python -m pytest $(PYTEST_XDIST)

test-fast: $(STAMP)  ## the suite without the `slow` service and end-to-end tests (a few minutes)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_XDIST)

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check .

bench: $(STAMP)  ## accuracy, speed and pipeline benchmarks (writes bench/results/*.json)
	$(BIN)/python -m bench.run_all

prefect-local: $(STAMP)  ## try the deployments: local Prefect server + work pool + worker
	bash ops/local_prefect.sh

.PHONY: prefect-postgres prefect-postgres-stop
PG_DIR  ?= var/prefect-postgres
PG_PORT ?=
prefect-postgres:  ## PostgreSQL for the Prefect server in PG_DIR: init, start, print the DB URL
	@bash ops/prefect_postgres.sh start $(PG_DIR) $(PG_PORT)

prefect-postgres-stop:  ## stop the PostgreSQL cluster in PG_DIR
	@bash ops/prefect_postgres.sh stop $(PG_DIR)

clean-data:  ## remove generated data under the default home (drop, BIDS, warehouse, reports)
	rm -rf drop quarantine reports var simulated_truth secrets
	find bids_dataset -mindepth 1 ! -name .gitkeep ! -name README.md -delete 2>/dev/null || true
