"""Why this patient: each feature's contribution to the risk, and the three that push it up most.

Contributions are on the log-odds scale of the calibrated ensemble, whose score of a row is the
mean over its members of each member's calibrated log-odds, ``L(x) = mean_k logit(p_k(x))`` (the
risk itself is the mean of the ``p_k``).

- **Linear champions** (logistic regression, linear SVM): ``L`` is linear in the preprocessed row,
  so it splits exactly into one term per feature: a number's slope times its (median-imputed)
  value plus its missing indicator's weight, or a code's weight. A feature's contribution is its
  term minus the term's mean over the reference rows (the training data), so the contributions of
  a row add up to ``L(x)`` minus the mean of ``L`` over the reference rows.
- **Gradient boosting**: exact TreeSHAP (SHAP's ``TreeExplainer``, tree-path-dependent) of each
  member's trees. A member's calibrated log-odds is ``-(a_k f_k(x) + b_k)``, with ``f_k`` the sum
  of its trees, so a feature's contribution is the mean over the members of ``-a_k`` times the SHAP
  values of the feature's preprocessed columns (its value or one-hot codes, its missing
  indicator). The contributions of a row add up to ``L(x)`` minus ``expected``: the mean over the
  members of each one's mean log-odds over the rows that trained it (TreeSHAP's expectation).
- **Other champions** (RBF SVM): feature ablation. A feature's contribution is
  how much ``L`` falls when that feature alone is set to the reference's typical value (median of a
  number, most frequent code). It is exact for a model without interactions and otherwise a local,
  one-at-a-time attribution: the contributions need not add up to anything.
"""

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import logit  # pylint: disable=no-name-in-module
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from heart_batch.contract.columns import REASON_TYPE
from heart_batch.contract.features import FEATURE_NAMES, FEATURES
from heart_batch.model.risk import (
    CodeTable,
    LinearRisk,
    Preprocessing,
    feature_matrix,
    fold_linear,
    model_kind,
    numpy_preprocessing,
)

REASONS = 3
"""Reasons given per row: at most this many features, those that push the risk up the most."""
FEATURE_MASK = 0xF
"""The low bits of a ranking key that hold the feature (the contract has fewer than 16)."""
LINEAR = "exact linear contributions (log-odds, relative to the reference's mean)"
TREE_SHAP = "exact TreeSHAP of each member's trees (log-odds, relative to their training rows)"
ABLATION = "feature ablation to the reference's typical value (log-odds)"


class ContributionFunction(Protocol):
    """Rows x features: each feature's contribution to each row of a feature matrix."""

    def __call__(self, matrix: np.ndarray) -> np.ndarray: ...

    def candidates(self, matrix: np.ndarray) -> np.ndarray:
        """Features x rows, float32: the contributions of the observed values, NaN where a value
        was imputed (never a reason). Codes must be the contract's (validated rows)."""
        raise NotImplementedError


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
        """One pass per feature: a number's slope times its value (NaN stays NaN), a code's
        entry in its table (an observed value's missing indicator weighs nothing)."""
        candidates = np.full((matrix.shape[1], len(matrix)), np.nan, dtype=np.float32)
        slopes = -self.average.weights[: len(self.average.numeric), 0]
        for slope, column in zip(slopes, self.average.numeric):
            np.multiply(matrix[:, column], slope, out=candidates[column], casting="same_kind")
            candidates[column] -= self.offsets[column]
        for column, lookup in self.code_lookups.items():
            index = np.nan_to_num(matrix[:, column], nan=len(lookup) - 1).astype(np.intp)
            np.take(lookup, index, out=candidates[column], mode="clip")
        return candidates

    @cached_property
    def code_lookups(self) -> dict[int, np.ndarray]:
        """Per coded feature, float32 by code: its contribution when observed (a code the model
        never saw weighs nothing, less the offset), then NaN for a missing value."""
        lookups = {}
        for column, part in self.average.nominal.items():
            size = max(max(FEATURES[column].codes) + 1, len(part.table))
            observed = np.full(size, -part.table[-1, 0] - self.offsets[column])
            observed[: len(part.table)] = -part.table[:, 0] - self.offsets[column]
            lookups[column] = np.append(observed, np.nan).astype(np.float32)
        return lookups


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
        """The contributions of the observed values, NaN for an imputed one (never a reason)."""
        return observed_candidates(self(matrix), matrix)


@dataclass(frozen=True)
class TreeShapContributions:
    """TreeSHAP of the calibrated members' trees, on ``L``'s scale, feature by feature."""

    preprocessing: Preprocessing
    members: list[tuple[Any, float]]
    """Per member, its ``shap.TreeExplainer`` and its calibration's slope ``a_k``."""
    grouping: np.ndarray
    """Preprocessed columns x features: 1 where the column is the feature's."""
    expected: float
    """What a row's contributions add up to ``L(x)`` minus."""

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        preprocessed = self.preprocessing(matrix)
        total = sum(
            -slope * explainer.shap_values(preprocessed, check_additivity=False)
            for explainer, slope in self.members
        )
        return total / len(self.members) @ self.grouping

    def candidates(self, matrix: np.ndarray) -> np.ndarray:
        """The contributions of the observed values, NaN for an imputed one (never a reason)."""
        return observed_candidates(self(matrix), matrix)


