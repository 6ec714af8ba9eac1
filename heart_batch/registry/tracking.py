"""MLflow wiring: where runs and models are stored, and what a run records about its code."""

import subprocess
from pathlib import Path

import mlflow

from heart_batch.settings import Settings


def connect(settings: Settings) -> None:
    """Point MLflow's tracking and registry clients at the configured store."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def configure_tracking(settings: Settings) -> str:
    """Connect to the configured store and return the experiment's id (created if new)."""
    connect(settings)
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = settings.artifact_location if settings.tracking_store_is_database else None
    return mlflow.create_experiment(settings.experiment_name, artifact_location=artifact_location)


def git_commit(folder: Path) -> str:
    """The commit checked out in ``folder``, with ``-dirty`` if it has local changes."""
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        dirty = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()
