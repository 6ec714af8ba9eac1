"""The life of one input file: claim it, score it, record it, then archive or quarantine it.

Whatever one file does, the run goes on with the next: every error ends that file as scored,
quarantined (with a report), changed (left for the next run) or failed (with a reason that names
what failed). A file that fails ``HEART_MAX_FILE_ATTEMPTS`` times is quarantined with its history.
"""

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlflow import MlflowClient
from sqlalchemy.exc import SQLAlchemyError

from heart_batch.contract.columns import ModelId
from heart_batch.model.explanations import compile_explainer
from heart_batch.registry.champion import load_bands, load_champion, load_reference
from heart_batch.registry.tracking import connect
from heart_batch.scoring.dialect import FileRejectedError, header_problem
from heart_batch.scoring.export import Export, ExportChangedError, InputReadError, NotAFileError
from heart_batch.scoring.inbox import FileProblem, archive, file_id, quarantine
from heart_batch.scoring.scorer import ScoringModel, score_file
from heart_batch.settings import ScoringSettings, Settings
from heart_batch.storage.ledger import ClaimOutcome, Ledger, ScoredCounts, new_claimant

log = logging.getLogger(__name__)
RELEASE_PAUSES = (0.5, 1.0, 2.0)
"""Seconds between the tries to give back a claim the ledger could not record."""

FileStatus = Literal["scored", "duplicate", "quarantined", "busy", "changed", "failed"]
"""What happened to a file: ``busy`` (another run has it) and ``changed`` (it changed while it
was read) and ``failed`` leave it in the input folder for the next run."""


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file (aggregates only: no row values)."""

    source_name: str
    file_id: str
    status: FileStatus
    counts: ScoredCounts | None = None
    problem: FileProblem | None = None
    error: str = ""
    dialect: str = ""
    """How a scored file was written, e.g. "separated by ';', decimal comma"."""
    notes: list[str] = field(default_factory=list)
    """What a person should know: repeated headers, an encoding, a file replaced meanwhile."""
    report: str = ""
    """A quarantined file's report."""


@dataclass(frozen=True)
class Intake:
    """Where files come from and go to, and how they are scored and recorded."""

    input_dir: Path
    output_dir: Path
    ledger: Ledger
    claimant: str
    options: ScoringSettings


def open_intake(settings: Settings) -> Intake:
    """The intake of this run, with a claimant identity of its own."""
    return Intake(
        input_dir=settings.input_dir,
        output_dir=settings.output_dir,
        ledger=Ledger(settings.database_url, settings.claim_lease_seconds),
        claimant=new_claimant(),
        options=settings,
    )


def load_scoring_model(settings: Settings) -> ScoringModel:
    """The champion, loaded once per run, with its reasons (unless ``settings.reasons`` is off)
    and risk bands from its training run.

    Raises:
        NoChampionError: Training has not produced a champion yet.
        ModelLoadError: The champion's artifacts are missing or unreadable.
        NoReferenceError: A champion trained by heart-batch lost its reference data.
    """
    connect(settings)
    champion = load_champion(MlflowClient(), settings.model_name)
    reference = load_reference(champion)
    if reference is None:  # a model registered by hand: it never had reasons or bands
        log.warning(
            "%s v%s was not trained by heart-batch (its run has no reference data): predictions "
            "get no reasons and no risk bands",
            champion.name,
            champion.version,
        )
        return ScoringModel(champion.name, champion.version, champion.model)
    return ScoringModel(
        champion.name,
        champion.version,
        champion.model,
        explainer=compile_explainer(champion.model, reference) if settings.reasons else None,
        bands=load_bands(champion.run_id),
    )


def process_file(path: Path, intake: Intake, model: ScoringModel) -> FileOutcome:
    """Score one input file exactly once, whatever it holds.

    A file whose content was scored before is archived unscored; one held by another live run (or
    moved away by it) is left alone; a file that cannot be read as a valid CSV is quarantined with
    a report; one that changes while it is read is left for the next run; any other error leaves
    it for the next run too, until it has failed ``HEART_MAX_FILE_ATTEMPTS`` times.
    """
    opened = _open(path, intake)
    if isinstance(opened, FileOutcome):
        return opened
    with opened as export:
        return _hash_and_score(export, intake, model)


def _open(path: Path, intake: Intake) -> Export | FileOutcome:
    """The file opened (never through a link), or what happened instead."""
    try:
        return Export(path)
    except FileNotFoundError:
        return FileOutcome(path.name, "", "busy")
    except NotAFileError as error:  # replaced by a link or a folder since the scan
        return refuse_entry(path, intake, error.strerror or "not a file")
    except OSError as error:
        return _unreadable(path, intake, error)


