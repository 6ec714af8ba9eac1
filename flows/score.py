"""Hourly scoring: every settled CSV in the input folder becomes outputs/predictions_<ID>.parquet.

Module-level imports stay light (Prefect, settings, the input folder): a run that finds no new file
never imports pandas, scikit-learn or MLflow, and never loads the model.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, State

from flows.command import run_from_shell
from flows.retries import unless_nothing_to_load
from heart_batch.scoring.inbox import InboxScan, scan_inbox
from heart_batch.scoring.summary import ACCEPTED, ScoringSummary, describe, describe_settling
from heart_batch.settings import Settings

if TYPE_CHECKING:  # heavy modules, imported by the tasks only when there is work
    from heart_batch.scoring.intake import FileOutcome, Intake
    from heart_batch.scoring.scorer import ScoringModel


@task
def scan(settings: Settings) -> InboxScan:
    """Settled and still-settling CSV files in the input folder."""
    return scan_inbox(settings.input_dir, settings.settle_seconds)


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=unless_nothing_to_load)
def load_model(settings: Settings) -> "ScoringModel":
    """Load the champion once for the run; fails at once if there is none."""
    # Heavy imports only when there is work.
    # pylint: disable=import-outside-toplevel
    from heart_batch.scoring.intake import load_scoring_model

    return load_scoring_model(settings)


@task(cache_policy=NO_CACHE)
def refuse_link(path: Path, settings: Settings) -> "FileOutcome":
    """Quarantine a link found in the input folder (the link itself; what it points at is never
    read)."""
    # pylint: disable=import-outside-toplevel
    from heart_batch.scoring.intake import open_intake, refuse_entry

    return refuse_entry(path, open_intake(settings), "a symbolic link")


@task(cache_policy=NO_CACHE)
def score_one(path: Path, intake: "Intake", model: "ScoringModel") -> "FileOutcome":
    """Claim, score, record and archive (or quarantine) one file."""
    # pylint: disable=import-outside-toplevel
    from heart_batch.scoring.intake import process_file

    return process_file(path, intake, model)


@task(cache_policy=NO_CACHE)
def score_one_on_cluster(path: Path, settings: Settings, model: "ScoringModel") -> "FileOutcome":
    """``score_one`` on a Dask worker, which opens its own intake (database connections do not
    travel); a worker lost mid-file leaves a claim whose process is gone, so the retry takes it
    over."""
    # pylint: disable=import-outside-toplevel
    from heart_batch.scoring.intake import open_intake, process_file

    intake = open_intake(settings)
    try:
        return process_file(path, intake, model)
    finally:
        intake.ledger.engine.dispose()


@flow(name="score-files-on-dask")
def score_on_cluster(paths: list, settings: Settings, model) -> list:
    """Every file as a task on the Dask cluster of the flow's task runner, in parallel."""
    futures = [score_one_on_cluster.submit(path, settings, model) for path in paths]
    return [future.result() for future in futures]


def _score_files(paths: list, settings: Settings, model) -> list:
    """Score the files on the Dask cluster of ``HEART_DASK_ADDRESS``, or one by one here."""
    # pylint: disable=import-outside-toplevel
    if settings.dask_address:
        from prefect_dask import DaskTaskRunner

        # prefect-dask's runner is a TaskRunner of its own futures, which Prefect's hint misses.
        runner: Any = DaskTaskRunner(address=settings.dask_address)
        return score_on_cluster.with_options(task_runner=runner)(paths, settings, model)
    from heart_batch.scoring.intake import open_intake

    intake = open_intake(settings)
    return [score_one(path, intake, model) for path in paths]


@flow(name="score-heart-risk")
def score(settle_seconds: float | None = None, max_missing_features: int | None = None) -> State:
    """Score every new CSV in the input folder with the champion model.

    The run ends with its outcome in one line as its state message; called as a function, it
    returns the ``ScoringSummary``.

    Args:
        settle_seconds: Pick up only files unchanged for this long (default HEART_SETTLE_SECONDS).
        max_missing_features: Most missing features a scored row may have (default
            HEART_MAX_MISSING_FEATURES).
    """
    # Heavy imports only when there is work.
    # pylint: disable=import-outside-toplevel
    settings = Settings().with_overrides(
        settle_seconds=settle_seconds, max_missing_features=max_missing_features
    )
    logger = get_run_logger()
    inbox = scan(settings)
    summary = ScoringSummary(
        settling=len(inbox.settling),
        unsupported=[path.name for path in inbox.unsupported],
        not_files=[f"{entry.path.name} ({entry.kind})" for entry in inbox.not_files],
    )
    for name in summary.unsupported:
        logger.warning("%s: not scored: unsupported type, left where it is (%s)", name, ACCEPTED)
    for name in summary.not_files:
        logger.warning("%s: not scored: not a file, left where it is", name)
    for link in inbox.links:
        summary.files.append(refuse_link(link, settings))
        logger.warning("%s", describe(summary.files[-1]))
    for waiting in inbox.settling:
        logger.info("%s", describe_settling(waiting, settings.settle_seconds))
    if not inbox.ready:
        return _finish(summary, settings)

    model = load_model(settings)
    summary.model_version = model.version
    logger.info(
        "Scoring %d file(s) with %s v%s (%s; reasons: %s)%s",
        len(inbox.ready),
        model.name,
        model.version,
        model.scorer,
        _reasons_method(model, settings),
        f" on the Dask cluster at {settings.dask_address}" if settings.dask_address else "",
    )
    for outcome in _score_files(inbox.ready, settings, model):
        summary.files.append(outcome)
        (logger.info if outcome.status in ("scored", "duplicate") else logger.warning)(
            "%s", describe(outcome)
        )
    return _finish(summary, settings)


def _finish(summary: ScoringSummary, settings: Settings) -> State:
    """Publish the artifact, log the one-line summary and end the run with it as its message;
    raise when a file failed (it stays in the input folder)."""
    line = summary.one_line(settings.input_dir)
    create_markdown_artifact(
        key="scoring-run",
        markdown=summary.markdown(settings.input_dir, settings.output_dir),
        description=summary.description(),
    )
    get_run_logger().info("%s", line)
    if summary.count("failed"):
        raise RuntimeError(line)
    return Completed(message=line, data=summary)


def _reasons_method(model, settings: Settings) -> str:
    if model.explainer is not None:
        return model.explainer.method
    return "off (HEART_REASONS=false)" if not settings.reasons else "none, no reference data"


if __name__ == "__main__":
    run_from_shell(score)
