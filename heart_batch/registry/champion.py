"""Which model is the champion: the registry's aliases and the gate a challenger must pass."""

from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from sklearn.pipeline import Pipeline

from heart_batch.model.bands import RiskBands, with_bands
from heart_batch.storage.urls import without_password

CHAMPION = "champion"
CHALLENGER = "challenger"
REFERENCE_ARTIFACT = "reference/reference.parquet"
"""Where a training run keeps the rows monitoring compares new data with."""
BANDS_ARTIFACT = "bands/bands.json"
"""Where a training run keeps the risk bands' cut-offs, chosen on its out-of-fold risks."""


class NoChampionError(RuntimeError):
    """The registry has no champion model to score or monitor with."""


class NoReferenceError(RuntimeError):
    """The champion's training run has no reference data to monitor against."""


class ModelLoadError(RuntimeError):
    """The champion's artifacts are missing or unreadable; the message names the version."""


REFERENCE_TAG = "reference"
"""Tag of a training run that logged its reference data (``REFERENCE_ARTIFACT``). Runs of releases
before the tag carry ``data_sources``: they were trained by heart-batch too."""


@dataclass(frozen=True)
class Champion:
    """The model the rest of the system uses, loaded from ``models:/<name>@champion``."""

    name: str
    version: str
    run_id: str
    model: Pipeline


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of the promotion gate (``training.promotion``), with the reason in words."""

    promote: bool
    reason: str

    @property
    def alias(self) -> str:
        """Alias the new version receives."""
        return CHAMPION if self.promote else CHALLENGER


def champion_version(client: MlflowClient, name: str) -> ModelVersion | None:
    """The version holding the champion alias, or None if there is none yet."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise


def require_champion(client: MlflowClient, name: str) -> ModelVersion:
    """The champion's registry entry.

    Raises:
        NoChampionError: No version of ``name`` has the champion alias yet.
    """
    version = champion_version(client, name)
    if version is None:
        raise NoChampionError(
            f"No champion model: registered model '{name}' has no '{CHAMPION}' alias in "
            f"{without_password(client.tracking_uri)}. Run training first: `make train` "
            "(or `prefect deployment run 'train-heart-risk/train'`)."
        )
    return version


def load_champion(client: MlflowClient, name: str) -> Champion:
    """Load the champion pipeline.

    Raises:
        NoChampionError: No version of ``name`` has the champion alias yet.
    """
    version = require_champion(client, name)
    uri = f"models:/{name}@{CHAMPION}"
    try:
        model = mlflow.sklearn.load_model(uri)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # A deleted file, a corrupt archive, a store that does not answer: name the version.
        raise ModelLoadError(
            f"Cannot load {name} v{version.version} ({uri}, run {version.run_id}) from "
            f"{without_password(client.tracking_uri)}: {_short(error)}. Restore its artifacts, "
            "or retrain (`make train`) and promote a new champion."
        ) from error
    return Champion(
        name=name, version=str(version.version), run_id=version.run_id or "", model=model
    )


def load_reference(version: ModelVersion | Champion) -> pd.DataFrame | None:
    """The reference rows logged with a model version: features, label, ``risk`` (the model's
    own prediction, as in production) and ``oof_risk`` (the out-of-fold risk of
    cross-validation). None for a version not trained by heart-batch (registered by hand).

    Raises:
        NoReferenceError: The version was trained by heart-batch but its reference data is
            missing or unreadable.
    """
    uri = f"runs:/{version.run_id}/{REFERENCE_ARTIFACT}"
    try:
        return pd.read_parquet(mlflow.artifacts.download_artifacts(uri))
    except (MlflowException, OSError, ValueError) as error:
        tags = MlflowClient().get_run(version.run_id).data.tags if version.run_id else {}
        if REFERENCE_TAG not in tags and "data_sources" not in tags:
            return None
        raise NoReferenceError(
            f"The reference data of model version {version.version} ({uri}) is missing or "
            f"unreadable: {_short(error)}. Its risk bands and reasons, and monitoring, need it: "
            "restore the artifact, or retrain (`make train`) and promote a new champion."
        ) from error


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"


def load_bands(run_id: str) -> RiskBands | None:
    """The risk bands a training run logged; None for a run that logged none (a model registered
    by hand). Every supported release logs them with the reference (see docs/upgrading.md)."""
    try:
        return RiskBands.from_dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{BANDS_ARTIFACT}"))
    except (MlflowException, OSError):
        return None


def register_candidate(
    client: MlflowClient, name: str, logged: tuple[str, str, str], decision: PromotionDecision
) -> str:
    """Register the model, give it the decided alias and record the reason on version and run.

    ``logged`` is the model's URI, its run's id and the version's description (the decision, its
    reason and the figures, as the MLflow UI shows it).

    Idempotent: a retry after a failure (the version created, the alias not yet set) finds the
    version this run registered and finishes it, so that a run never makes two versions.

    Returns:
        The version number.
    """
    model_uri, run_id, description = logged
    version = _version_of_run(client, name, run_id) or str(
        mlflow.register_model(model_uri, name).version
    )
    client.update_model_version(name, version, description=description)
    client.set_model_version_tag(name, version, "promotion_reason", decision.reason)
    client.set_registered_model_alias(name, decision.alias, version)
    client.set_tag(run_id, "promotion.alias", decision.alias)
    client.set_tag(run_id, "promotion.reason", decision.reason)
    client.set_tag(run_id, "registered_version", version)
    return version


def _version_of_run(client: MlflowClient, name: str, run_id: str) -> str | None:
    """The version of ``name`` that run ``run_id`` registered, if it did."""
    try:
        versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:  # no such registered model yet
        return None
    return str(min(int(version.version) for version in versions)) if versions else None


@dataclass(frozen=True)
class ChampionReference:
    """The champion's identity, the reference data it was trained with and its risk bands (the
    reference then has each row's band code, ``risk_band``)."""

    name: str
    version: str
    reference: pd.DataFrame
    bands: RiskBands | None = None


def load_champion_reference(client: MlflowClient, name: str) -> ChampionReference:
    """The champion's version, reference rows and risk bands, without loading the model itself.

    Raises:
        NoChampionError: No champion yet.
        NoReferenceError: The champion has no reference data, or lost it.
    """
    version = require_champion(client, name)
    reference = load_reference(version)
    if reference is None:
        raise NoReferenceError(
            f"Model version {version.version} of {name} has no reference data: it was not "
            "trained by heart-batch's train flow. Retrain (`make train`) to give the champion one."
        )
    bands = load_bands(version.run_id) if version.run_id else None
    return ChampionReference(name, str(version.version), with_bands(reference, bands), bands)
