"""Why this patient: each feature's contribution to the risk, and the three that push it up most.

Contributions are on the log-odds scale of the calibrated ensemble, whose score of a row is the
mean over its members of each member's calibrated log-odds, ``L(x) = mean_k logit(p_k(x))`` (the
risk itself is the mean of the ``p_k``).

- **Linear champions** (logistic regression, linear SVM): ``L`` is linear in the preprocessed row,
  so it splits exactly into one term per feature: a number's slope times its (median-imputed)
  value plus its missing indicator's weight, or a code's weight. A feature's contribution is its
  term minus the term's mean over the reference rows (the training data), so the contributions of
  a row add up to ``L(x)`` minus the mean of ``L`` over the reference rows.
- **Other champions** (RBF SVM, gradient boosting): feature ablation. A feature's contribution is
  how much ``L`` falls when that feature alone is set to the reference's typical value (median of a
  number, most frequent code). It is exact for a model without interactions and otherwise a local,
  one-at-a-time attribution: the contributions need not add up to anything.
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import logit  # pylint: disable=no-name-in-module
from sklearn.pipeline import Pipeline

from heart_batch.fast_risk import LinearRisk, CodeTable, feature_matrix, fold_linear
from heart_batch.schema import FEATURE_NAMES, FEATURES

REASONS = 3
"""Reasons given per row: at most this many features, those that push the risk up the most."""
REASON_TYPE = pa.list_(
    pa.struct(
        [
            pa.field("feature", pa.dictionary(pa.int8(), pa.string())),
            pa.field("label", pa.dictionary(pa.int16(), pa.string())),
            pa.field("value", pa.float64()),
            pa.field("contribution", pa.float64()),
        ]
    )
)
LINEAR = "exact linear contributions (log-odds, relative to the reference's mean)"
ABLATION = "feature ablation to the reference's typical value (log-odds)"


class ContributionFunction(Protocol):
    """Rows x features: each feature's contribution to each row of a feature matrix."""

    def __call__(self, matrix: np.ndarray) -> np.ndarray: ...

    def candidates(self, matrix: np.ndarray) -> np.ndarray:
        """The same, -inf where the value was imputed: what may be a reason."""


@dataclass(frozen=True)
class LinearContributions:
    """The terms of a linear ensemble's mean log-odds, feature by feature, less their reference
    means (``offsets``)."""

    average: LinearRisk
    """The members averaged into one (a single column of weights)."""
    offsets: np.ndarray

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        return linear_terms(self.average, matrix) - self.offsets

    def candidates(self, matrix: np.ndarray) -> np.ndarray:
        """The contributions of the observed values, -inf for an imputed one (never a reason);
        one pass per feature (an observed value's missing indicator weighs nothing)."""
        candidates = np.empty(matrix.shape)
        weights, offsets = self.average.weights[:, 0], self.offsets
        for i, column in enumerate(self.average.numeric):
            values = matrix[:, column]
            observed = -weights[i] * values - offsets[column]
            candidates[:, column] = np.where(np.isnan(values), -np.inf, observed)
        for column, part in self.average.nominal.items():
            values = matrix[:, column]
            observed = -part.contribution(values)[:, 0] - offsets[column]
            candidates[:, column] = np.where(np.isnan(values), -np.inf, observed)
        return candidates


def linear_terms(average: LinearRisk, matrix: np.ndarray) -> np.ndarray:
    """Rows x features: each feature's term of the mean log-odds (members' sigmoid is
    ``expit(-total)``, hence the minus signs)."""
    terms = np.zeros(matrix.shape)
    weights = average.weights[:, 0]
    for i, (column, median) in enumerate(zip(average.numeric, average.medians)):
        values = matrix[:, column]
        terms[:, column] = -weights[i] * np.where(np.isnan(values), median, values)
    for i, column in enumerate(average.indicated, start=len(average.numeric)):
        terms[:, column] -= weights[i] * np.isnan(matrix[:, column])
    for column, part in average.nominal.items():
        terms[:, column] -= part.contribution(matrix[:, column])[:, 0]
    return terms


def averaged_members(linear: LinearRisk) -> LinearRisk:
    """The linear form of the mean of the members' log-odds: every weight averaged."""
    return LinearRisk(
        numeric=linear.numeric,
        medians=linear.medians,
        indicated=linear.indicated,
        weights=linear.weights.mean(axis=1, keepdims=True),
        nominal={
            column: CodeTable(part.mode, part.table.mean(axis=1, keepdims=True))
            for column, part in linear.nominal.items()
        },
        bias=linear.bias.mean(keepdims=True),
    )


