"""The feature contract: what a valid patient row is, for training and scoring alike.

Codes follow the UCI Heart Disease (Cleveland) data in its Kaggle recoding; see the data card in
README.md. The label ``output`` is 1 for *no* angiographic disease and 0 for disease, so the
risk the model predicts is P(output == 0).
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

LABEL = "output"
"""Dataset label: 1 = no disease (< 50 % narrowing), 0 = disease. Note the inverted direction."""

MISSING_MARKERS = ("", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
"""Cell texts that mean "not recorded" in hospital exports."""


@dataclass(frozen=True)
class Feature:
    """One model input and its valid domain.

    Attributes:
        name: Column name in the CSV (matched case-insensitively, spaces trimmed).
        description: Meaning, for people.
        kind: ``numeric`` and ``ordinal`` are scaled as numbers, ``nominal`` is one-hot encoded.
        valid_range: Inclusive physiological range of a numeric feature.
        codes: Valid category codes and their meaning.
        missing_codes: Values that mean "not recorded" (dataset codes and impossible zeros); they
            become missing and are imputed.
        unit: Unit of a numeric feature.
    """

    name: str
    description: str
    kind: Literal["numeric", "ordinal", "nominal"]
    valid_range: tuple[float, float] | None = None
    codes: dict[int, str] = field(default_factory=dict)
    missing_codes: tuple[float, ...] = ()
    unit: str = ""

    def domain_text(self) -> str:
        """The valid domain in words, for rejection reasons and docs."""
        if self.codes:
            return ", ".join(f"{code}={meaning}" for code, meaning in self.codes.items())
        low, high = self.valid_range
        return f"{low:g} to {high:g} {self.unit}".strip()


FEATURES: tuple[Feature, ...] = (
    Feature("age", "Age", "numeric", valid_range=(1, 120), unit="years"),
    Feature("sex", "Sex", "nominal", codes={0: "female", 1: "male"}),
    Feature(
        "cp",
        "Chest pain type",
        "nominal",
        codes={0: "asymptomatic", 1: "atypical angina", 2: "non-anginal pain", 3: "typical angina"},
    ),
    Feature(
        "trtbps",
        "Resting blood pressure (0 = not recorded)",
        "numeric",
        valid_range=(50, 250),
        missing_codes=(0,),
        unit="mm Hg",
    ),
    Feature(
        "chol",
        "Serum cholesterol (0 = not recorded)",
        "numeric",
        valid_range=(50, 700),
        missing_codes=(0,),
        unit="mg/dl",
    ),
    Feature("fbs", "Fasting blood sugar > 120 mg/dl", "nominal", codes={0: "false", 1: "true"}),
    Feature(
        "restecg",
        "Resting ECG",
        "nominal",
        codes={0: "left-ventricular hypertrophy", 1: "normal", 2: "ST-T wave abnormality"},
    ),
    Feature(
        "thalachh", "Maximum heart rate achieved", "numeric", valid_range=(50, 250), unit="bpm"
    ),
    Feature("exng", "Exercise-induced angina", "nominal", codes={0: "no", 1: "yes"}),
    Feature(
        "oldpeak",
        "ST depression induced by exercise relative to rest (negative = elevation)",
        "numeric",
        valid_range=(-5, 10),
        unit="mm",
    ),
    Feature(
        "slp",
        "Slope of the peak exercise ST segment",
        "nominal",
        codes={0: "downsloping", 1: "flat", 2: "upsloping"},
    ),
    Feature(
        "caa",
        "Major vessels coloured by fluoroscopy (4 = not recorded)",
        "ordinal",
        codes={0: "0 vessels", 1: "1 vessel", 2: "2 vessels", 3: "3 vessels"},
        missing_codes=(4,),
    ),
    Feature(
        "thall",
        "Thallium stress test (0 = not recorded)",
        "nominal",
        codes={1: "fixed defect", 2: "normal", 3: "reversible defect"},
        missing_codes=(0,),
    ),
)

FEATURE_NAMES: list[str] = [feature.name for feature in FEATURES]
FEATURES_BY_NAME: dict[str, Feature] = {feature.name: feature for feature in FEATURES}


def normalize_header(name: str) -> str:
    """Column name as matched against the contract: trimmed and lower-case."""
    return name.strip().lower()


def missing_columns(columns: list[str]) -> list[str]:
    """Contract features absent from ``columns`` (already normalised)."""
    present = set(columns)
    return [name for name in FEATURE_NAMES if name not in present]


def disease_target(labels: pd.Series) -> pd.Series:
    """Binary target of the model, 1 = angiographic heart disease, from the dataset label."""
    return (labels == 0).astype(int)


@dataclass(frozen=True)
class ValidatedRows:
    """A batch of rows checked against the contract.

    Attributes:
        features: Accepted rows only, float64 columns in ``FEATURE_NAMES`` order; NaN where a value
            was missing (to be imputed by the model pipeline).
        labels: Dataset label of the accepted rows (NaN when absent or empty).
        accepted: One flag per input row.
        missing_masks: Per accepted row, a bit mask of missing features (bit i = FEATURE_NAMES[i]).
        reasons: Per rejected row, in input order, why it was rejected.
    """

    features: pd.DataFrame
    labels: pd.Series
    accepted: np.ndarray
    missing_masks: np.ndarray
    reasons: list[str]


def missing_feature_names(mask: int) -> list[str]:
    """Names of the features set in a missing-feature bit mask."""
    return [name for bit, name in enumerate(FEATURE_NAMES) if mask >> bit & 1]


def to_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Convert a column to float64.

    Returns:
        The numbers (NaN where empty or not a number) and, per row, whether text was not a number.
    """
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64"), pd.Series(False, index=values.index)
    text = values.astype("string").str.strip()
    empty = text.isna() | text.isin(MISSING_MARKERS)
    numbers = pd.to_numeric(text.mask(empty), errors="coerce").astype("float64")
    return numbers, numbers.isna() & ~empty


