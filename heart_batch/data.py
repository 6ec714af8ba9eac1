"""Training data: the seed CSV read through the feature contract."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from heart_batch.inbox import file_checksum
from heart_batch.schema import FEATURE_NAMES, LABEL, disease_target, normalize_header, validate_rows


@dataclass(frozen=True)
class TrainingData:
    """Rows the model learns from.

    Attributes:
        features: float64 features in contract order, NaN where missing.
        target: 1 = angiographic heart disease (P(output == 0) is what the model predicts).
        sources: Where the rows came from (file name -> row count), logged with the run.
        checksums: SHA-256 of each source file.
        dropped_duplicates: Exact duplicate rows removed.
        rejected: Rows that broke the contract and were left out.
    """

    features: pd.DataFrame
    target: pd.Series
    sources: dict[str, int]
    checksums: dict[str, str]
    dropped_duplicates: int
    rejected: int

    @property
    def reference(self) -> pd.DataFrame:
        """Features and dataset label together: the reference table monitoring compares with."""
        return self.features.assign(**{LABEL: (1 - self.target).astype("float64")})


def load_training_data(path: Path, max_missing: int = len(FEATURE_NAMES)) -> TrainingData:
    """Read a labelled CSV, keep valid labelled rows, drop exact duplicates.

    Raises:
        ValueError: The file lacks a contract column or the label.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [normalize_header(column) for column in raw.columns]
    absent = [name for name in [*FEATURE_NAMES, LABEL] if name not in raw.columns]
    if absent:
        raise ValueError(f"{path}: training data lacks columns {absent}")
    rows = validate_rows(raw, max_missing=max_missing)
    table = rows.features.assign(**{LABEL: rows.labels}).dropna(subset=[LABEL])
    deduplicated = table.drop_duplicates().reset_index(drop=True)
    return TrainingData(
        features=deduplicated[FEATURE_NAMES],
        target=disease_target(deduplicated[LABEL]),
        sources={path.name: len(deduplicated)},
        checksums={path.name: file_checksum(path)},
        dropped_duplicates=len(table) - len(deduplicated),
        rejected=int((~rows.accepted).sum()),
    )
