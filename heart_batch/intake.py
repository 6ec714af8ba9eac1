"""The life of one input file: claim it, score it, record it, then archive or quarantine it."""

import logging
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from heart_batch.dialect import FileRejectedError
from heart_batch.inbox import FileProblem, archive, file_checksum, file_id, quarantine
from heart_batch.ledger import ClaimOutcome, Ledger, ScoredCounts, new_claimant
from heart_batch.bands import BandTargets
from heart_batch.reasons import compile_explainer
from heart_batch.registry import NoReferenceError, load_bands, load_champion, load_reference
from heart_batch.scoring import ScoringModel, ScoringOptions, score_file
from heart_batch.settings import Settings
from heart_batch.tracking import connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file (aggregates only: no row values)."""

    source_name: str
    file_id: str
    status: str  # scored | duplicate | quarantined | busy (another run has it) | failed
    counts: ScoredCounts | None = None
    problem: FileProblem | None = None
    error: str = ""
    dialect: str = ""
    """How a scored file was written, e.g. "separated by ';', decimal comma"."""


@dataclass(frozen=True)
class Intake:
    """Where files come from and go to, and how they are scored and recorded."""

    input_dir: Path
    output_dir: Path
    ledger: Ledger
    claimant: str
    options: ScoringOptions


def open_intake(settings: Settings) -> Intake:
    """The intake of this run, with a claimant identity of its own."""
    return Intake(
        input_dir=settings.input_dir,
        output_dir=settings.output_dir,
        ledger=Ledger(settings.database_url, settings.claim_lease_seconds),
        claimant=new_claimant(),
        options=scoring_options(settings),
    )


def scoring_options(settings: Settings) -> ScoringOptions:
    """How to score, as the settings say."""
    return ScoringOptions(
        max_missing=settings.max_missing_features,
        threads=settings.scoring_threads,
        batch_bytes=settings.batch_bytes,
        max_broken_share=settings.max_broken_line_share,
    )


def load_scoring_model(settings: Settings) -> ScoringModel:
    """The champion, loaded once per run, with its reasons (unless ``settings.reasons`` is off)
    and risk bands from its training run (without them when the run has no reference data: a
    model not trained by heart-batch).

    Raises:
        NoChampionError: Training has not produced a champion yet.
    """
    connect(settings)
    champion = load_champion(MlflowClient(), settings.model_name)
    try:
        reference = load_reference(champion)
    except NoReferenceError as error:
        log.warning("%s Predictions get no reasons and no risk bands.", error)
        return ScoringModel(champion.name, champion.version, champion.model)
    return ScoringModel(
        champion.name,
        champion.version,
        champion.model,
        explainer=compile_explainer(champion.model, reference) if settings.reasons else None,
        bands=load_bands(champion.run_id, reference, BandTargets.from_settings(settings)),
    )


def process_file(path: Path, intake: Intake, model: ScoringModel) -> FileOutcome:
    """Score one input file exactly once.

    A file whose content was scored before is archived unscored; one held by another live run (or
    moved away by it) is left alone; a file that cannot be read as a valid CSV is quarantined with
    a report; an unexpected error releases the claim and leaves the file for the next run.
    """
    try:
        content_hash = file_checksum(path)
    except FileNotFoundError:
        return FileOutcome(path.name, "", "busy")
    identity = file_id(path, content_hash)
    claim = intake.ledger.claim(content_hash, identity, path.name, intake.claimant)
    if claim is ClaimOutcome.BUSY:
        return FileOutcome(path.name, identity, "busy")
    if claim is ClaimOutcome.ALREADY_SCORED:
        _archive_unless_gone(path, intake.input_dir, content_hash)
        first_id = intake.ledger.record(content_hash)["file_id"]
        return FileOutcome(path.name, first_id, "duplicate")
    try:
        scored = score_file(path, identity, intake.output_dir, model, intake.options)
    except FileRejectedError as rejection:
        quarantine(path, intake.input_dir, content_hash, rejection.problem)
        intake.ledger.mark_quarantined(content_hash, intake.claimant, rejection.problem.problem)
        return FileOutcome(path.name, identity, "quarantined", problem=rejection.problem)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Anything else (disk full, model failure) is not the file's fault: release and retry later.
        log.exception("Scoring %s failed; it stays in the input folder", path.name)
        intake.ledger.mark_failed(content_hash, intake.claimant, f"{type(error).__name__}")
        return FileOutcome(path.name, identity, "failed", error=type(error).__name__)
    intake.ledger.mark_scored(
        content_hash,
        intake.claimant,
        scored.counts,
        model=(model.name, model.version),
        paths=(str(scored.predictions_path), scored.rejected_path and str(scored.rejected_path)),
    )
    _archive_unless_gone(path, intake.input_dir, content_hash)
    return FileOutcome(
        path.name, identity, "scored", counts=scored.counts, dialect=scored.dialect.describe()
    )


def _archive_unless_gone(path: Path, input_dir: Path, content_hash: str) -> None:
    """Archive a handled file; a concurrent run may have archived the same content already."""
    try:
        archive(path, input_dir, content_hash)
    except FileNotFoundError:
        log.info("%s was archived by another run", path.name)