def tree_shap(pipeline: Pipeline) -> TreeShapContributions:
    """``TreeShapContributions`` of a pipeline whose calibrated members are gradient boosting.

    Raises:
        ValueError: The members are not sigmoid-calibrated gradient boosting.
    """
    # Imported here: only a gradient-boosting champion pays for shap's import (numba, llvmlite).
    # Its plotting colours use matplotlib calls that warn of a coming deprecation: not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap  # pylint: disable=import-outside-toplevel

    members, expected = [], []
    for member in pipeline.named_steps["classifier"].calibrated_classifiers_:
        if not isinstance(member.estimator, HistGradientBoostingClassifier):
            raise ValueError("the members are not gradient boosting")
        (calibrator,) = member.calibrators
        explainer = shap.TreeExplainer(member.estimator)
        members.append((explainer, calibrator.a_))
        base = float(np.ravel(explainer.expected_value)[0])
        expected.append(-(calibrator.a_ * base + calibrator.b_))
    preprocessing = numpy_preprocessing(pipeline.named_steps["preprocess"])
    columns = preprocessing.column_features()
    grouping = (columns[:, None] == np.arange(len(FEATURES))[None, :]).astype(np.float64)
    return TreeShapContributions(preprocessing, members, grouping, float(np.mean(expected)))


def observed_candidates(contributions: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Rows x features contributions as ``ContributionFunction.candidates``: features x rows,
    float32, NaN where the value was imputed."""
    observed = np.where(np.isnan(matrix), np.nan, contributions)
    return np.ascontiguousarray(observed.T, dtype=np.float32)


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
    """How a champion's reasons are computed, and what they mean (``LINEAR``, ``TREE_SHAP`` or
    ``ABLATION``)."""

    contributions: ContributionFunction
    method: str
    protective: tuple[tuple[int, float, int], ...] = ()
    """Per feature with an established direction: its column, the reference's mean of it, and
    the direction's sign. A value on the mean's protective side is never a reason."""

    def reasons(self, matrix: np.ndarray) -> pa.Array:
        """Each row's reasons (``top_reasons``), never citing a value on the protective side of
        the reference population (a young age, a high maximum heart rate) as raising the risk,
        whatever the model's contribution says."""
        candidates = self.contributions.candidates(matrix)
        for column, mean, sign in self.protective:
            with np.errstate(invalid="ignore"):
                protective_side = sign * (matrix[:, column] - mean) <= 0
            candidates[column, protective_side] = np.nan
        return top_reasons(candidates, matrix)


def compile_explainer(pipeline: Pipeline, reference: pd.DataFrame) -> Explainer:
    """By the pipeline's kind (``model_kind``): exact linear contributions for a linear one,
    TreeSHAP for gradient boosting, else ablation. An error while building them raises."""
    matrix = feature_matrix(reference)
    protective = tuple(
        (column, float(np.nanmean(matrix[:, column])), 1 if feature.direction == "up" else -1)
        for column, feature in enumerate(FEATURES)
        if feature.direction
    )
    kind = model_kind(pipeline)
    if kind == "linear":
        average = averaged_members(fold_linear(pipeline))
        offsets = linear_terms(average, matrix).mean(axis=0)
        return Explainer(LinearContributions(average, offsets), LINEAR, protective)
    if kind == "gradient_boosting":
        return Explainer(tree_shap(pipeline), TREE_SHAP, protective)
    return Explainer(AblationContributions(pipeline, typical_values(matrix)), ABLATION, protective)


def typical_values(matrix: np.ndarray) -> np.ndarray:
    """Per feature, the median of a number or the most frequent code."""
    return np.array(
        [
            (
                pd.Series(matrix[:, i]).mode().iloc[0]
                if feature.kind == "nominal"
                else np.nanmedian(matrix[:, i])
            )
            for i, feature in enumerate(FEATURES)
        ]
    )


@dataclass(frozen=True)
class _Labels:
    """Every reason label, and where each feature's labels start (codes index from there)."""

    texts: pa.Array
    start: np.ndarray


def _labels() -> _Labels:
    texts: list[str] = []
    start: list[int] = []
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

    Each candidate becomes one integer key that orders as the contribution (a positive float32's
    bits do) and carries its feature in the low bits, so the largest of a row is one elementwise
    maximum over the features, vectorised across the rows.

    Args:
        candidates: Features x rows, float32 (``ContributionFunction.candidates``): the
            contributions, NaN where a value was imputed.
        matrix: The feature values.
    """
    features, rows = candidates.shape
    candidates = np.ascontiguousarray(candidates, dtype=np.float32)
    keys = candidates.view(np.uint32) & ~np.uint32(FEATURE_MASK)
    keys |= np.arange(features, dtype=np.uint32)[:, None]
    keys *= candidates > 0  # zero: not a reason (NaN, negative or nothing)
    ranked = np.empty((rows, REASONS), dtype=np.uint32)
    for rank in range(REASONS):
        if rank:
            keys *= keys < ranked[:, rank - 1]
        ranked[:, rank] = keys.max(axis=0, initial=0)
    kept = ranked > 0
    feature = (ranked[kept] & FEATURE_MASK).astype(np.intp)
    flat = feature * rows + np.nonzero(kept)[0]  # (feature, row) in both column-major layouts
    value = matrix.ravel(order="F")[flat]
    label = (LABELS.start[feature] + np.where(CODED[feature], value, 0)).astype(np.int16)
    reasons = pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(feature.astype(np.int8)), FEATURE_TEXTS),
            pa.DictionaryArray.from_arrays(pa.array(label), LABELS.texts),
            pa.array(value),
            pa.array(candidates.ravel()[flat]),
        ],
        fields=list(REASON_TYPE.value_type),
    )
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(sum(kept[:, rank].astype(np.int32) for rank in range(REASONS)), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), reasons, type=REASON_TYPE)
