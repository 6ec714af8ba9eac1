"""Score one CSV file into parquet: streamed in bounded batches, validated, predicted, atomic.

Reading, predicting and writing overlap: batches are read and written in the calling thread while a
thread pool validates and predicts (libsvm and numpy release the GIL), so memory is bounded by the
batches in flight, not by the file size.
"""

import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.pipeline import Pipeline

from heart_batch.contract.columns import (
    BAND_TYPE,
    ModelId,
    IMPUTED_FEATURES,
    LABEL,
    MODEL_NAME,
    MODEL_VERSION,
    PATIENT_ID,
    PREDICTION_SCHEMA,
    RAW_LINE,
    REASON_TYPE,
    REASONS,
    REASONS_NOTE,
    REJECTION_REASON,
    RISK,
    RISK_BAND,
    SCORED_AT,
    SOURCE_FILE,
    SOURCE_ROW,
    file_metadata,
    rejected_schema,
)
from heart_batch.contract.features import FEATURE_NAMES, FEATURES_BY_NAME
from heart_batch.contract.validation import missing_feature_names, validate_rows
from heart_batch.model.bands import BAND_NAMES, RiskBands
from heart_batch.model.explanations import Explainer
from heart_batch.model.risk import RiskFunction, compile_risk
from heart_batch.scoring.dialect import (
    Dialect,
    FileRejectedError,
    detect_dialect,
    header_problem,
    open_text,
)
from heart_batch.scoring.export import CorruptCompressionError, DecompressedTooLargeError, Export
from heart_batch.scoring.reader import (
    BrokenLine,
    FastReadError,
    HeaderFollower,
    OtherHeaderError,
    RawBatch,
    fast_batches,
    tolerant_batches,
)
from heart_batch.settings import ScoringSettings
from heart_batch.storage.ledger import ScoredCounts

REJECTED_FOLDER = "_rejected"
"""Rejections live beside the predictions in a folder parquet readers skip (its name starts with
``_``), so ``pd.read_parquet("outputs")`` reads every prediction and nothing else."""
ROW_GROUP_ROWS = 131_072
"""Predictions are buffered into row groups of about this many rows, whatever the batch size."""


BAND_TEXTS = pa.array(BAND_NAMES, pa.string())


@dataclass(frozen=True)
class ScoringModel:
    """The model a run scores with, and the name and version written next to each risk.

    ``risk`` is the pipeline's risk function, compiled to its linear form when it has one
    (``heart_batch.model.risk``, checked against ``predict_proba``); ``scorer`` says which. The
    ``explainer`` gives each row's reasons, ``bands`` its risk band; both come from the training
    run, and without them those columns are null.
    """

    name: str
    version: str
    pipeline: Pipeline
    explainer: Explainer | None = field(default=None, repr=False)
    bands: RiskBands | None = None
    risk: RiskFunction = field(init=False, repr=False)
    scorer: str = field(init=False)

    def __post_init__(self):
        risk, scorer = compile_risk(self.pipeline)
        object.__setattr__(self, "risk", risk)
        object.__setattr__(self, "scorer", scorer)


@dataclass(frozen=True)
class ScoredFile:
    """Outputs of a scored file, its row counts, and how it was written."""

    counts: ScoredCounts
    predictions_path: Path
    rejected_path: Path | None
    dialect: Dialect
    notes: list[str] = field(default_factory=list)
    """What a person should know about how it was read (repeated headers, an encoding)."""


@dataclass(frozen=True)
class _ScoredBatch:
    predictions: pa.Table
    rejected: pa.Table | None
    imputed: int
    broken: list[BrokenLine]
    headers: list[str]
    notes: list[str]


@dataclass
class _Written:
    """What the writer saw: counts, the first broken lines, the notes of the reader."""

    counts: ScoredCounts
    first_broken: list[BrokenLine]
    notes: list[str]


def output_paths(output_dir: Path, file_id: str) -> tuple[Path, Path]:
    """Final paths of the predictions and rejections of a file."""
    return (
        output_dir / f"predictions_{file_id}.parquet",
        output_dir / REJECTED_FOLDER / f"rejected_{file_id}.parquet",
    )


