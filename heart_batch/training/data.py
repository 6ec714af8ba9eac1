"""Training data: the seed CSV read through the feature contract."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from heart_batch.contract.columns import (
    LABEL,
    OUT_OF_FOLD_RISK,
    disease_from_label,
    label_from_disease,
)
from heart_batch.contract.features import FEATURE_NAMES, normalize_header
from heart_batch.contract.validation import validate_rows
from heart_batch.settings import Settings
from heart_batch.storage.ledger import Ledger


@dataclass(frozen=True)
class TrainingData:
    """Rows the model learns from.

    Attributes:
        features: float64 features in contract order, NaN where missing.
        target: 1 = angiographic heart disease (P(output == 0) is what the model predicts).
        sources: Where the rows came from (file name -> row count), logged with the run.
        row_sources: The source of each row, for figures per source.
        checksums: SHA-256 of each source file.
        rows_checksum: SHA-256 of the set of distinct labelled rows (``rows_checksum``): what
            "the data changed" means to the promotion gate. A new file of rows already learnt
            leaves it as it was.
        dropped_duplicates: Exact duplicate rows removed.
        rejected: Rows that broke the contract and were left out.
    """

    features: pd.DataFrame
    target: pd.Series
    sources: dict[str, int]
    row_sources: pd.Series
    checksums: dict[str, str]
    rows_checksum: str
    dropped_duplicates: int
    rejected: int

    @property
    def reference(self) -> pd.DataFrame:
        """Features and dataset label together: the reference table monitoring compares with."""
        return self.features.assign(**{LABEL: label_from_disease(self.target)})


def load_training_data(
    path: Path, feedback: list[Path] | tuple[Path, ...] = (), max_missing: int = len(FEATURE_NAMES)
) -> TrainingData:
    """Read a labelled CSV and any labelled scored rows; keep valid labelled rows, drop duplicates.

    Args:
        path: The seed CSV (contract columns and the label).
        feedback: Predictions parquet files; their rows that carry a label are added, so that a
            retraining learns from the patients scored since.
        max_missing: Most missing features a seed row may have.

    Raises:
        ValueError: The CSV lacks a contract column or the label.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [normalize_header(column) for column in raw.columns]
    absent = [name for name in [*FEATURE_NAMES, LABEL] if name not in raw.columns]
    if absent:
        raise ValueError(f"{path}: training data lacks columns {absent}")
    rows = validate_rows(raw, max_missing=max_missing)
    files = {path.name: path} | {source.name: source for source in feedback}
    parts = {path.name: rows.features.assign(**{LABEL: rows.labels}).dropna(subset=[LABEL])}
    parts |= {source.name: _labelled_rows(source) for source in feedback}
    parts = {name: part for name, part in parts.items() if len(part)}
    table = pd.concat(parts.values(), keys=parts.keys(), names=["source", None]).reset_index(0)
    deduplicated = table.drop_duplicates(subset=[*FEATURE_NAMES, LABEL]).reset_index(drop=True)
    return TrainingData(
        features=deduplicated[FEATURE_NAMES],
        target=disease_from_label(deduplicated[LABEL]),
        sources={
            str(source): int(count)
            for source, count in deduplicated["source"].value_counts(sort=False).items()
        },
        row_sources=deduplicated["source"],
        checksums={name: file_checksum(files[name]) for name in parts},
        rows_checksum=rows_checksum(deduplicated[[*FEATURE_NAMES, LABEL]]),
        dropped_duplicates=len(table) - len(deduplicated),
        rejected=int((~rows.accepted).sum()),
    )


def _labelled_rows(predictions: Path) -> pd.DataFrame:
    """Validated features and label of the scored rows that carry a label."""
    if LABEL not in pq.read_schema(predictions).names:
        return pd.DataFrame(columns=[*FEATURE_NAMES, LABEL])
    table = pd.read_parquet(predictions, columns=[*FEATURE_NAMES, LABEL])
    return table.dropna(subset=[LABEL]).astype("float64")


def load_current_training_data(settings: Settings) -> TrainingData:
    """The seed CSV plus, when enabled, the labelled rows of every file scoring has accepted."""
    feedback = []
    if settings.learn_from_scored_labels:
        scored = Ledger(settings.database_url).scored_files()
        feedback = [Path(record["predictions_path"]) for record in scored]
        feedback = [path for path in feedback if path.exists()]
    return load_training_data(settings.training_data, feedback)


@dataclass(frozen=True)
class OtherHospitals:
    """Other hospitals' labelled rows that the contract accepts, for external figures."""

    features: pd.DataFrame
    disease: np.ndarray
    hospital: np.ndarray


def load_other_hospitals(path: Path, max_missing: int) -> OtherHospitals | None:
    """The labelled rows of a CSV with the contract's columns, the label and ``hospital``; None
    when there is no such file."""
    if not path.is_file():
        return None
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [normalize_header(column) for column in raw.columns]
    rows = validate_rows(raw.drop(columns="hospital"), max_missing=max_missing)
    labelled = rows.labels.notna().to_numpy()  # of the accepted rows
    return OtherHospitals(
        features=rows.features[labelled].reset_index(drop=True),
        disease=disease_from_label(rows.labels[labelled]).to_numpy(),
        hospital=raw["hospital"].to_numpy()[rows.accepted][labelled],
    )


def out_of_fold_lookup(
    seen: pd.DataFrame, features: pd.DataFrame, disease: pd.Series | np.ndarray
) -> np.ndarray:
    """Each row's out-of-fold risk where ``seen`` (features, label and ``oof_risk`` of the rows a
    model learnt) holds the same row with the same label; NaN for a row the model did not learn."""
    learnt = seen[[*FEATURE_NAMES, LABEL, OUT_OF_FOLD_RISK]].drop_duplicates(
        [*FEATURE_NAMES, LABEL]
    )
    rows = features.reset_index(drop=True).assign(
        **{LABEL: label_from_disease(pd.Series(np.asarray(disease)))}
    )
    merged = rows.merge(learnt, how="left", on=[*FEATURE_NAMES, LABEL])
    return merged[OUT_OF_FOLD_RISK].to_numpy(dtype=float, copy=True)


def out_of_sample_risk(model, seen: pd.DataFrame, features: pd.DataFrame, disease):
    """Each row's risk from a model that did not learn it: the out-of-fold risk in ``seen`` for
    a row the model learnt, its prediction otherwise. Returns the risks and which rows were
    learnt."""
    risk = out_of_fold_lookup(seen, features, disease)
    learnt = ~np.isnan(risk)
    if not learnt.all():
        risk[~learnt] = model.predict_proba(features[~learnt])[:, 1]
    return risk, learnt


def rows_checksum(rows: pd.DataFrame) -> str:
    """SHA-256 of a table's distinct rows, whatever their order, their files or their repeats."""
    numbers = rows.astype("float64").drop_duplicates()
    ordered = numbers.sort_values(list(numbers.columns), na_position="first", kind="mergesort")
    canonical = np.nan_to_num(ordered.to_numpy(), nan=-1e300)  # one NaN, whatever its bits
    return hashlib.sha256(np.ascontiguousarray(canonical).tobytes()).hexdigest()


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
