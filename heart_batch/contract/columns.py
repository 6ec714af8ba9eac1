"""The output contract: every column heart-batch writes, and the dataset's label convention.

The label ``output`` is 1 for *no* angiographic disease and 0 for disease (the Kaggle recoding of
the UCI Cleveland data). The model predicts the risk of disease, so every computation turns the
label into a disease flag with ``disease_from_label`` and back with ``label_from_disease``; no
other module compares the label with a number.
"""

import json
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from heart_batch.contract.features import FEATURE_NAMES, FEATURES


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

DESCRIPTIONS = {
    SOURCE_FILE: "Name of the input file the row came from",
    SOURCE_ROW: "Line of the row in its input file (the header is line 1)",
    PATIENT_ID: "The input's patient_id column, as given (null when the input has none)",
    **{
        feature.name: f"{feature.description}"
        + (f" ({feature.unit})" if feature.unit else "")
        + ("; codes: " + feature.domain_text() if feature.codes else "")
        + "; null when not recorded (then imputed)"
        for feature in FEATURES
    },
    IMPUTED_FEATURES: "Features missing in the input, imputed by the model's pipeline",
    RISK: "Calibrated probability of angiographic heart disease (>= 50 % narrowing of a major "
    "vessel); the opposite direction to output",
    RISK_BAND: "low, intermediate or high, by the model's cut-offs (this file's metadata "
    "heart_batch.bands)",
    REASONS: "Up to three features that raise this patient's risk the most: feature, label, "
    "value, contribution (log-odds relative to the reference population's mean)",
    REASONS_NOTE: "Why a row has fewer reasons, when it has",
    LABEL: "The input's angiography result, when given: 1 = NO disease, 0 = disease (the "
    "dataset's convention, the opposite of risk)",
    MODEL_NAME: "Registered model that scored the row",
    MODEL_VERSION: "Its version",
    SCORED_AT: "When the file was scored (UTC)",
}
"""Each output column in words, stored as the description of its Parquet field."""

CODES = {
    feature.name: {str(code): meaning for code, meaning in feature.codes.items()}
    for feature in FEATURES
    if feature.codes
} | {LABEL: {str(NO_DISEASE): "no disease", str(DISEASE): "disease"}}
"""The code table of each coded column, stored with its Parquet field."""


def _described(name: str, kind: pa.DataType) -> pa.Field:
    metadata = {"description": DESCRIPTIONS[name]}
    if name in CODES:
        metadata["codes"] = json.dumps(CODES[name])
    return pa.field(name, kind, metadata=metadata)


PREDICTION_SCHEMA = pa.schema(
    [
        _described(SOURCE_FILE, pa.string()),
        _described(SOURCE_ROW, pa.int64()),
        _described(PATIENT_ID, pa.string()),
        *[_described(name, pa.float64()) for name in FEATURE_NAMES],
        _described(IMPUTED_FEATURES, pa.list_(pa.string())),
        _described(RISK, pa.float64()),
        _described(RISK_BAND, BAND_TYPE),
        _described(REASONS, REASON_TYPE),
        _described(REASONS_NOTE, pa.string()),
        _described(LABEL, pa.int8()),
        _described(MODEL_NAME, pa.string()),
        _described(MODEL_VERSION, pa.string()),
        _described(SCORED_AT, pa.timestamp("us", tz="UTC")),
    ]
)
"""Every predictions file has these columns, so the folder reads as one table; ``patient_id`` and
``output`` are null when the input has no such column, ``risk_band``, ``reasons`` and
``reasons_note`` when the model has no reference data (it was not trained by heart-batch)."""


def file_metadata(model: ModelId, bands: dict | None) -> dict[str, str]:
    """A predictions file's own metadata: the model that scored it and its band cut-offs."""
    metadata = {"heart_batch.model_name": model.name, "heart_batch.model_version": model.version}
    if bands is not None:
        metadata["heart_batch.bands"] = json.dumps(bands)
    return metadata


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
