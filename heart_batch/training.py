"""One training run: search, fit the best pipeline on all rows, log everything a reviewer needs."""

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature

from heart_batch.data import TrainingData
from heart_batch.evaluation import CvPlan, CvScores, cross_validate
from heart_batch.model import SKOPS_TRUSTED_TYPES, build_pipeline
from heart_batch.plots import calibration_figure, roc_figure
from heart_batch.registry import REFERENCE_ARTIFACT, champion_version, load_champion
from heart_batch.schema import FEATURES
from heart_batch.tuning import tune


@dataclass(frozen=True)
class Candidate:
    """A trained, logged model that has not been judged yet."""

    run_id: str
    model_uri: str
    params: dict[str, Any]
    scores: CvScores
    trials: int


@dataclass(frozen=True)
class ChampionScores:
    """The current champion re-evaluated on the candidate's data and folds."""

    version: str
    scores: CvScores


def train_candidate(
    data: TrainingData,
    plan: CvPlan,
    max_evals: int,
    families: list[str],
    experiment_id: str,
    code_version: str,
) -> Candidate:
    """Tune, fit on all rows and log the model with its evidence in one parent MLflow run."""
    with mlflow.start_run(experiment_id=experiment_id, run_name="train") as run:
        _log_inputs(data, plan, max_evals, families, code_version)
        search = tune(data, plan, max_evals, families)
        model = build_pipeline(search.params, plan.seed).fit(data.features, data.target)
        fitted_risk = model.predict_proba(data.features)[:, 1]
        mlflow.log_params({f"best.{key}": value for key, value in search.params.items()})
        mlflow.log_metrics(search.evaluation.scores.as_metrics())
        disease, risk = data.target.to_numpy(), search.evaluation.out_of_fold_risk
        mlflow.log_figure(calibration_figure(disease, risk), "plots/calibration.png")
        mlflow.log_figure(roc_figure(disease, risk), "plots/roc.png")
        _log_reference(data.reference.assign(risk=fitted_risk, oof_risk=risk))
        model_info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(data.features, fitted_risk),
            input_example=data.features.dropna().head(3),
            pyfunc_predict_fn="predict_proba",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
    return Candidate(
        run_id=run.info.run_id,
        model_uri=model_info.model_uri,
        params=search.params,
        scores=search.evaluation.scores,
        trials=search.trials,
    )


def evaluate_champion(
    client: MlflowClient, name: str, data: TrainingData, plan: CvPlan
) -> ChampionScores | None:
    """Cross-validate the champion's configuration on the same data and folds, if there is one."""
    if champion_version(client, name) is None:
        return None
    champion = load_champion(client, name)
    scores = cross_validate(champion.model, data.features, data.target, plan).scores
    return ChampionScores(version=champion.version, scores=scores)


def _log_inputs(
    data: TrainingData, plan: CvPlan, max_evals: int, families: list[str], code_version: str
) -> None:
    mlflow.set_tag("git_commit", code_version)
    mlflow.set_tag(
        "data_sources", ", ".join(f"{name}={rows}" for name, rows in data.sources.items())
    )
    mlflow.log_params(
        {
            "max_evals": max_evals,
            "families": ",".join(families),
            "cv_folds": plan.folds,
            "cv_repeats": plan.repeats,
            "seed": plan.seed,
            "training_rows": len(data.features),
            "dropped_duplicates": data.dropped_duplicates,
            "rejected_rows": data.rejected,
        }
    )
    for source, checksum in data.checksums.items():
        mlflow.set_tag(f"data_sha256.{source}", checksum)
    mlflow.log_dict({"rows": data.sources, "sha256": data.checksums}, "data/sources.json")
    mlflow.log_dict(
        {"features": [dataclasses.asdict(feature) for feature in FEATURES]},
        "feature_contract.json",
    )
    mlflow.log_input(from_pandas(data.reference, name="training-data"), context="training")


def _log_reference(reference) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(REFERENCE_ARTIFACT).name
        reference.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(REFERENCE_ARTIFACT).parent))
