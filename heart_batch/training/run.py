"""One training run: search, judge the contenders, fit and log the challenger with its evidence."""

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from heart_batch.contract.columns import OUT_OF_FOLD_RISK
from heart_batch.contract.features import FEATURES
from heart_batch.contract.subgroups import SUBGROUPS
from heart_batch.model.bands import BandTargets, RiskBands, choose_bands
from heart_batch.model.pipeline import SKOPS_TRUSTED_TYPES, build_pipeline
from heart_batch.registry.champion import (
    BANDS_ARTIFACT,
    REFERENCE_ARTIFACT,
    REFERENCE_TAG,
    NoReferenceError,
    champion_version,
    load_champion,
    load_reference,
    register_candidate,
)
from heart_batch.settings import TrainingSettings
from heart_batch.training.cross_validation import CvPlan, CvScores, Evaluation, cross_validate
from heart_batch.training.card import (
    CALIBRATION_ARTIFACT,
    CARD_ARTIFACT,
    ModelCard,
    build_model_card,
)
from heart_batch.training.data import OtherHospitals, TrainingData
from heart_batch.training.figures import calibration_figure, card_calibration_figure, roc_figure
from heart_batch.training.promotion import (
    INCUMBENT,
    NEW,
    REFRESH,
    Contender,
    Decision,
    contender,
    decide,
    decision_table,
    incumbent_risk,
)
from heart_batch.training.selection import Selection
from heart_batch.training.tuning import tune

_CHECKSUM_TAG = "data_sha256."
ROWS_CHECKSUM_TAG = "data_rows_sha256"
"""The run's tag holding the checksum of its distinct training rows."""


@dataclass(frozen=True)
class Incumbent:
    """The deployed champion, as the promotion gate needs it."""

    version: str
    model: Pipeline
    reference: pd.DataFrame
    data_checksums: dict[str, str]
    """SHA-256 of each source file it was trained on (kept for the record)."""
    rows_checksum: str | None = None
    """SHA-256 of its distinct training rows, to tell whether the data changed since; None for a
    champion trained before it was recorded (its file checksums decide then)."""

    def trained_on(self, data: TrainingData) -> bool:
        """True when ``data`` holds exactly the rows it learnt: no new row, none gone."""
        if self.rows_checksum is not None:
            return self.rows_checksum == data.rows_checksum
        return self.data_checksums == data.checksums


@dataclass(frozen=True)
class GateInputs:
    """What the promotion gate weighs besides the figures: tolerances and the trigger."""

    tolerances: TrainingSettings
    flagged_sources: tuple[str, ...] = ()
    trigger: str = ""


@dataclass(frozen=True)
class EvidenceInputs:
    """What the challenger's evidence needs besides its figures: the bands' targets, and for its
    model card the registered model's name and the other hospitals' labelled rows."""

    band_targets: BandTargets
    model_name: str
    other_hospitals: OtherHospitals | None = None


@dataclass(frozen=True)
class Candidate:
    """The challenger, trained and logged, with the gate's decision about it."""

    run_id: str
    model_uri: str
    configuration: str
    scores: CvScores
    trials: int
    decision: Decision
    contenders: list[Contender]
    selection: Selection
    bands: RiskBands
    card: ModelCard


def load_incumbent(client: MlflowClient, name: str) -> Incumbent | None:
    """The champion, its reference and the checksums of its training data; None if none yet."""
    version = champion_version(client, name)
    if version is None:
        return None
    tags = client.get_run(version.run_id).data.tags if version.run_id else {}
    reference = load_reference(version)
    if reference is None:
        raise NoReferenceError(
            f"The champion v{version.version} has no reference data (it was registered by "
            "hand): the promotion gate cannot judge it. Register a model trained by heart-batch."
        )
    return Incumbent(
        version=str(version.version),
        model=load_champion(client, name).model,
        reference=reference,
        data_checksums={
            key.removeprefix(_CHECKSUM_TAG): value
            for key, value in tags.items()
            if key.startswith(_CHECKSUM_TAG)
        },
        rows_checksum=tags.get(ROWS_CHECKSUM_TAG),
    )


