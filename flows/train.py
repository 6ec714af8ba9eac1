"""Nightly training: tune, judge the contenders on today's data, register, promote the better."""

from dataclasses import dataclass

from mlflow import MlflowClient
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.command import run_from_shell
from heart_batch.model.bands import BandTargets
from heart_batch.model.pipeline import check_families
from heart_batch.registry.champion import register_candidate
from heart_batch.registry.tracking import code_version, configure_tracking
from heart_batch.settings import Settings
from heart_batch.training.cross_validation import CvPlan
from heart_batch.training.data import TrainingData, load_current_training_data
from heart_batch.training.promotion import decision_table
from heart_batch.training.run import (
    Candidate,
    GateInputs,
    Incumbent,
    load_incumbent,
    train_candidate,
)


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run produced."""

    version: str
    alias: str
    reason: str
    run_id: str


@task(retries=2, retry_delay_seconds=5)
def load_data(settings: Settings) -> TrainingData:
    """Read the seed CSV and the labelled scored rows through the feature contract."""
    return load_current_training_data(settings)


@task(retries=2, retry_delay_seconds=5)
def load_champion_as_deployed(settings: Settings) -> Incumbent | None:
    """The deployed champion, its reference and what it was trained on (None if none yet)."""
    return load_incumbent(MlflowClient(), settings.model_name)


@task
def tune_and_judge(
    data: TrainingData,
    plan: CvPlan,
    search: tuple[int, list[str]],
    incumbent: Incumbent | None,
    gate: GateInputs,
    run: tuple[str, str],
    band_targets: BandTargets,
) -> Candidate:
    """Search, judge new, refresh and incumbent, fit and log the challenger in one MLflow run."""
    return train_candidate(data, plan, search, run, incumbent, gate, band_targets)


@task(retries=2, retry_delay_seconds=5)
def register(settings: Settings, candidate: Candidate) -> TrainingOutcome:
    """Register the challenger as champion or challenger, as the gate decided."""
    decision = candidate.decision
    version = register_candidate(
        MlflowClient(), settings.model_name, candidate.model_uri, candidate.run_id, decision
    )
    return TrainingOutcome(version, decision.alias, decision.reason, candidate.run_id)


@flow(name="train-heart-risk")
def train(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    max_evals: int | None = None,
    seed: int | None = None,
    families: list[str] | None = None,
    cv_folds: int | None = None,
    cv_repeats: int | None = None,
    trigger: str = "",
    flagged_sources: list[str] | None = None,
) -> TrainingOutcome:
    """Train a calibrated heart-disease risk model and promote it if it should serve.

    Args:
        max_evals: Hyperopt trials (default HEART_MAX_EVALS).
        seed: Seed of search, folds and models (default HEART_SEED).
        families: Model families to search (default: all of logistic_regression, svc,
            gradient_boosting).
        cv_folds: Folds per cross-validation repeat (default HEART_CV_FOLDS).
        cv_repeats: Cross-validation repeats (default HEART_CV_REPEATS).

    Each parameter is validated like its setting (docs/settings.md): ``cv_folds=0`` or an unknown
    family fails the run before it trains.
        trigger: Why this run was started, when monitoring started it (recorded on the run).
        flagged_sources: Data sources monitoring found drifting: a challenger that improves their
            Brier score, and is no worse pooled, is promoted.
    """
    settings = Settings().with_overrides(
        max_evals=max_evals, seed=seed, cv_folds=cv_folds, cv_repeats=cv_repeats
    )
    families = check_families(families)
    logger = get_run_logger()
    experiment_id = configure_tracking(settings)
    plan = CvPlan.from_settings(settings)
    if trigger:
        logger.info("Started by monitoring: %s", trigger)
    data = load_data(settings)
    logger.info(
        "Training on %d rows from %s (%d duplicates dropped, %d rejected), %s",
        len(data.features),
        data.sources,
        data.dropped_duplicates,
        data.rejected,
        plan,
    )
    incumbent = load_champion_as_deployed(settings)
    gate = GateInputs(
        settings,
        tuple(flagged_sources or ()),
        trigger,
    )
    search = (settings.max_evals, families)
    run = (experiment_id, code_version(settings))
    candidate = tune_and_judge(
        data, plan, search, incumbent, gate, run, BandTargets.from_settings(settings)
    )
    outcome = register(settings, candidate)
    logger.info("Version %s is %s: %s", outcome.version, outcome.alias, outcome.reason)
    create_markdown_artifact(
        key="training-result",
        markdown=_summary(settings.model_name, candidate, incumbent, outcome, trigger),
        description=f"{settings.model_name} v{outcome.version}: {outcome.alias}",
    )
    return outcome


def _summary(name: str, candidate: Candidate, incumbent, outcome, trigger: str) -> str:
    scores = candidate.scores
    lines = [
        f"# Training of `{name}`",
        "",
        f"**Version {outcome.version} → `{outcome.alias}`**: {outcome.reason}",
        "",
        f"Challenger: {candidate.configuration}. "
        f"Cross-validated ROC AUC {scores.roc_auc:.4f} ± {scores.roc_auc_std:.4f}, "
        f"Brier {scores.brier:.4f}, accuracy {scores.accuracy:.3f}.",
        "",
        f"Chosen among {candidate.trials} trials by the one-standard-error rule: "
        f"{candidate.selection.describe()}.",
        "",
        f"Incumbent: {f'v{incumbent.version}' if incumbent else 'none'}. "
        "Every contender judged by its out-of-sample risk of every current row:",
        "",
        decision_table(candidate.contenders),
        "",
        "Risk bands of this version (`risk_band` in the predictions), chosen on its out-of-fold "
        "risks, with 95 % intervals:",
        "",
        candidate.bands.describe(),
        f"MLflow run `{outcome.run_id}`",
    ]
    if trigger:
        lines[1:1] = ["", f"Started by monitoring: {trigger}"]
    return "\n".join(lines)


if __name__ == "__main__":
    run_from_shell(train)