@dataclass(frozen=True)
class AblationContributions:
    """``L(x) - L(x with feature j at its typical value)`` for every feature ``j``."""

    pipeline: Pipeline
    typical: np.ndarray
    """Per feature, the reference's median (numbers) or most frequent code."""

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        full = mean_log_odds(self.pipeline, matrix)
        contributions = np.empty(matrix.shape)
        for column, value in enumerate(self.typical):
            ablated = matrix.copy()
            ablated[:, column] = value
            contributions[:, column] = full - mean_log_odds(self.pipeline, ablated)
        return contributions

    def candidates(self, matrix: np.ndarray) -> np.ndarray:
        """The contributions of the observed values, -inf for an imputed one (never a reason)."""
        return np.where(np.isnan(matrix), -np.inf, self(matrix))


def mean_log_odds(pipeline: Pipeline, matrix: np.ndarray) -> np.ndarray:
    """``L(x)``: the mean over the calibrated members of their log-odds (the log-odds of the
    risk for a classifier that is not a calibrated ensemble)."""
    frame = pd.DataFrame(matrix, columns=FEATURE_NAMES)
    classifier = pipeline.named_steps["classifier"]
    members = getattr(classifier, "calibrated_classifiers_", None)
    if not members:
        return logit(np.clip(pipeline.predict_proba(frame)[:, 1], 1e-15, 1 - 1e-15))
    preprocessed = pipeline.named_steps["preprocess"].transform(frame)
    member_risks = [member.predict_proba(preprocessed)[:, 1] for member in members]
    return np.mean([logit(np.clip(risk, 1e-15, 1 - 1e-15)) for risk in member_risks], axis=0)


@dataclass(frozen=True)
class Explainer:
    """How a champion's reasons are computed, and what they mean (``LINEAR`` or ``ABLATION``)."""

    contributions: ContributionFunction
    method: str


def compile_explainer(pipeline: Pipeline, reference: pd.DataFrame) -> Explainer:
    """Exact linear contributions when the pipeline folds into a linear form, else ablation."""
    matrix = feature_matrix(reference)
    try:
        average = averaged_members(fold_linear(pipeline))
    except (AttributeError, ValueError, KeyError):
        typical = np.array(
            [
                (
                    pd.Series(matrix[:, i]).mode().iloc[0]
                    if feature.kind == "nominal"
                    else np.nanmedian(matrix[:, i])
                )
                for i, feature in enumerate(FEATURES)
            ]
        )
        return Explainer(AblationContributions(pipeline, typical), ABLATION)
    offsets = linear_terms(average, matrix).mean(axis=0)
    return Explainer(LinearContributions(average, offsets), LINEAR)


@dataclass(frozen=True)
class _Labels:
    """Every reason label, and where each feature's labels start (codes index from there)."""

    texts: pa.Array
    start: np.ndarray


def _labels() -> _Labels:
    texts, start = [], []
    for feature in FEATURES:
        start.append(len(texts))
        if feature.codes:
            codes = range(max(feature.codes) + 1)
            texts += [feature.value_label(code) if code in feature.codes else "" for code in codes]
        else:
            texts.append(feature.value_label())
    return _Labels(pa.array(texts, pa.string()), np.array(start))


LABELS = _labels()
CODED = np.array([bool(feature.codes) for feature in FEATURES])
FEATURE_TEXTS = pa.array(FEATURE_NAMES, pa.string())


def top_reasons(candidates: np.ndarray, matrix: np.ndarray) -> pa.Array:
    """Per row, the (at most ``REASONS``) features with the largest positive contributions, most
    first, as a ``REASON_TYPE`` column.

    Args:
        candidates: Rows x features: contributions, -inf where a value was imputed
            (``ContributionFunction.candidates``). Overwritten.
        matrix: The feature values.
    """
    rows, features = candidates.shape
    flat = candidates.reshape(-1)  # a view: taking a reason marks it -inf in place
    chosen = np.empty((rows, REASONS), dtype=np.intp)
    largest = np.empty((rows, REASONS))
    for rank in range(REASONS):
        chosen[:, rank] = np.argmax(candidates, axis=1)
        position = np.arange(rows) * features + chosen[:, rank]
        largest[:, rank] = flat[position]
        flat[position] = -np.inf
    kept = largest > 0
    feature = chosen[kept]
    value = matrix.ravel(order="F")[feature * rows + np.nonzero(kept)[0]]
    label = (LABELS.start[feature] + np.where(CODED[feature], value, 0)).astype(np.int16)
    reasons = pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(feature.astype(np.int8)), FEATURE_TEXTS),
            pa.DictionaryArray.from_arrays(pa.array(label), LABELS.texts),
            pa.array(value),
            pa.array(largest[kept]),
        ],
        fields=list(REASON_TYPE.value_type),
    )
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(kept.sum(axis=1), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), reasons, type=REASON_TYPE)