def train_candidate(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    data: TrainingData,
    plan: CvPlan,
    search: tuple[int, list[str]],
    run: tuple[str, str, str],
    incumbent: Incumbent | None,
    gate: GateInputs,
    evidence: EvidenceInputs,
) -> Candidate:
    """Tune, judge the contenders, then fit and log the challenger in one parent MLflow run.

    Args:
        data: The current training data.
        plan: The cross-validation every contender is judged by.
        search: Hyperopt trials and model families.
        run: The experiment id, the code version to record and the run's name (why it ran).
        incumbent: The deployed champion, or None.
        gate: Tolerances, and the sources monitoring flagged.
        evidence: The risk bands' targets and the model card's inputs.
    """
    experiment_id, code_version, run_name = run
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as parent:
        _log_inputs(data, plan, search, code_version, gate)
        result = tune(data, plan, *search)
        mlflow.log_metrics(result.selection.as_metrics())
        mlflow.set_tag("selection", result.selection.describe())
        refitted, contenders, decision = _judge(data, plan, result, incumbent, gate)
        pipeline, evaluation = refitted[decision.challenger]
        _log_decision(contenders, decision)
        model = clone(pipeline).fit(data.features, data.target)
        configuration = _log_challenger(decision, result.params, incumbent)
        bands = _log_bands(data, evaluation, evidence.band_targets)
        return Candidate(
            run_id=parent.info.run_id,
            model_uri=_log_model_and_evidence(model, data, evaluation),
            configuration=configuration,
            scores=evaluation.scores,
            trials=result.trials,
            decision=decision,
            contenders=contenders,
            selection=result.selection,
            bands=bands,
            card=_log_card(
                (evidence.model_name, run_name, parent.info.run_id, code_version, configuration),
                (model, evaluation.out_of_fold_risk, bands),
                data,
                evidence.other_hospitals,
                plan.seed,
            ),
        )


def _log_card(identity, fitted, data: TrainingData, other_hospitals, seed: int) -> ModelCard:
    """The model card's figures (``build_model_card``), and its calibration plot logged."""
    _, out_of_fold_risk, _ = fitted
    mlflow.log_figure(card_calibration_figure(data, out_of_fold_risk), CALIBRATION_ARTIFACT)
    return build_model_card(identity, fitted, data, other_hospitals, seed)


def _judge(data: TrainingData, plan: CvPlan, result, incumbent: Incumbent | None, gate):
    """The refitted contenders (new, and refresh when there is a champion) with their
    evaluations, every contender's figures, and the gate's decision."""
    refitted = {NEW: (build_pipeline(result.params, plan.seed), result.evaluation)}
    if incumbent is not None:
        champion_configuration = clone(incumbent.model)
        refitted[REFRESH] = (
            champion_configuration,
            cross_validate(champion_configuration, data.features, data.target, plan),
        )
    same_data = incumbent is not None and incumbent.trained_on(data)
    contenders = _contenders(data, refitted, incumbent, same_data, gate.tolerances)
    decision = decide(
        [c for c in contenders if c.name != INCUMBENT],
        next((c for c in contenders if c.name == INCUMBENT), None),
        same_data,
        list(gate.flagged_sources),
        gate.tolerances,
    )
    return refitted, contenders, decision


def publish_version(client: MlflowClient, name: str, candidate: Candidate, description: str):
    """Register the challenger with the alias the gate decided, and store its model card (which
    names the version) with its run; returns the version."""
    version = register_candidate(
        client, name, (candidate.model_uri, candidate.run_id, description), candidate.decision
    )
    client.log_text(
        candidate.run_id, candidate.card.markdown(version, candidate.decision.reason), CARD_ARTIFACT
    )
    return version