def score_file(
    export: Export,
    content_hash: str,
    file_id: str,
    output_dir: Path,
    model: ScoringModel,
    options: ScoringSettings,
) -> ScoredFile:
    """Score every row of ``export`` or reject it with a reason; outputs appear only when complete.

    A clean file is streamed by the fast reader. A file with broken lines is read again by the
    tolerant reader, which rejects each such line and scores the rest. The outputs are kept only
    if what was read is the version whose hash is ``content_hash``.

    Raises:
        FileRejectedError: The file is not a table with the contract's columns, more than
            ``HEART_MAX_BROKEN_LINE_SHARE`` of its lines are broken, its compressed data is cut off
            or unpacks beyond the limit, or it repeats its header with other columns.
        ExportChangedError: The file changed while it was read (nothing is kept).
    """
    dialect = detect_dialect(export, options.max_decompressed_bytes)
    output_dir.mkdir(parents=True, exist_ok=True)
    predictions_path, rejected_path = output_paths(output_dir, file_id)
    _remove_temporaries(output_dir, file_id)
    suffix = f".{uuid.uuid4().hex[:8]}.tmp"
    temporaries = (
        output_dir / f".{predictions_path.name}{suffix}",
        rejected_path.parent / f".{rejected_path.name}{suffix}",
    )
    score_batch = _batch_scorer(export.path.name, dialect, model, options.max_missing_features)

    def read(tolerant: bool) -> _Written:
        text = open_text(export, dialect.encoding, options.max_decompressed_bytes)
        if tolerant:
            batches = tolerant_batches(text.stream, dialect, options.max_line_bytes)
        else:
            # A row longer than a batch stops the fast reader: none beyond the line limit passes.
            batch_bytes = min(options.batch_bytes, options.max_line_bytes)
            batches = fast_batches(text.stream, dialect, batch_bytes)
        rows = HeaderFollower(dialect.columns).follow(batches)
        schema = PREDICTION_SCHEMA.with_metadata(
            file_metadata(
                ModelId(model.name, model.version),
                model.bands.as_dict() if model.bands else None,
            )
        )
        written = _write_outputs(_scored_batches(rows, score_batch, options), schema, *temporaries)
        export.verify(text.raw, content_hash)
        return written

    try:
        try:
            written = _read_or_refuse(read, tolerant=False, options=options)
        except (FastReadError, OtherHeaderError):  # the tolerant reader names the line
            written = _read_or_refuse(read, tolerant=True, options=options)
        _refuse_if_mostly_broken(written, options.max_broken_line_share, dialect)
        if written.counts.rejected:
            os.replace(temporaries[1], rejected_path)
        else:
            rejected_path.unlink(missing_ok=True)
        os.replace(temporaries[0], predictions_path)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
    counts = written.counts
    rejected = rejected_path if counts.rejected else None
    return ScoredFile(counts, predictions_path, rejected, dialect, written.notes)


def _read_or_refuse(read, tolerant: bool, options: ScoringSettings) -> _Written:
    """``read(tolerant)``; a problem of the file as a whole becomes a ``FileRejectedError``."""
    try:
        return read(tolerant)
    except CorruptCompressionError as error:
        raise FileRejectedError(header_problem(f"unreadable file: {error}")) from error
    except DecompressedTooLargeError as error:
        raise FileRejectedError(
            header_problem(
                f"too large: the compressed file {error} (HEART_MAX_DECOMPRESSED_BYTES, "
                f"{options.max_decompressed_bytes:,}); not read further",
                "a compressed export this large is more likely a corrupt or hostile file than "
                "patients; raise the limit if it is genuine",
            )
        ) from error
    except OtherHeaderError as error:
        if not tolerant:
            raise
        raise FileRejectedError(
            header_problem(
                f"{error.where} repeats the header with other columns: read as one file, the "
                "rows after it would be misread",
                "split the file where the second header starts and drop each part in again",
                found=error.columns,
            )
        ) from error


def _refuse_if_mostly_broken(written: _Written, max_share: float, dialect: Dialect) -> None:
    """Quarantine a file whose broken lines are more than ``max_share`` of its rows, or all."""
    counts = written.counts
    mostly_broken = counts.broken > max_share * counts.total or counts.broken == counts.total
    if not counts.broken or not mostly_broken:
        return
    first = "; ".join(line.reason for line in written.first_broken)
    raise FileRejectedError(
        header_problem(
            f"too many broken lines: {counts.broken} of {counts.total} rows cannot be read as "
            f"rows of the header (at most {max_share:g} allowed, HEART_MAX_BROKEN_LINE_SHARE)",
            f"{dialect.describe()}; first broken lines: {first}",
            found=dialect.columns,
        )
    )


