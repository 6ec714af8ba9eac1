"""MLflow wiring: where runs and models are stored, and what a run records about its code."""

import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import mlflow

from heart_batch.settings import PROJECT_ROOT, Settings, TrainingSettings


def connect(settings: Settings) -> None:
    """Point MLflow's tracking and registry clients at the configured store."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""The experiment's kind, so that the MLflow UI opens it on its runs (not the GenAI overview)."""


def configure_tracking(settings: Settings) -> str:
    """Connect to the configured store and return the experiment's id (created if new)."""
    connect(settings)
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        artifact_location = (
            settings.artifact_location if settings.tracking_store_is_database else None
        )
        experiment_id = mlflow.create_experiment(
            settings.experiment_name, artifact_location=artifact_location
        )
    else:
        experiment_id = experiment.experiment_id
    if experiment is None or experiment.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        mlflow.MlflowClient().set_experiment_tag(experiment_id, *EXPERIMENT_KIND)
    return experiment_id


def artifact_link(tracking_uri: str, experiment_id: str, run_id: str, path: str) -> str:
    """Where a person reads a run's artifact: its page in the MLflow UI when the store is a
    tracking server, otherwise the command that downloads it."""
    if tracking_uri.startswith(("http://", "https://")):
        page = f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        return f"[{path}]({page}/artifactPath/{path})"
    return f"`mlflow artifacts download -u runs:/{run_id}/{path}`"


def code_version(settings: TrainingSettings, code_folder: Path = PROJECT_ROOT) -> str:
    """The version of the code that runs: the commit checked out where the package lives (with
    ``-dirty`` if it has local changes); outside a checkout, ``HEART_CODE_VERSION`` (the image's
    build argument); without either, the package's version."""
    try:
        commit = _git(code_folder, "rev-parse", "HEAD")
        dirty = _git(code_folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return settings.code_version or f"heart-batch {_package_version()}"
    return f"{commit}-dirty" if dirty else commit


def _package_version() -> str:
    try:
        return metadata.version("heart-batch")
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        with (PROJECT_ROOT / "pyproject.toml").open("rb") as stream:
            return str(tomllib.load(stream)["project"]["version"])


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()
