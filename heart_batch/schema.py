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

MISSING_MARKERS = ("", "?", "-", "--", ".", "na", "n/a", "#n/a", "nan", "null", "none")
"""Cell texts that mean "not recorded" in hospital exports, in any case and with spaces around
them: read as missing (and imputed), never as "not a number"."""


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
        plain_name: What a clinician calls it, in the reasons of a prediction.
    """

    name: str
    description: str
    kind: Literal["numeric", "ordinal", "nominal"]
    valid_range: tuple[float, float] | None = None
    codes: dict[int, str] = field(default_factory=dict)
    missing_codes: tuple[float, ...] = ()
    unit: str = ""
    plain_name: str = ""

    def domain_text(self) -> str:
        """The valid domain in words, for rejection reasons and docs."""
        if self.codes:
            return ", ".join(f"{code}={meaning}" for code, meaning in self.codes.items())
        low, high = self.valid_range
        return f"{low:g} to {high:g} {self.unit}".strip()

    def value_label(self, code: int | None = None) -> str:
        """A value in words for a reason: "chest pain: asymptomatic", or the feature and its unit
        for a number ("cholesterol (mg/dl)"), whose value goes beside it."""
        if code is not None:
            return f"{self.plain_name}: {self.codes[code]}"
        return f"{self.plain_name} ({self.unit})" if self.unit else self.plain_name


FEATURES: tuple[Feature, ...] = (
    Feature("age", "Age", "numeric", valid_range=(1, 120), unit="years", plain_name="age"),
    Feature("sex", "Sex", "nominal", codes={0: "female", 1: "male"}, plain_name="sex"),
    Feature(
        "cp",
        "Chest pain type",
        "nominal",
        codes={0: "asymptomatic", 1: "atypical angina", 2: "non-anginal pain", 3: "typical angina"},
        plain_name="chest pain",
    ),
    Feature(
        "trtbps",
        "Resting blood pressure (0 = not recorded)",
        "numeric",
        valid_range=(50, 250),
        missing_codes=(0,),
        unit="mm Hg",
        plain_name="resting blood pressure",
    ),
    Feature(
        "chol",
        "Serum cholesterol (0 = not recorded)",
        "numeric",
        valid_range=(50, 700),
        missing_codes=(0,),
        unit="mg/dl",
        plain_name="cholesterol",
    ),
    Feature(
        "fbs",
        "Fasting blood sugar > 120 mg/dl",
        "nominal",
        codes={0: "false", 1: "true"},
        plain_name="fasting blood sugar > 120 mg/dl",
    ),
    Feature(
        "restecg",
        "Resting ECG",
        "nominal",
        codes={0: "left-ventricular hypertrophy", 1: "normal", 2: "ST-T wave abnormality"},
        plain_name="resting ECG",
    ),
    Feature(
        "thalachh",
        "Maximum heart rate achieved",
        "numeric",
        valid_range=(50, 250),
        unit="bpm",
        plain_name="maximum heart rate",
    ),
    Feature(
        "exng",
        "Exercise-induced angina",
        "nominal",
        codes={0: "no", 1: "yes"},
        plain_name="exercise-induced angina",
    ),
    Feature(
        "oldpeak",
        "ST depression induced by exercise relative to rest (negative = elevation)",
        "numeric",
        valid_range=(-5, 10),
        unit="mm",
        plain_name="ST depression on exercise",
    ),
    Feature(
        "slp",
        "Slope of the peak exercise ST segment",
        "nominal",
        codes={0: "downsloping", 1: "flat", 2: "upsloping"},
        plain_name="peak exercise ST slope",
    ),
    Feature(
        "caa",
        "Major vessels coloured by fluoroscopy (4 = not recorded)",
        "ordinal",
        codes={0: "0 vessels", 1: "1 vessel", 2: "2 vessels", 3: "3 vessels"},
        missing_codes=(4,),
        plain_name="vessels coloured by fluoroscopy",
    ),
    Feature(
        "thall",
        "Thallium stress test (0 = not recorded)",
        "nominal",
        codes={1: "fixed defect", 2: "normal", 3: "reversible defect"},
        missing_codes=(0,),
        plain_name="thallium stress test",
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
        matrix: Accepted rows only, float64 in ``FEATURE_NAMES`` column order (column-major, so
            each feature is one contiguous array); NaN where a value was missing (to be imputed
            by the model pipeline).
        labels: Dataset label of the accepted rows (NaN when absent or empty).
        accepted: One flag per input row.
        missing_masks: Per accepted row, a bit mask of missing features (bit i = FEATURE_NAMES[i]).
        reasons: Per rejected row, in input order, why it was rejected.
    """

    matrix: np.ndarray
    labels: pd.Series
    accepted: np.ndarray
    missing_masks: np.ndarray
    reasons: list[str]

    @property
    def features(self) -> pd.DataFrame:
        """The accepted rows as a frame with the feature names as columns (no copy)."""
        return pd.DataFrame(self.matrix, columns=FEATURE_NAMES, copy=False)


