"""Hourly scoring: every settled CSV in the input folder becomes outputs/predictions_<ID>.parquet.

Module-level imports stay light (Prefect, settings, the input folder): a run that finds no new file
never imports pandas, scikit-learn or MLflow, and never loads the model.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.command import run_from_shell
from flows.retries import unless_nothing_to_load
from heart_batch.scoring.inbox import SUPPORTED_SUFFIXES, InboxScan, Settling, scan_inbox
from heart_batch.settings import Settings

if TYPE_CHECKING:  # heavy modules, imported by the tasks only when there is work
    from heart_batch.scoring.intake import FileOutcome, FileStatus, Intake
    from heart_batch.scoring.scorer import ScoringModel

ACCEPTED = "the input folder takes " + ", ".join(f"*{suffix}" for suffix in SUPPORTED_SUFFIXES)


@dataclass
class ScoringSummary:
    """What one scoring run did, in aggregates."""

    model_version: str = ""
    files: list["FileOutcome"] = field(default_factory=list)
    settling: int = 0
    unsupported: list[str] = field(default_factory=list)
    not_files: list[str] = field(default_factory=list)

    def count(self, status: "FileStatus") -> int:
        """Files that ended with ``status``."""
        return sum(outcome.status == status for outcome in self.files)

    def rows(self, attribute: str) -> int:
        """Sum of a row count over the scored files."""
        return sum(getattr(o.counts, attribute) for o in self.files if o.counts is not None)


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
def score(
    settle_seconds: float | None = None, max_missing_features: int | None = None
) -> ScoringSummary:
    """Score every new CSV in the input folder with the champion model.

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
        logger.warning("%s", _describe(summary.files[-1]))
    for waiting in inbox.settling:
        logger.info("%s", _describe_settling(waiting, settings.settle_seconds))
    if not inbox.ready:
        logger.info(
            "Nothing to score in %s%s",
            settings.input_dir,
            f" yet: {len(inbox.settling)} file(s) waiting to settle" if inbox.settling else "",
        )
        _publish(summary, settings)
        return summary

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
            "%s", _describe(outcome)
        )
    _publish(summary, settings)
    failed = [o.source_name for o in summary.files if o.status == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} file(s) failed and stay in the input folder: {failed}")
    return summary


def _reasons_method(model, settings: Settings) -> str:
    if model.explainer is not None:
        return model.explainer.method
    return "off (HEART_REASONS=false)" if not settings.reasons else "none, no reference data"


def _describe_settling(waiting: Settling, settle_seconds: float) -> str:
    return (
        f"{waiting.path.name}: changed less than {settle_seconds:g} s ago (HEART_SETTLE_SECONDS), "
        f"so it may still be being copied; the first run after "
        f"{waiting.ready_at:%H:%M:%S} UTC scores it (HEART_SETTLE_SECONDS=0 skips the wait)"
    )


def _describe(outcome) -> str:
    if outcome.status == "scored":
        c = outcome.counts
        broken = f" ({c.broken} broken line(s))" if c.broken else ""
        headers = f", {c.headers} repeated header(s) skipped" if c.headers else ""
        written = "" if outcome.dialect == "separated by ','" else f" [{outcome.dialect}]"
        notes = "".join(f"; {note}" for note in outcome.notes)
        return (
            f"{outcome.source_name}{written}: {c.total} rows, {c.scored} scored, "
            f"{c.rejected} rejected{broken}, {c.imputed} imputed{headers} "
            f"-> predictions_{outcome.file_id}.parquet{notes}"
        )
    if outcome.status == "quarantined":
        return (
            f"{outcome.source_name}: quarantined ({outcome.problem.problem}); report: "
            f"{outcome.report}"
        )
    if outcome.status == "duplicate":
        return f"{outcome.source_name}: content already scored as {outcome.file_id}, archived"
    if outcome.status == "busy":
        return f"{outcome.source_name}: being scored by another run, skipped"
    if outcome.status == "changed":
        return f"{outcome.source_name}: changed while it was read: {outcome.error}"
    return f"{outcome.source_name}: failed ({outcome.error}), left for the next run"


def _table_row(outcome) -> str:
    if outcome.counts:
        c = outcome.counts
        figures = f"{c.total} | {c.scored} | {c.rejected} | {c.imputed}"
    else:
        figures = f" | | | {outcome.problem.problem if outcome.problem else outcome.error}"
    return f"| {outcome.source_name} | {outcome.status} | {figures} |"


def _publish(summary: ScoringSummary, settings: Settings) -> None:
    rows = [_table_row(outcome) for outcome in summary.files]
    rows += [f"| {name} | not scored: unsupported type | | | | |" for name in summary.unsupported]
    rows += [f"| {name} | not scored: not a file | | | | |" for name in summary.not_files]
    table = "\n".join(rows)
    markdown = (
        f"# Scoring run\n\nModel version: **{summary.model_version or '-'}**. "
        f"Files scored: **{summary.count('scored')}**, quarantined: "
        f"**{summary.count('quarantined')}**, duplicates: {summary.count('duplicate')}, "
        f"failed: {summary.count('failed')}, still settling: {summary.settling}, "
        f"unsupported: {len(summary.unsupported)}.\n\n"
        f"Rows scored: **{summary.rows('scored')}**, rejected: **{summary.rows('rejected')}**, "
        f"imputed: {summary.rows('imputed')}. Outputs in `{settings.output_dir}`.\n\n"
        "| file | status | rows | scored | rejected | imputed / problem |\n"
        "|---|---|---|---|---|---|\n" + table + "\n"
    )
    create_markdown_artifact(key="scoring-run", markdown=markdown, description="Scoring run")


if __name__ == "__main__":
    run_from_shell(score)
