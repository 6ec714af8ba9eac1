"""Nightly training: tune, log to MLflow, register, promote only a better model."""

from dataclasses import dataclass

from mlflow import MlflowClient
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from heart_batch.data import TrainingData, load_current_training_data
from heart_batch.evaluation import CvPlan
from heart_batch.model import MODEL_FAMILIES
from heart_batch.registry import promotion_gate, register_candidate
from heart_batch.settings import Settings
from heart_batch.tracking import configure_tracking, git_commit
from heart_batch.training import Candidate, ChampionScores, evaluate_champion, train_candidate


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


@task
def tune_and_log(
    data: TrainingData,
    plan: CvPlan,
    max_evals: int,
    families: list[str],
    settings: Settings,
    experiment_id: str,
) -> Candidate:
    """Search, fit and log the candidate in one MLflow run."""
    return train_candidate(
        data,
        plan,
        max_evals,
        families,
        experiment_id=experiment_id,
        code_version=git_commit(settings.home),
    )


@task(retries=2, retry_delay_seconds=5)
def score_champion(settings: Settings, data: TrainingData, plan: CvPlan) -> ChampionScores | None:
    """Re-evaluate the current champion on the candidate's data and folds."""
    return evaluate_champion(MlflowClient(), settings.model_name, data, plan)


@task(retries=2, retry_delay_seconds=5)
def register(settings: Settings, candidate: Candidate, champion: ChampionScores | None):
    """Register the candidate as champion or challenger."""
    decision = promotion_gate(
        candidate.scores,
        champion.scores if champion else None,
        min_auc_gain=settings.min_auc_gain,
        max_brier_increase=settings.max_brier_increase,
    )
    version = register_candidate(
        MlflowClient(), settings.model_name, candidate.model_uri, candidate.run_id, decision
    )
    return TrainingOutcome(version, decision.alias, decision.reason, candidate.run_id)


@flow(name="train-heart-risk")
def train(
    max_evals: int | None = None,
    seed: int | None = None,
    families: list[str] | None = None,
    cv_folds: int | None = None,
    cv_repeats: int | None = None,
) -> TrainingOutcome:
    """Train a calibrated heart-disease risk model and promote it if it beats the champion.

    Args:
        max_evals: Hyperopt trials (default HEART_MAX_EVALS).
        seed: Seed of search, folds and models (default HEART_SEED).
        families: Model families to search (default: all of logistic_regression, svc,
            gradient_boosting).
        cv_folds: Folds per cross-validation repeat (default HEART_CV_FOLDS).
        cv_repeats: Cross-validation repeats (default HEART_CV_REPEATS).
    """
    settings = Settings()
    logger = get_run_logger()
    experiment_id = configure_tracking(settings)
    plan = CvPlan(
        folds=cv_folds or settings.cv_folds,
        repeats=cv_repeats or settings.cv_repeats,
        seed=settings.seed if seed is None else seed,
    )
    data = load_data(settings)
    logger.info(
        "Training on %d rows from %s (%d duplicates dropped, %d rejected), %s",
        len(data.features),
        data.sources,
        data.dropped_duplicates,
        data.rejected,
        plan,
    )
    candidate = tune_and_log(
        data,
        plan,
        max_evals or settings.max_evals,
        list(families or MODEL_FAMILIES),
        settings,
        experiment_id,
    )
    champion = score_champion(settings, data, plan)
    outcome = register(settings, candidate, champion)
    logger.info("Version %s is %s: %s", outcome.version, outcome.alias, outcome.reason)
    create_markdown_artifact(
        key="training-result",
        markdown=_summary(settings.model_name, candidate, champion, outcome),
        description=f"{settings.model_name} v{outcome.version}: {outcome.alias}",
    )
    return outcome


def _summary(
    name: str, candidate: Candidate, champion: ChampionScores | None, outcome: TrainingOutcome
) -> str:
    rows = [
        ("candidate", f"v{outcome.version}", candidate.scores),
        *([("champion before", f"v{champion.version}", champion.scores)] if champion else []),
    ]
    table = "\n".join(
        f"| {role} | {version} | {s.roc_auc:.4f} ± {s.roc_auc_std:.4f} | {s.brier:.4f} "
        f"| {s.accuracy:.3f} |"
        for role, version, s in rows
    )
    return (
        f"# Training of `{name}`\n\n"
        f"**Version {outcome.version} → `{outcome.alias}`**: {outcome.reason}\n\n"
        f"Best of {candidate.trials} trials: `{candidate.params}`\n\n"
        f"MLflow run `{outcome.run_id}`\n\n"
        "| model | version | ROC AUC (CV) | Brier | accuracy |\n|---|---|---|---|---|\n"
        f"{table}\n"
    )


if __name__ == "__main__":
    train()
