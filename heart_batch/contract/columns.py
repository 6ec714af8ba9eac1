"""The output contract: every column heart-batch writes, and the dataset's label convention.

The label ``output`` is 1 for *no* angiographic disease and 0 for disease (the Kaggle recoding of
the UCI Cleveland data). The model predicts the risk of disease, so every computation turns the
label into a disease flag with ``disease_from_label`` and back with ``label_from_disease``; no
other module compares the label with a number.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from heart_batch.contract.features import FEATURE_NAMES


class ModelId(NamedTuple):
    """A registered model version: what every output, ledger row and monitoring run records."""

    name: str
    version: str


LABEL = "output"
"""Dataset label: 1 = no disease (< 50 % narrowing), 0 = disease. Note the inverted direction."""
NO_DISEASE = 1
DISEASE = 0

SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
"""1-based line of the row in its file (the header is line 1)."""
PATIENT_ID = "patient_id"
IMPUTED_FEATURES = "imputed_features"
RISK = "risk"
"""Calibrated probability of angiographic heart disease."""
RISK_BAND = "risk_band"
"""low, intermediate or high; monitored as codes 0, 1, 2 (``heart_batch.model.bands``)."""
REASONS = "reasons"
REASONS_NOTE = "reasons_note"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
SCORED_AT = "scored_at"
OUT_OF_FOLD_RISK = "oof_risk"
"""Reference column: the out-of-fold risk of the training run's cross-validation."""
RAW_LINE = "raw_line"
REJECTION_REASON = "reason"

BAND_TYPE = pa.dictionary(pa.int8(), pa.string())
REASON_TYPE = pa.list_(
    pa.struct(
        [
            pa.field("feature", pa.dictionary(pa.int8(), pa.string())),
            pa.field("label", pa.dictionary(pa.int16(), pa.string())),
            pa.field("value", pa.float64()),
            pa.field("contribution", pa.float32()),
        ]
    )
)
"""A row's reasons: the features that push its risk up the most, their values and contributions."""

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field(SOURCE_FILE, pa.string()),
        pa.field(SOURCE_ROW, pa.int64()),
        pa.field(PATIENT_ID, pa.string()),
        *[pa.field(name, pa.float64()) for name in FEATURE_NAMES],
        pa.field(IMPUTED_FEATURES, pa.list_(pa.string())),
        pa.field(RISK, pa.float64()),
        pa.field(RISK_BAND, BAND_TYPE),
        pa.field(REASONS, REASON_TYPE),
        pa.field(REASONS_NOTE, pa.string()),
        pa.field(LABEL, pa.int8()),
        pa.field(MODEL_NAME, pa.string()),
        pa.field(MODEL_VERSION, pa.string()),
        pa.field(SCORED_AT, pa.timestamp("us", tz="UTC")),
    ]
)
"""Every predictions file has these columns, so the folder reads as one table; ``patient_id`` and
``output`` are null when the input has no such column, ``risk_band``, ``reasons`` and
``reasons_note`` when the model has no reference data (it was not trained by heart-batch)."""


def rejected_schema(columns: list[str]) -> pa.Schema:
    """Where a rejected row came from, every input column as raw text, a broken line's text, why."""
    return pa.schema(
        [
            pa.field(SOURCE_FILE, pa.string()),
            pa.field(SOURCE_ROW, pa.int64()),
            *[pa.field(name, pa.string()) for name in columns],
            pa.field(RAW_LINE, pa.string()),
            pa.field(REJECTION_REASON, pa.string()),
        ]
    )


def disease_from_label(labels: pd.Series) -> pd.Series:
    """The model's target, 1 = angiographic heart disease, from the dataset label."""
    return (labels == DISEASE).astype(int)


def label_from_disease(disease: np.ndarray | pd.Series) -> np.ndarray:
    """The dataset label (as float, NaN-capable) of disease flags: the inverse of the above."""
    return np.where(np.asarray(disease) == 1, DISEASE, NO_DISEASE).astype("float64")