def _remove_temporaries(output_dir: Path, file_id: str) -> None:
    """Delete what a killed run left behind for this file (we hold its claim)."""
    for folder in (output_dir, output_dir / REJECTED_FOLDER):
        for leftover in folder.glob(f".*_{file_id}.parquet.*.tmp"):
            leftover.unlink(missing_ok=True)


def _scored_batches(batches: Iterator[RawBatch], score_batch: Callable, options: ScoringSettings):
    """Score batches on a thread pool, at most ``threads + 1`` in flight, yielding them in order."""
    with ThreadPoolExecutor(max_workers=options.scoring_threads) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(score_batch, batch))
            if len(pending) > options.scoring_threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _RowGroupWriter:
    """Parquet writer emitting row groups of ``ROW_GROUP_ROWS`` rows from batches of any size."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.writer = pq.ParquetWriter(path, schema)
        self.pending = schema.empty_table()
        self.written = 0

    def add(self, table: pa.Table) -> None:
        """Buffer rows; write every complete row group."""
        self.pending = pa.concat_tables([self.pending, table])
        complete = self.pending.num_rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
        if complete:
            self.writer.write_table(self.pending.slice(0, complete), ROW_GROUP_ROWS)
            self.pending = self.pending.slice(complete)
            self.written += complete

    def close(self) -> None:
        """Write the last, partial row group (an empty file still gets its schema) and close."""
        if self.pending.num_rows or not self.written:
            self.writer.write_table(self.pending)
        self.writer.close()


def _write_outputs(
    scored: Iterator[_ScoredBatch], schema: pa.Schema, predictions_tmp: Path, rejected_tmp: Path
) -> _Written:
    """Write the batches with the predictions' ``schema`` (the file's metadata with it); return
    the counts, the first broken lines (at most five) and notes."""
    counts = {"scored": 0, "rejected": 0, "imputed": 0, "broken": 0, "headers": 0}
    first_broken: list[BrokenLine] = []
    notes: list[str] = []
    predictions = _RowGroupWriter(predictions_tmp, schema)
    rejected = None
    try:
        for batch in scored:
            predictions.add(batch.predictions)
            counts["scored"] += batch.predictions.num_rows
            counts["imputed"] += batch.imputed
            counts["broken"] += len(batch.broken)
            counts["headers"] += len(batch.headers)
            first_broken += batch.broken[: 5 - len(first_broken)]
            notes += batch.notes
            if batch.rejected is not None:
                if rejected is None:
                    rejected_tmp.parent.mkdir(exist_ok=True)
                    rejected = _RowGroupWriter(rejected_tmp, batch.rejected.schema)
                rejected.add(batch.rejected)
                counts["rejected"] += batch.rejected.num_rows
    finally:
        predictions.close()
        if rejected is not None:
            rejected.close()
    total = counts["scored"] + counts["rejected"]
    return _Written(ScoredCounts(total=total, **counts), first_broken, notes)


def _batch_scorer(source_name: str, dialect: Dialect, model: ScoringModel, max_missing: int):
    """The function that turns one raw batch into predictions and rejections."""
    scored_at = pa.scalar(datetime.now(timezone.utc), pa.timestamp("us", tz="UTC"))
    columns = dialect.columns
    rejected_columns = rejected_schema(columns)

    def score_batch(raw: RawBatch) -> _ScoredBatch:
        batch = raw.table
        parsed = _validation_columns(batch, columns, dialect.decimal_comma)
        rows = validate_rows(parsed, max_missing)
        accepted = pa.array(rows.accepted)
        count = len(rows.matrix)
        risk = model.risk(rows.matrix) if count else np.empty(0)
        values = {
            SOURCE_FILE: pa.repeat(source_name, count),
            SOURCE_ROW: raw.source_rows[rows.accepted],
            PATIENT_ID: (
                batch.column(PATIENT_ID).filter(accepted)
                if PATIENT_ID in columns
                else pa.nulls(count, pa.string())
            ),
            **{name: rows.matrix[:, i] for i, name in enumerate(FEATURE_NAMES)},
            **_per_missing_pattern(rows.missing_masks, model.explainer is not None),
            RISK: risk,
            RISK_BAND: _bands(risk, model.bands),
            REASONS: _reasons(rows.matrix, model.explainer),
            LABEL: pa.array(rows.labels, pa.int8(), from_pandas=True),
            MODEL_NAME: pa.repeat(model.name, count),
            MODEL_VERSION: pa.repeat(model.version, count),
            SCORED_AT: pa.repeat(scored_at, count),
        }
        predictions = pa.Table.from_arrays(
            [values[name] for name in PREDICTION_SCHEMA.names], schema=PREDICTION_SCHEMA
        )
        return _ScoredBatch(
            predictions=predictions,
            rejected=_rejected_table(raw, source_name, rows, rejected_columns),
            imputed=int(np.count_nonzero(rows.missing_masks)),
            broken=raw.broken,
            headers=raw.headers,
            notes=raw.notes,
        )

    return score_batch


def _validation_columns(batch: pa.RecordBatch, columns: list[str], decimal_comma: bool) -> dict:
    """Contract columns as float64 arrays where arrow can parse the whole column, else as text.

    With ``decimal_comma`` (files not separated by commas) ``2,3`` reads as 2.3.
    """
    arrays = {}
    for name in [*FEATURE_NAMES, *([LABEL] if LABEL in columns else [])]:
        column = batch.column(name)
        if decimal_comma:
            # pyarrow.compute's functions are generated at import, unseen by pylint.
            column = pc.replace_substring(column, ",", ".")  # pylint: disable=no-member
        try:
            arrays[name] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            arrays[name] = column.to_pandas()
    return arrays


def _per_missing_pattern(missing_masks: np.ndarray, explained: bool) -> dict[str, pa.Array]:
    """``imputed_features`` (the names of the features that were missing) and ``reasons_note``
    (which features could not be reasons, when there are reasons), made once per pattern of
    missing features and taken for every row."""
    every_mask = 1 << len(FEATURE_NAMES)
    patterns = np.flatnonzero(np.bincount(missing_masks, minlength=every_mask))
    position = np.zeros(every_mask, dtype=np.int32)
    position[patterns] = np.arange(len(patterns), dtype=np.int32)
    names = [missing_feature_names(int(mask)) for mask in patterns]
    notes = [_reasons_note(missing) if explained else None for missing in names]
    row_pattern = pa.array(position[missing_masks])
    return {
        IMPUTED_FEATURES: pa.array(names, pa.list_(pa.string())).take(row_pattern),
        REASONS_NOTE: pa.array(notes, pa.string()).take(row_pattern),
    }


def _reasons_note(missing: list[str]) -> str | None:
    if not missing:
        return None
    plain = ", ".join(FEATURES_BY_NAME[name].plain_name for name in missing)
    return f"not measured, so never a reason (imputed): {plain}"


def _bands(risk: np.ndarray, bands: RiskBands | None) -> pa.Array:
    if bands is None:
        return pa.nulls(len(risk), BAND_TYPE)
    return pa.DictionaryArray.from_arrays(pa.array(bands.codes(risk)), BAND_TEXTS)


def _reasons(matrix: np.ndarray, explainer: Explainer | None) -> pa.Array:
    if explainer is None or len(matrix) == 0:
        return pa.nulls(len(matrix), REASON_TYPE)
    return explainer.reasons(matrix)


def _rejected_table(raw: RawBatch, source_name: str, rows, schema: pa.Schema) -> pa.Table | None:
    """Rows the contract refused and broken lines, in file order; None when there are none."""
    refused = ~rows.accepted
    if not refused.any() and not raw.broken:
        return None
    mask = pa.array(refused)
    count = int(refused.sum())
    contract = {
        SOURCE_FILE: pa.repeat(source_name, count),
        SOURCE_ROW: raw.source_rows[refused],
        **{name: raw.table.column(name).filter(mask) for name in raw.table.schema.names},
        RAW_LINE: pa.nulls(count, pa.string()),
        REJECTION_REASON: pa.array(rows.reasons, pa.string()),
    }
    broken = {
        SOURCE_FILE: pa.repeat(source_name, len(raw.broken)),
        SOURCE_ROW: [line.source_row for line in raw.broken],
        **{name: pa.nulls(len(raw.broken), pa.string()) for name in raw.table.schema.names},
        RAW_LINE: [line.raw_text for line in raw.broken],
        REJECTION_REASON: [line.reason for line in raw.broken],
    }
    table = pa.concat_tables([pa.table(contract, schema=schema), pa.table(broken, schema=schema)])
    return table.sort_by(SOURCE_ROW)