def _contenders(data: TrainingData, refitted: dict, incumbent, same_data: bool, tolerances):
    """Each contender's figures from its out-of-sample risk of every current row.

    On unchanged data, refitting the champion's configuration gives the champion itself: its
    figures are then the refresh's, on the very folds of the search's best, so that a tie is a tie
    and not fold noise.
    """
    risks = {name: evaluation.out_of_fold_risk for name, (_, evaluation) in refitted.items()}
    if same_data:
        risks[INCUMBENT] = risks.pop(REFRESH)
    elif incumbent is not None:
        risks[INCUMBENT] = incumbent_risk(
            incumbent.model, incumbent.reference, data.features, data.target
        )
    return [contender(name, data, risk, tolerances.min_source_rows) for name, risk in risks.items()]


def _log_challenger(decision: Decision, params: dict, incumbent: Incumbent | None) -> str:
    """Record which configuration the challenger is (the search's choice, or the champion's)."""
    mlflow.log_params({f"best.{key}": value for key, value in params.items()})
    if decision.challenger == REFRESH and incumbent is not None:
        configuration = f"champion v{incumbent.version}'s configuration, refitted"
    else:
        configuration = f"the search's choice: {params}"
    mlflow.set_tag("challenger", configuration)
    return configuration


def _log_model_and_evidence(model: Pipeline, data: TrainingData, evaluation: Evaluation) -> str:
    """The challenger's CV figures, plots, reference and the model itself; returns its URI."""
    fitted_risk = model.predict_proba(data.features)[:, 1]
    mlflow.log_metrics(evaluation.scores.as_metrics())
    disease, risk = data.target.to_numpy(), evaluation.out_of_fold_risk
    mlflow.log_figure(calibration_figure(disease, risk), "plots/calibration.png")
    mlflow.log_figure(roc_figure(disease, risk), "plots/roc.png")
    _log_reference(data.reference.assign(risk=fitted_risk, **{OUT_OF_FOLD_RISK: risk}))
    model_info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(data.features, fitted_risk),
        input_example=data.features.dropna().head(3),
        pyfunc_predict_fn="predict_proba",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
    return model_info.model_uri


def _log_bands(data: TrainingData, evaluation: Evaluation, targets: BandTargets) -> RiskBands:
    """Choose the risk bands' cut-offs on the out-of-fold risks; log them with their figures."""
    bands = choose_bands(evaluation.out_of_fold_risk, data.target.to_numpy(), targets)
    mlflow.log_dict(bands.as_dict(), BANDS_ARTIFACT)
    mlflow.log_metrics(bands.as_metrics())
    mlflow.log_text(bands.describe(), "bands/bands.md")
    return bands


def _log_decision(contenders: list[Contender], decision: Decision) -> None:
    """The contenders' figures as metrics and as a table, and the decision in one sentence.

    Metrics: ``gate.<contender>.<metric>`` pooled, ``gate.<contender>.<source>.<metric>`` per
    file, ``gate.<contender>.subgroup.<subgroup>.<metric>`` per subgroup (``under_50``).
    """
    keys = {group.name: group.key for group in SUBGROUPS}
    for candidate in contenders:
        figures = (
            {"": candidate.pooled}
            | {f"{source}.": f for source, f in candidate.by_source.items()}
            | {f"subgroup.{keys[name]}.": f for name, f in candidate.by_subgroup.items()}
        )
        for prefix, values in figures.items():
            mlflow.log_metrics(
                {
                    f"gate.{candidate.name}.{prefix}roc_auc": values.roc_auc,
                    f"gate.{candidate.name}.{prefix}brier": values.brier,
                }
            )
    table = decision_table(contenders)
    mlflow.log_text(f"{table}\n\n{decision.reason}\n", "promotion/contenders.md")
    mlflow.set_tag("promotion.decision", decision.reason)


def _log_inputs(data: TrainingData, plan: CvPlan, search, code_version: str, gate) -> None:
    max_evals, families = search
    mlflow.set_tag("git_commit", code_version)
    if gate.trigger:
        mlflow.set_tag("trigger", gate.trigger)
        mlflow.set_tag("trigger.sources", ", ".join(gate.flagged_sources))
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
        mlflow.set_tag(f"{_CHECKSUM_TAG}{source}", checksum)
    mlflow.set_tag(ROWS_CHECKSUM_TAG, data.rows_checksum)
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
    mlflow.set_tag(REFERENCE_TAG, REFERENCE_ARTIFACT)