def _feature_problems(feature: Feature, numbers: pd.Series, not_a_number: pd.Series) -> pd.Series:
    """Rejection message per row for one feature ('' where the value is acceptable)."""
    problems = pd.Series("", index=numbers.index, dtype=object)
    if not_a_number.any():
        problems[not_a_number] = f"{feature.name}: not a number"
    present = numbers.notna() & ~numbers.isin(feature.missing_codes)
    if feature.codes:
        invalid = present & ~numbers.isin(list(feature.codes))
    else:
        low, high = feature.valid_range
        invalid = present & ((numbers < low) | (numbers > high))
    if invalid.any():
        values = numbers[invalid].map(lambda value: f"{value:g}")
        problems[invalid] = f"{feature.name}=" + values + f" outside {feature.domain_text()}"
    return problems


def _label_problems(raw_labels: pd.Series | None, index: pd.Index) -> tuple[pd.Series, pd.Series]:
    if raw_labels is None:
        return pd.Series(np.nan, index=index), pd.Series("", index=index, dtype=object)
    labels, not_a_number = to_numbers(raw_labels)
    invalid = not_a_number | (labels.notna() & ~labels.isin([0, 1]))
    problems = pd.Series("", index=index, dtype=object)
    problems[invalid] = f"{LABEL}: label must be 0 (disease) or 1 (no disease)"
    return labels, problems


def _join_problems(problem_columns: list[pd.Series]) -> pd.Series:
    reasons = pd.Series("", index=problem_columns[0].index, dtype=object)
    flagged = np.logical_or.reduce([(column != "").to_numpy() for column in problem_columns])
    if flagged.any():
        rows = zip(*(column[flagged] for column in problem_columns))
        reasons[flagged] = ["; ".join(text for text in row if text) for row in rows]
    return reasons


def validate_rows(raw: pd.DataFrame, max_missing: int) -> ValidatedRows:
    """Check rows against the contract; missing values are allowed up to ``max_missing`` per row.

    Args:
        raw: Columns named by ``FEATURE_NAMES`` (numbers or text), optionally ``LABEL``.
        max_missing: Most features a row may miss and still be scored.

    Returns:
        The accepted rows as numbers and the reason for each rejected row.
    """
    raw = raw.reset_index(drop=True)
    columns, problems, missing = {}, [], []
    for feature in FEATURES:
        numbers, not_a_number = to_numbers(raw[feature.name])
        problems.append(_feature_problems(feature, numbers, not_a_number))
        is_missing = (numbers.isna() & ~not_a_number) | numbers.isin(feature.missing_codes)
        columns[feature.name] = numbers.mask(is_missing)
        missing.append(is_missing.to_numpy())
    labels, label_problems = _label_problems(raw.get(LABEL), raw.index)
    problems.append(label_problems)

    missing_matrix = np.column_stack(missing)
    missing_count = missing_matrix.sum(axis=1)
    too_many = missing_count > max_missing
    if too_many.any():
        names = [", ".join(missing_feature_names(m)) for m in _bit_masks(missing_matrix[too_many])]
        counts = missing_count[too_many]
        too_many_problems = pd.Series("", index=raw.index, dtype=object)
        too_many_problems[too_many] = [
            f"{count} features missing (at most {max_missing} allowed): {listed}"
            for count, listed in zip(counts, names)
        ]
        problems.append(too_many_problems)

    reasons = _join_problems(problems)
    accepted = (reasons == "").to_numpy()
    features = pd.DataFrame(columns)[accepted].reset_index(drop=True)
    return ValidatedRows(
        features=features,
        labels=labels[accepted].reset_index(drop=True),
        accepted=accepted,
        missing_masks=_bit_masks(missing_matrix[accepted]),
        reasons=reasons[~accepted].tolist(),
    )


def _bit_masks(missing_matrix: np.ndarray) -> np.ndarray:
    return missing_matrix.astype(np.int64) @ (1 << np.arange(len(FEATURE_NAMES), dtype=np.int64))