def _hash_and_score(export: Export, intake: Intake, model: ScoringModel) -> FileOutcome:
    path = export.path
    try:
        content_hash = export.checksum()
    except ExportChangedError as change:
        return FileOutcome(path.name, "", "changed", error=_changed(change))
    except OSError as error:
        return _unreadable(path, intake, error)
    try:
        return _claim_and_score(export, content_hash, intake, model)
    except SQLAlchemyError as error:
        # The ledger is locked or down: this file waits for the next run, the others go on.
        problem = describe_error(error)
        log.error("%s: %s; left for the next run", path.name, problem)
        return FileOutcome(path.name, file_id(path, content_hash), "failed", error=problem)


def _claim_and_score(export: Export, content_hash: str, intake: Intake, model) -> FileOutcome:
    path, ledger = export.path, intake.ledger
    identity = file_id(path, content_hash)
    claim = ledger.claim(content_hash, identity, path.name, intake.claimant)
    if claim is ClaimOutcome.BUSY:
        return FileOutcome(path.name, identity, "busy")
    if claim is ClaimOutcome.ALREADY_SCORED:
        if export.still_at_path():
            archive(export, intake.input_dir, content_hash)
        return FileOutcome(
            path.name, (ledger.record(content_hash) or {}).get("file_id", ""), "duplicate"
        )
    return _score_claimed(export, content_hash, identity, intake, model)


def _score_claimed(export: Export, content_hash: str, identity: str, intake: Intake, model):
    """Score a file this run holds the claim of, and record or release it."""
    path, ledger = export.path, intake.ledger
    try:
        scored = score_file(
            export, content_hash, identity, intake.output_dir, model, intake.options
        )
    except FileRejectedError as rejection:
        return _quarantine(export, content_hash, identity, intake, rejection.problem)
    except ExportChangedError as change:
        ledger.mark_changed(content_hash, intake.claimant, str(change))
        return FileOutcome(path.name, identity, "changed", error=_changed(change))
    except Exception as error:  # pylint: disable=broad-exception-caught
        return _failed(export, content_hash, identity, intake, error)
    outputs = [scored.predictions_path, scored.rejected_path]
    try:
        ledger.mark_scored(
            content_hash,
            intake.claimant,
            scored.counts,
            model=ModelId(model.name, model.version),
            paths=(str(outputs[0]), str(outputs[1]) if outputs[1] else None),
        )
    except SQLAlchemyError as error:
        for output in outputs:  # unrecorded outputs would be read but never monitored
            if output is not None:
                output.unlink(missing_ok=True)
        problem = describe_error(error)
        log.error("%s: %s; nothing kept, left for the next run", path.name, problem)
        _release_when_possible(ledger, content_hash, intake.claimant, problem)
        return FileOutcome(path.name, identity, "failed", error=problem)
    notes = [*scored.notes, *_archive_scored(export, intake.input_dir, content_hash)]
    ledger.forget_failures(f"sha256:{content_hash}")
    return FileOutcome(
        path.name,
        identity,
        "scored",
        counts=scored.counts,
        dialect=scored.dialect.describe(),
        notes=notes,
    )


def _release_when_possible(ledger: Ledger, content_hash: str, claimant: str, problem: str) -> None:
    """Give the claim back once the ledger answers again (a few tries), so that a later run in
    this same process (a Dask worker's) may take the file; otherwise its lease or the end of this
    process frees it."""
    for pause in RELEASE_PAUSES:
        time.sleep(pause)
        try:
            ledger.mark_failed(content_hash, claimant, problem)
            return
        except SQLAlchemyError:
            continue


def _archive_scored(export: Export, input_dir: Path, content_hash: str) -> list[str]:
    """Move the version scored to ``processed/``; say so when the path holds another file now."""
    replaced = not export.still_at_path()
    target = archive(export, input_dir, content_hash)
    if not replaced:
        return []
    return [
        f"replaced or removed while it was scored: the version scored is archived as "
        f"{target.name}; a new version at its path waits for the next run"
    ]


def _quarantine(export, content_hash: str, identity: str, intake: Intake, problem: FileProblem):
    target = quarantine(export, intake.input_dir, content_hash, problem)
    intake.ledger.mark_quarantined(content_hash, intake.claimant, problem.problem)
    intake.ledger.forget_failures(f"sha256:{content_hash}")
    report = str(target) + ".error.json"
    return FileOutcome(export.path.name, identity, "quarantined", problem=problem, report=report)


