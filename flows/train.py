"""Nightly training: tune, judge the contenders on today's data, register, promote the better."""

from mlflow import MlflowClient
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, State

from flows.command import run_from_shell
from heart_batch.model.bands import BandTargets
from heart_batch.model.pipeline import check_families
from heart_batch.registry.tracking import artifact_link, code_version, configure_tracking
from heart_batch.settings import Settings
from heart_batch.training.cross_validation import CvPlan
from heart_batch.training.card import CARD_ARTIFACT
from heart_batch.training.data import (
    OtherHospitals,
    TrainingData,
    load_current_training_data,
    load_other_hospitals,
)
from heart_batch.training.run import (
    Candidate,
    EvidenceInputs,
    GateInputs,
    Incumbent,
    load_incumbent,
    publish_version,
    train_candidate,
)
from heart_batch.training.summary import (
    TrainingOutcome,
    one_line,
    run_name,
    training_markdown,
    version_description,
)


@task(retries=2, retry_delay_seconds=5)
def load_data(settings: Settings) -> TrainingData:
    """Read the seed CSV and the labelled scored rows through the feature contract."""
    return load_current_training_data(settings)


@task(retries=2, retry_delay_seconds=5)
def load_other_hospitals_rows(settings: Settings) -> OtherHospitals | None:
    """Other hospitals' labelled rows, for the model card's external figures."""
    return load_other_hospitals(settings.other_hospitals_data, settings.max_missing_features)


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
    run: tuple[str, str, str],
    evidence: EvidenceInputs,
) -> Candidate:
    """Search, judge new, refresh and incumbent, fit and log the challenger in one MLflow run."""
    return train_candidate(data, plan, search, run, incumbent, gate, evidence)


@task(retries=2, retry_delay_seconds=5)
def register(settings: Settings, candidate: Candidate, description: str) -> TrainingOutcome:
    """Register the challenger as champion or challenger, as the gate decided, with its card."""
    version = publish_version(MlflowClient(), settings.model_name, candidate, description)
    decision = candidate.decision
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
) -> State:
    """Train a calibrated heart-disease risk model and promote it if it should serve.

    The run ends with its outcome in one line (the version, its alias and why) as its state
    message; called as a function, it returns the ``TrainingOutcome``. Each parameter is validated
    like its setting (docs/settings.md): ``cv_folds=0`` or an unknown family fails the run before
    it trains.

    Args:
        max_evals: Hyperopt trials (default HEART_MAX_EVALS).
        seed: Seed of search, folds and models (default HEART_SEED).
        families: Model families to search (default: logistic_regression and
            gradient_boosting, which respect the features' established directions; svc only
            when named).
        cv_folds: Folds per cross-validation repeat (default HEART_CV_FOLDS).
        cv_repeats: Cross-validation repeats (default HEART_CV_REPEATS).
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
    name = run_name(trigger, "auto-scheduled" in flow_run.get_tags())
    candidate = tune_and_judge(
        data,
        plan,
        (settings.max_evals, families),
        incumbent,
        GateInputs(settings, tuple(flagged_sources or ()), trigger),
        (experiment_id, code_version(settings), name),
        EvidenceInputs(
            BandTargets.from_settings(settings),
            settings.model_name,
            load_other_hospitals_rows(settings),
        ),
    )
    card_link = artifact_link(
        settings.mlflow_tracking_uri, experiment_id, candidate.run_id, CARD_ARTIFACT
    )
    outcome = register(
        settings, candidate, version_description(candidate, len(data.features), name, card_link)
    )
    _publish(settings.model_name, candidate, incumbent, outcome, (trigger, card_link))
    line = one_line(outcome, candidate, len(data.features))
    logger.info("%s", line)
    return Completed(message=line, data=outcome)


def _publish(name: str, candidate: Candidate, incumbent, outcome, why_and_card) -> None:
    """The ``training-result`` artifact, starting with why the run was started."""
    trigger, card_link = why_and_card
    markdown = training_markdown(name, candidate, incumbent, outcome, card_link)
    create_markdown_artifact(
        key="training-result",
        markdown=f"Started by monitoring: {trigger}\n\n{markdown}" if trigger else markdown,
        description=f"{name} v{outcome.version}: {outcome.alias}: {outcome.reason}"[:400],
    )


if __name__ == "__main__":
    run_from_shell(train)