def missing_feature_names(mask: int) -> list[str]:
    """Names of the features set in a missing-feature bit mask."""
    return [name for bit, name in enumerate(FEATURE_NAMES) if mask >> bit & 1]


def to_numbers(values) -> tuple[np.ndarray, np.ndarray]:
    """Convert a column (numbers or text; array or Series) to float64.

    Returns:
        The numbers (NaN where empty or not a number) and, per row, whether text was not a number.
    """
    values = pd.Series(values, copy=False)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(values), bool)
    text = values.astype("string").str.strip()
    empty = (text.isna() | text.str.lower().isin(MISSING_MARKERS)).to_numpy()
    numbers = pd.to_numeric(text.mask(empty), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    return numbers, np.isnan(numbers) & ~empty


Problem = tuple[np.ndarray, str | list[str]]
"""The rows a check flags, and its message: one for all of them, or one per flagged row."""


def _feature_problems(feature: Feature, numbers: np.ndarray, not_a_number: np.ndarray):
    """The rows whose value is text, and those whose value is outside the feature's domain."""
    present = ~np.isnan(numbers) & ~np.isin(numbers, feature.missing_codes)
    if feature.codes:
        invalid = present & ~np.isin(numbers, list(feature.codes))
    else:
        low, high = feature.valid_range
        invalid = present & ((numbers < low) | (numbers > high))
    outside = [
        f"{feature.name}={value:g} outside {feature.domain_text()}" for value in numbers[invalid]
    ]
    return [(not_a_number, f"{feature.name}: not a number"), (invalid, outside)]


def _labels(raw_labels, count: int) -> tuple[np.ndarray, Problem]:
    """The labels (NaN when absent) and the rows whose label is neither 0 nor 1."""
    if raw_labels is None:
        return np.full(count, np.nan), (np.zeros(count, bool), "")
    labels, not_a_number = to_numbers(raw_labels)
    invalid = not_a_number | (~np.isnan(labels) & ~np.isin(labels, [0, 1]))
    return labels, (invalid, f"{LABEL}: label must be 0 (disease) or 1 (no disease)")


def _too_many_missing(missing: np.ndarray, max_missing: int) -> Problem:
    counts = missing.sum(axis=1)
    too_many = counts > max_missing
    messages = [
        f"{count} features missing (at most {max_missing} allowed): "
        + ", ".join(missing_feature_names(mask))
        for count, mask in zip(counts[too_many], _bit_masks(missing[too_many]))
    ]
    return too_many, messages


def _reasons(problems: list[Problem], count: int) -> tuple[np.ndarray, list[str]]:
    """Which rows pass every check, and each other row's messages joined in check order."""
    flagged = np.zeros(count, bool)
    for rows, _ in problems:
        flagged |= rows
    messages: dict[int, list[str]] = {int(row): [] for row in np.flatnonzero(flagged)}
    for rows, message in problems:
        flagged_rows = np.flatnonzero(rows)
        texts = [message] * len(flagged_rows) if isinstance(message, str) else message
        for row, text in zip(flagged_rows, texts):
            messages[int(row)].append(text)
    return ~flagged, ["; ".join(texts) for texts in messages.values()]


def validate_rows(raw, max_missing: int) -> ValidatedRows:
    """Check rows against the contract; missing values are allowed up to ``max_missing`` per row.

    Args:
        raw: A frame or a mapping of columns (numbers or text, arrays or Series) named by
            ``FEATURE_NAMES``, optionally ``LABEL``.
        max_missing: Most features a row may miss and still be scored.

    Returns:
        The accepted rows as numbers and the reason for each rejected row.
    """
    count = len(raw[FEATURE_NAMES[0]])
    matrix = np.empty((count, len(FEATURES)), order="F")
    missing = np.empty((count, len(FEATURES)), dtype=bool, order="F")
    problems: list[Problem] = []
    for i, feature in enumerate(FEATURES):
        numbers, not_a_number = to_numbers(raw[feature.name])
        problems += _feature_problems(feature, numbers, not_a_number)
        blank = np.isnan(numbers) & ~not_a_number
        missing[:, i] = blank | np.isin(numbers, feature.missing_codes)
        matrix[:, i] = np.where(missing[:, i], np.nan, numbers)
    labels, label_problem = _labels(raw.get(LABEL), count)
    problems += [label_problem, _too_many_missing(missing, max_missing)]
    accepted, reasons = _reasons(problems, count)
    return ValidatedRows(
        matrix=matrix if accepted.all() else np.asfortranarray(matrix[accepted]),
        labels=pd.Series(labels[accepted]),
        accepted=accepted,
        missing_masks=_bit_masks(missing[accepted]),
        reasons=reasons,
    )


def _bit_masks(missing_matrix: np.ndarray) -> np.ndarray:
    """Per row, bit i set where column i is missing."""
    packed = np.packbits(missing_matrix, axis=1, bitorder="little").astype(np.int64)
    return np.bitwise_or.reduce(packed << (8 * np.arange(packed.shape[1])), axis=1)