def _failed(export: Export, content_hash: str, identity: str, intake: Intake, error: Exception):
    """An unexpected error: the file stays for the next run. One caused by the file (reading it,
    or anything not the machine's fault) counts towards ``HEART_MAX_FILE_ATTEMPTS``."""
    path, ledger = export.path, intake.ledger
    problem = describe_error(error)
    log.error("%s: failed: %s\n%s", path.name, problem, _frames(error))
    ledger.mark_failed(content_hash, intake.claimant, problem)
    if not is_the_file_s_fault(error):
        return FileOutcome(path.name, identity, "failed", error=problem)
    history = ledger.record_failure(f"sha256:{content_hash}", path.name, problem)
    if history.attempts < intake.options.max_file_attempts:
        error_text = f"{problem} (attempt {history.attempts} of {intake.options.max_file_attempts})"
        return FileOutcome(path.name, identity, "failed", error=error_text)
    return _quarantine(export, content_hash, identity, intake, _gave_up(problem, history))


def _unreadable(path: Path, intake: Intake, error: OSError) -> FileOutcome:
    """A file that cannot be opened or read: failed until ``HEART_MAX_FILE_ATTEMPTS`` times, then
    quarantined (the file itself is moved; renaming needs no read permission)."""
    problem = f"cannot be read: {describe_error(error)}{_ownership(path)}"
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return FileOutcome(path.name, "", "busy")
    key = f"file:{path.name}:{status.st_ino}:{status.st_size}:{status.st_mtime_ns}"
    history = intake.ledger.record_failure(key, path.name, problem)
    log.error(
        "%s: %s (attempt %d of %d)",
        path.name,
        problem,
        history.attempts,
        intake.options.max_file_attempts,
    )
    if history.attempts < intake.options.max_file_attempts:
        error_text = f"{problem} (attempt {history.attempts} of {intake.options.max_file_attempts})"
        return FileOutcome(path.name, "", "failed", error=error_text)
    target = quarantine(path, intake.input_dir, "", _gave_up(problem, history))
    intake.ledger.forget_failures(key)
    report = str(target) + ".error.json"
    return FileOutcome(
        path.name, "", "quarantined", problem=_gave_up(problem, history), report=report
    )


def refuse_entry(path: Path, intake: Intake, kind: str) -> FileOutcome:
    """A link (or another entry that is not a file) in the input folder: never read. A link is
    moved to quarantine with a report (the link itself, not what it points at)."""
    problem = header_problem(
        f"{kind}: refused, never read",
        "the input folder takes regular files only; a link could lead outside it (another "
        "unit's exports, the system's files), so links are never followed",
    )
    if kind != "a symbolic link":
        return FileOutcome(path.name, "", "failed", error=problem.problem)
    target = quarantine(path, intake.input_dir, "", problem)
    return FileOutcome(
        path.name, "", "quarantined", problem=problem, report=str(target) + ".error.json"
    )


def _gave_up(problem: str, history) -> FileProblem:
    return FileProblem(
        f"failed {history.attempts} times, last: {problem}",
        "quarantined so that it stops failing every run; its failures are listed under "
        "'failures'. Fix the cause and drop the file in again.",
        failures=history.failures,
    )


def _ownership(path: Path) -> str:
    try:
        status = os.lstat(path)
    except OSError:
        return ""
    return f" (owner uid {status.st_uid}, mode {status.st_mode & 0o777:04o})"


def _changed(change: ExportChangedError) -> str:
    return f"{change}; nothing kept, left for the next run"


def is_the_file_s_fault(error: BaseException) -> bool:
    """Whether an error comes from the file (reading it, or what it made our code do) rather
    than from the machine (a full disk, an output folder it may not write, the ledger)."""
    if isinstance(error, InputReadError):
        return True
    return not isinstance(error, (OSError, SQLAlchemyError))


def describe_error(error: BaseException) -> str:
    """What failed, in words, without any row value: an OS error's own words ("no space left on
    device"), the ledger's database error, the message of one of heart-batch's own errors, or
    else the error's type and where it was raised."""
    if isinstance(error, SQLAlchemyError):
        cause = getattr(error, "orig", None) or error
        return f"the ledger's database: {str(cause).splitlines()[0]}"
    if isinstance(error, OSError) and error.errno is not None:
        words = os.strerror(error.errno).lower()
        if isinstance(error, InputReadError):
            return f"{words} (reading the file)"
        filename = f" ({error.filename})" if error.filename else ""
        return f"{words}{filename}"
    if isinstance(error, MemoryError):
        return "out of memory"
    if type(error).__module__.startswith("heart_batch"):
        return str(error)
    return f"{type(error).__name__} in {_origin(error)}"


def _origin(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown code"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} ({last.name})"


def _frames(error: BaseException) -> str:
    """The traceback without the error's message (which may quote a row's values)."""
    return "".join(traceback.format_tb(error.__traceback__)).rstrip()
