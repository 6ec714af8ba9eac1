"""Score one CSV file into parquet: streamed in bounded batches, validated, predicted, atomic.

Reading, predicting and writing overlap: batches are read and written in the calling thread while a
thread pool validates and predicts (libsvm and numpy release the GIL), so memory is bounded by the
batches in flight, not by the file size.
"""

import csv
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sklearn.pipeline import Pipeline

from heart_batch.inbox import FileProblem
from heart_batch.layout import REJECTED_FOLDER
from heart_batch.ledger import ScoredCounts
from heart_batch.schema import (
    FEATURE_NAMES,
    LABEL,
    missing_columns,
    missing_feature_names,
    normalize_header,
    validate_rows,
)

PATIENT_ID = "patient_id"
ROW_GROUP_ROWS = 131_072
"""Predictions are buffered into row groups of about this many rows, whatever the batch size."""


PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field(PATIENT_ID, pa.string()),
        *[pa.field(name, pa.float64()) for name in FEATURE_NAMES],
        pa.field("imputed_features", pa.list_(pa.string())),
        pa.field("risk", pa.float64()),
        pa.field(LABEL, pa.int8()),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("scored_at", pa.timestamp("us", tz="UTC")),
    ]
)
"""Every predictions file has these columns, so the folder reads as one table; ``patient_id`` and
``output`` are null when the input has no such column."""


class FileRejectedError(Exception):
    """The file as a whole cannot be scored; it belongs in quarantine."""

    def __init__(self, problem: FileProblem):
        super().__init__(problem.problem)
        self.problem = problem


@dataclass(frozen=True)
class ScoringModel:
    """The model a run scores with, and the name and version written next to each risk."""

    name: str
    version: str
    pipeline: Pipeline


@dataclass(frozen=True)
class ScoringOptions:
    """How to score: the row-level missing-value limit and the batching."""

    max_missing: int = 4
    threads: int = 2
    batch_bytes: int = 2 << 20


@dataclass(frozen=True)
class ScoredFile:
    """Outputs of a scored file and its row counts."""

    counts: ScoredCounts
    predictions_path: Path
    rejected_path: Path | None


@dataclass(frozen=True)
class _ScoredBatch:
    predictions: pa.Table
    rejected: pa.Table | None
    imputed: int


def output_paths(output_dir: Path, file_id: str) -> tuple[Path, Path]:
    """Final paths of the predictions and rejections of a file."""
    return (
        output_dir / f"predictions_{file_id}.parquet",
        output_dir / REJECTED_FOLDER / f"rejected_{file_id}.parquet",
    )


def read_header(path: Path) -> list[str]:
    """The file's column names, normalised (trimmed, lower-case).

    Raises:
        FileRejectedError: Not UTF-8 text, no header, duplicate or missing contract columns.
    """
    with path.open("rb") as stream:
        first_line = stream.readline(1 << 16)
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileRejectedError(
            _header_problem("not UTF-8 text", f"undecodable byte at offset {error.start}")
        ) from error
    columns = [normalize_header(name) for name in next(csv.reader([text]), [])]
    if not any(columns):
        raise FileRejectedError(_header_problem("empty file: no header line"))
    absent = missing_columns(columns)
    if absent:
        raise FileRejectedError(
            _header_problem(f"required columns missing: {', '.join(absent)}", found=columns)
        )
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise FileRejectedError(
            _header_problem(f"columns appear twice: {', '.join(duplicated)}", found=columns)
        )
    return columns


def _header_problem(problem: str, detail: str = "", found: list[str] | None = None) -> FileProblem:
    return FileProblem(problem, detail, expected_columns=FEATURE_NAMES, found_columns=found or [])


def score_file(
    source: Path,
    file_id: str,
    output_dir: Path,
    model: ScoringModel,
    options: ScoringOptions,
) -> ScoredFile:
    """Score every row of ``source`` or reject it with a reason; outputs appear only when complete.

    Raises:
        FileRejectedError: The file cannot be read as a CSV that holds the contract's columns.
    """
    columns = read_header(source)
    output_dir.mkdir(parents=True, exist_ok=True)
    predictions_path, rejected_path = output_paths(output_dir, file_id)
    _remove_temporaries(output_dir, file_id)
    suffix = f".{uuid.uuid4().hex[:8]}.tmp"
    predictions_tmp = output_dir / f".{predictions_path.name}{suffix}"
    rejected_tmp = rejected_path.parent / f".{rejected_path.name}{suffix}"
    score_batch = _batch_scorer(source.name, columns, model, options.max_missing)
    try:
        counts = _write_outputs(
            _scored_batches(_read_batches(source, columns, options), score_batch, options),
            predictions_tmp,
            rejected_tmp,
            PREDICTION_SCHEMA,
        )
        if counts.rejected:
            os.replace(rejected_tmp, rejected_path)
        else:
            rejected_path.unlink(missing_ok=True)
        os.replace(predictions_tmp, predictions_path)
    finally:
        predictions_tmp.unlink(missing_ok=True)
        rejected_tmp.unlink(missing_ok=True)
    return ScoredFile(counts, predictions_path, rejected_path if counts.rejected else None)


