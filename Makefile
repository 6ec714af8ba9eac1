# heart-batch: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
PIPENV := $(PYTHON) -m pipenv
RUN := $(PIPENV) run

# Keep the environment in .venv. Paths, ports and stores come from the HEART_* settings, read by
# the Python entry points (which also turn telemetry and progress bars off).
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export NO_MKDOCS_2_WARNING := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
DOCS_PORT ?= 8001

.PHONY: help setup up down status train run monitor test bench bench-bands bench-monitor bench-retrain bench-scaling bench-noop bench-directions evidently-ui lint format clean docs docs-build test-unit test-integration bench-tests

help: ## Show the targets (in colour at a terminal only)
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-13s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

setup: .venv/.synced ## Install pipenv if missing, then the locked dependencies into .venv

.venv/.synced: Pipfile.lock
	@$(PYTHON) -m pipenv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet pipenv
	$(PIPENV) sync --dev
	@touch $@

up: setup ## Start the whole system on 127.0.0.1: Prefect, MLflow, Evidently UI, mail sink, deployments, worker
	$(RUN) python -m ops up

down: ## Stop exactly what `make up` started (pid files and logs are in .state/)
	$(RUN) python -m ops down

status: ## Which services of `make up` are running and answering
	$(RUN) python -m ops status

train: setup ## Tune, log to MLflow and register a model (champion only if it beats the current one)
	$(RUN) python -m flows.train

run: setup ## The main job: train if there is no champion yet, then score every CSV in the input folder
	@$(RUN) python -m heart_batch prepare-input
	@if $(RUN) python -m heart_batch has-work; then \
	  $(RUN) python -m heart_batch has-champion || $(MAKE) --no-print-directory train; \
	  $(RUN) python -m flows.score; \
	fi

monitor: setup ## Judge the rows scored since the last window: drift, quality, alert, retrain
	$(RUN) python -m flows.monitor

evidently-ui: setup ## Serve the Evidently workspace of monitored windows (port HEART_EVIDENTLY_PORT, 8000)
	$(RUN) python -m ops evidently-ui

bench-monitor: setup ## Monitoring's alarm rates by window size against fixed thresholds, Evidently, NannyML-style
	$(RUN) python -m tests.benchmarks.bench_monitoring

bench-retrain: setup ## Retraining on new labelled rows, 10 seeds: Brier on held-out hospital rows; no churn
	$(RUN) python -m tests.benchmarks.bench_retraining

bench-bands: setup ## The risk bands' sensitivity and specificity at each other hospital, next to the reference's
	$(RUN) python -m tests.benchmarks.bench_bands

bench-scaling: setup ## A 40-file backlog in-process vs a local Dask cluster; the ledger on PostgreSQL
	$(RUN) python -m tests.benchmarks.bench_scaling

bench-directions: setup ## What the established directions cost (CV, other hospitals) and fix (reasons), in one run
	$(RUN) python -m tests.benchmarks.bench_directions

bench-noop: setup ## A `make run` with nothing to do, against the path it used to take (median of 3)
	$(RUN) python -m tests.benchmarks.bench_noop

bench: setup ## Benchmark scoring: 1M rows vs I/O floor and model alone, start-up, peak RSS at 1M and 5M rows
	$(RUN) python -m tests.benchmarks.bench_scoring

test: setup ## Run every test: unit, integration, end-to-end, README walkthrough, image (needs docker or podman)
	$(RUN) pytest

test-unit: setup ## The fast loop: library tests, no servers, no training (under 2 minutes)
	$(RUN) pytest tests/unit

test-integration: setup ## Flows in Prefect's harness, real SMTP, PostgreSQL, git (under 6 minutes)
	$(RUN) pytest tests/integration

bench-tests: setup ## Wall time of each test tier on this machine (the targets: unit 2 min, integration 6)
	$(RUN) python -m tests.benchmarks.bench_tests

docs: setup ## Regenerate docs/settings.md, then serve the documentation site on 127.0.0.1:$(DOCS_PORT)
	$(RUN) python -m heart_batch settings-reference > docs/settings.md
	$(RUN) mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-build: setup ## Build the documentation site into .cache/site, failing on a broken link or page
	$(RUN) mkdocs build --strict

lint: setup ## Run the pre-commit hooks (black, pylint, hadolint, actionlint, file checks) on every file
	$(RUN) pre-commit run --all-files

format: setup ## Format the code with black
	$(RUN) black .

clean: setup ## Stop `make up`, delete local stores and state; outputs only if you say yes; never input/
	@$(RUN) python -m ops down
	@$(RUN) python -m ops clean
