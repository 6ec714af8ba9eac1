"""Validation: which rows of a batch the feature contract accepts, and why it refuses the others."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from heart_batch.contract.columns import LABEL
from heart_batch.contract.features import FEATURE_NAMES, FEATURES, Feature

MISSING_MARKERS = ("", "?", "-", "--", ".", "na", "n/a", "#n/a", "nan", "null", "none")
"""Cell texts that mean "not recorded" in hospital exports, in any case and with spaces around
them: read as missing (and imputed), never as "not a number"."""


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


def _feature_problems(feature: Feature, values, numbers: np.ndarray, not_a_number: np.ndarray):
    """The rows whose value is text, and those whose value is outside the feature's domain, each
    with its bad value."""
    present = ~np.isnan(numbers) & ~np.isin(numbers, feature.missing_codes)
    if feature.codes:
        invalid = present & ~np.isin(numbers, list(feature.codes))
    else:
        low, high = feature.valid_range or (-np.inf, np.inf)
        invalid = present & ((numbers < low) | (numbers > high))
    outside = [
        f"{feature.name}={value:g} outside {feature.domain_text()}" for value in numbers[invalid]
    ]
    texts = pd.Series(values, copy=False).astype("string").str.strip().to_numpy()[not_a_number]
    not_numbers = [f"{feature.name}={_shown(text)} is not a number" for text in texts]
    return [(not_a_number, not_numbers), (invalid, outside)]


def _shown(text: str, longest: int = 30) -> str:
    """A bad value as a reason quotes it: ``'abc'``, cut when long."""
    return repr(text if len(text) <= longest else text[: longest - 3] + "...")


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
        problems += _feature_problems(feature, raw[feature.name], numbers, not_a_number)
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