def _remove_temporaries(output_dir: Path, file_id: str) -> None:
    """Delete what a killed run left behind for this file (we hold its claim)."""
    for folder in (output_dir, output_dir / REJECTED_FOLDER):
        for leftover in folder.glob(f".*_{file_id}.parquet.*.tmp"):
            leftover.unlink(missing_ok=True)


def _read_batches(source: Path, columns: list[str], options: ScoringOptions):
    """Stream the CSV as record batches of text columns (raw values kept for rejections)."""
    try:
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(
                column_names=columns, skip_rows=1, block_size=options.batch_bytes, encoding="utf8"
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in columns},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
        yield from reader
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        problem = _header_problem("unreadable CSV", _arrow_problem(error), found=columns)
        raise FileRejectedError(problem) from error


def _arrow_problem(error: Exception) -> str:
    """Arrow's message up to its second colon: what is wrong, without the row's text."""
    return ":".join(str(error).split(":")[:2]).strip()


def _scored_batches(batches, score_batch: Callable, options: ScoringOptions):
    """Score batches on a thread pool, at most ``threads + 1`` in flight, yielding them in order."""
    with ThreadPoolExecutor(max_workers=options.threads) as pool:
        pending: deque = deque()
        first_row = 1
        for batch in batches:
            pending.append(pool.submit(score_batch, batch, first_row))
            first_row += batch.num_rows
            if len(pending) > options.threads:
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
    scored: Iterator[_ScoredBatch], predictions_tmp: Path, rejected_tmp: Path, schema: pa.Schema
) -> ScoredCounts:
    scored_rows = rejected_rows = imputed_rows = 0
    predictions = _RowGroupWriter(predictions_tmp, schema)
    rejected = None
    try:
        for batch in scored:
            predictions.add(batch.predictions)
            scored_rows += batch.predictions.num_rows
            imputed_rows += batch.imputed
            if batch.rejected is not None:
                if rejected is None:
                    rejected_tmp.parent.mkdir(exist_ok=True)
                    rejected = _RowGroupWriter(rejected_tmp, batch.rejected.schema)
                rejected.add(batch.rejected)
                rejected_rows += batch.rejected.num_rows
    finally:
        predictions.close()
        if rejected is not None:
            rejected.close()
    return ScoredCounts(
        total=scored_rows + rejected_rows,
        scored=scored_rows,
        rejected=rejected_rows,
        imputed=imputed_rows,
    )


def _batch_scorer(source_name: str, columns: list[str], model: ScoringModel, max_missing: int):
    """The function that turns one raw batch into predictions and rejections."""
    scored_at = pa.scalar(datetime.now(timezone.utc), pa.timestamp("us", tz="UTC"))

    def score_batch(batch: pa.RecordBatch, first_row: int) -> _ScoredBatch:
        rows = validate_rows(_validation_frame(batch, columns), max_missing)
        source_rows = np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)
        accepted = pa.array(rows.accepted)
        count = len(rows.features)
        risk = model.pipeline.predict_proba(rows.features)[:, 1] if count else np.empty(0)
        values = {
            "source_file": pa.repeat(source_name, count),
            "source_row": source_rows[rows.accepted],
            PATIENT_ID: (
                batch.column(PATIENT_ID).filter(accepted)
                if PATIENT_ID in columns
                else pa.nulls(count, pa.string())
            ),
            **{name: rows.features[name].to_numpy() for name in FEATURE_NAMES},
            "imputed_features": _imputed_lists(rows.missing_masks),
            "risk": risk,
            LABEL: pa.array(rows.labels, pa.int8(), from_pandas=True),
            "model_name": pa.repeat(model.name, count),
            "model_version": pa.repeat(model.version, count),
            "scored_at": pa.repeat(scored_at, count),
        }
        predictions = pa.Table.from_arrays(
            [values[name] for name in PREDICTION_SCHEMA.names], schema=PREDICTION_SCHEMA
        )
        return _ScoredBatch(
            predictions=predictions,
            rejected=_rejected_table(batch, source_name, source_rows, rows),
            imputed=int(np.count_nonzero(rows.missing_masks)),
        )

    return score_batch


def _validation_frame(batch: pa.RecordBatch, columns: list[str]) -> pd.DataFrame:
    """Contract columns as float64 where arrow can parse the whole column, else as text."""
    frame = {}
    for name in [*FEATURE_NAMES, *([LABEL] if LABEL in columns else [])]:
        column = batch.column(name)
        try:
            frame[name] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            frame[name] = column.to_pandas()
    return pd.DataFrame(frame)


def _imputed_lists(missing_masks: np.ndarray) -> pa.Array:
    """Per row, the names of the features that were missing, as a list<string> column."""
    patterns, which = np.unique(missing_masks, return_inverse=True)
    names = pa.array([missing_feature_names(int(mask)) for mask in patterns], pa.list_(pa.string()))
    return names.take(pa.array(which.astype(np.int32)))


def _rejected_table(batch, source_name, source_rows, rows) -> pa.Table | None:
    if rows.accepted.all():
        return None
    rejected = pa.array(~rows.accepted)
    count = len(rows.reasons)
    raw = {name: batch.column(name).filter(rejected) for name in batch.schema.names}
    return pa.table(
        {
            "source_file": pa.repeat(source_name, count),
            "source_row": source_rows[~rows.accepted],
            **raw,
            "reason": pa.array(rows.reasons, pa.string()),
        }
    )
