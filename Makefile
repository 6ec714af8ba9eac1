# heart-batch: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
PIPENV := $(PYTHON) -m pipenv
RUN := $(PIPENV) run
INPUT_DIR := $(or $(HEART_INPUT_DIR),input)

# Keep the environment in .venv, and every tool quiet and offline.
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: help setup up down status train run monitor test bench bench-monitor bench-retrain evidently-ui lint format clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-13s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: .venv/.synced ## Install pipenv if missing, then the locked dependencies into .venv

.venv/.synced: Pipfile.lock
	@$(PYTHON) -m pipenv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet pipenv
	$(PIPENV) sync --dev
	@touch $@

up: setup ## Start the whole system on 127.0.0.1: Prefect, MLflow, Evidently UI, mail sink, deployments, worker
	$(RUN) python -m heart_batch.stack up

down: ## Stop exactly what `make up` started (pid files and logs are in .state/)
	$(RUN) python -m heart_batch.stack down

status: ## Which services of `make up` are running and answering
	$(RUN) python -m heart_batch.stack status

train: setup ## Tune, log to MLflow and register a model (champion only if it beats the current one)
	$(RUN) python -m flows.train

run: setup ## The main job: train if there is no champion yet, then score every CSV in the input folder
	@test -d $(INPUT_DIR) || { mkdir -p $(INPUT_DIR) && cp -p data/examples/*.csv $(INPUT_DIR)/ && \
		echo "First run: copied the example export data/examples/example_patients.csv into $(INPUT_DIR)/"; }
	@$(RUN) python -m heart_batch has-champion || $(MAKE) --no-print-directory train
	$(RUN) python -m flows.score

monitor: setup ## Judge the rows scored since the last window: drift, quality, alert, retrain
	$(RUN) python -m flows.monitor

evidently-ui: setup ## Serve the Evidently workspace of monitored windows on http://127.0.0.1:8000
	$(RUN) evidently ui --workspace $(or $(HEART_EVIDENTLY_WORKSPACE),outputs/evidently) --host 127.0.0.1 --port 8000

bench-monitor: setup ## Monitoring's alarm rates by window size against fixed thresholds, Evidently, NannyML-style
	$(RUN) python -m tests.benchmarks.bench_monitoring

bench-retrain: setup ## Retraining on new labelled rows, 10 seeds: Brier on held-out hospital rows; no churn
	$(RUN) python -m tests.benchmarks.bench_retraining

bench: setup ## Benchmark scoring: 1M rows vs I/O floor and model alone, start-up, peak RSS at 1M and 5M rows
	$(RUN) python -m tests.benchmarks.bench_scoring

test: setup ## Run the whole test suite (unit, integration, end-to-end, container image)
	$(RUN) pytest

lint: setup ## Run the pre-commit hooks (black, pylint, hadolint, actionlint, file checks) on every file
	$(RUN) pre-commit run --all-files

format: setup ## Format the code with black
	$(RUN) black .

clean: ## Stop `make up` if it runs, then delete local state: stores, outputs, .state, .cache (asks nothing)
	@if [ -d .state/pids ]; then $(RUN) python -m heart_batch.stack down; fi
	rm -rf mlflow.db mlartifacts heart.db outputs/*.parquet .state .cache
