# heart-batch: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
PIPENV := $(PYTHON) -m pipenv
RUN := $(PIPENV) run

# Keep the environment in .venv, and every tool quiet and offline.
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: help setup train test lint format clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: .venv/.synced ## Install pipenv if missing, then the locked dependencies into .venv

.venv/.synced: Pipfile.lock
	@$(PYTHON) -m pipenv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet pipenv
	$(PIPENV) sync --dev
	@touch $@

train: setup ## Tune, log to MLflow and register a model (champion only if it beats the current one)
	$(RUN) python -m flows.train

test: setup ## Run the whole test suite (unit and integration)
	$(RUN) pytest

lint: setup ## Run the pre-commit hooks (black, pylint, file checks) on every file
	$(RUN) pre-commit run --all-files

format: setup ## Format the code with black
	$(RUN) black .

clean: ## Delete local state: MLflow store and artifacts (asks nothing: be sure)
	rm -rf mlflow.db mlartifacts
