"""The risk of a linear champion as a sum of per-feature contributions, at numpy speed.

The registered model stays the scikit-learn pipeline. When its classifier is linear (logistic
regression, a linear SVM), each of the calibrated members computes ``a * (x . w + c) + b`` from the
preprocessed row, and the preprocessing is, feature by feature, affine (median imputation and
scaling), a table (most-frequent imputation and one-hot codes) or an indicator (missing). So the
whole pipeline folds into slopes, code tables and indicator weights per member, and the risk is
the mean over the members of ``expit(-(sum of contributions + bias))``: one small matrix product
and a table lookup per coded feature, no pandas, no matrix of one-hot columns. ``compile_risk``
derives it and checks it against the pipeline on probe rows; any other pipeline is scored by its
own ``predict_proba``.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit  # pylint: disable=no-name-in-module
from sklearn.calibration import _SigmoidCalibration
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from heart_batch.contract.features import FEATURE_NAMES, FEATURES
from heart_batch.model.directed import DirectedLogisticRegression

RiskFunction = Callable[[np.ndarray], np.ndarray]
"""The risk of each row of a feature matrix (float64, columns in ``FEATURE_NAMES`` order)."""
PARITY_TOLERANCE = 1e-9


def feature_matrix(features: pd.DataFrame) -> np.ndarray:
    """The matrix a ``RiskFunction`` takes, from a frame with (at least) the feature columns."""
    return features[FEATURE_NAMES].to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class CodeTable:
    """Most-frequent-imputed and one-hot encoded: ``table[code]`` per member; the last row, zeros,
    serves every value that is not a known code (one-hot's ``handle_unknown="ignore"``)."""

    mode: float
    table: np.ndarray

    @classmethod
    def from_codes(cls, mode: float, codes: np.ndarray, rows: np.ndarray) -> "CodeTable":
        """A table indexed by the code itself (codes are small non-negative integers)."""
        if np.any(codes < 0) or np.any(codes != np.round(codes)):
            raise ValueError("codes must be non-negative integers")
        table = np.zeros((int(codes.max()) + 2, rows.shape[1]))
        table[codes.astype(np.intp)] = rows
        return cls(mode, table)

    def contribution(self, values: np.ndarray) -> np.ndarray:
        """Per row, the members' weight of this feature's code."""
        filled = np.where(np.isnan(values), self.mode, values)
        unknown = len(self.table) - 1
        index = np.clip(filled, -1, unknown).astype(np.intp)
        index[(index < 0) | (index != filled)] = unknown
        return self.table[index]


@dataclass(frozen=True)
class LinearRisk:
    """The folded pipeline over the feature matrix.

    Numeric features (median-imputed) and the missing indicators of the indicated features form
    one design matrix, times one weight per member (the scaling folded in). Nominal features: a
    table per code. All columns per member.
    """

    numeric: np.ndarray
    medians: np.ndarray
    indicated: np.ndarray
    weights: np.ndarray
    """Rows: the numeric features' slopes, then the indicators' weights."""
    nominal: dict[int, CodeTable]
    bias: np.ndarray

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        design = np.empty((len(matrix), len(self.weights)), order="F")
        for i, (column, median) in enumerate(zip(self.numeric, self.medians)):
            values = matrix[:, column]
            design[:, i] = np.where(np.isnan(values), median, values)
        for i, column in enumerate(self.indicated, start=len(self.numeric)):
            design[:, i] = np.isnan(matrix[:, column])
        total = design @ self.weights + self.bias
        for column, part in self.nominal.items():
            total += part.contribution(matrix[:, column])
        return expit(-total).mean(axis=1)


@dataclass(frozen=True)
class Preprocessing:
    """The pipeline's preprocessing on numpy arrays: the same matrix as its ColumnTransformer."""

    numeric: np.ndarray
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    nominal: list[tuple[int, float, np.ndarray]]
    """Per nominal feature: its column, its mode, the codes that get a one-hot column."""
    indicated: np.ndarray

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        missing = np.isnan(matrix)
        numbers = np.where(missing[:, self.numeric], self.medians, matrix[:, self.numeric])
        blocks = [(numbers - self.means) / self.scales]
        for column, mode, kept in self.nominal:
            filled = np.where(missing[:, column], mode, matrix[:, column])
            blocks.append((filled[:, None] == kept[None, :]).astype(np.float64))
        blocks.append(missing[:, self.indicated].astype(np.float64))
        return np.hstack(blocks)

    def column_features(self) -> np.ndarray:
        """Per output column, the feature (its column in the feature matrix) it comes from."""
        codes = [np.full(len(kept), column) for column, _, kept in self.nominal]
        return np.concatenate([self.numeric, *codes, self.indicated]).astype(np.intp)


ModelKind = Literal["linear", "gradient_boosting", "kernel", "foreign"]
"""What a fitted pipeline is, by its structure: heart-batch's preprocessing and sigmoid-calibrated
members that are linear (logistic regression, a linear-kernel SVC), gradient boosting, or
another kernel SVC; ``foreign`` for any other pipeline (a model registered by hand)."""


def model_kind(pipeline: Pipeline) -> ModelKind:
    """The kind of a fitted pipeline (see ``ModelKind``)."""
    steps = getattr(pipeline, "named_steps", {})
    preprocess, classifier = steps.get("preprocess"), steps.get("classifier")
    members = getattr(classifier, "calibrated_classifiers_", None)
    built_here = isinstance(preprocess, ColumnTransformer) and {
        name for name, *_ in getattr(preprocess, "transformers_", [])
    } >= {"scaled", "nominal", "missing"}
    if not built_here or not members:
        return "foreign"
    estimators = [member.estimator for member in members]
    sigmoid = all(
        len(member.calibrators) == 1 and isinstance(member.calibrators[0], _SigmoidCalibration)
        for member in members
    )
    if sigmoid and all(_is_linear(estimator) for estimator in estimators):
        return "linear"
    if all(isinstance(estimator, HistGradientBoostingClassifier) for estimator in estimators):
        return "gradient_boosting"
    return "kernel"


def _is_linear(estimator) -> bool:
    return isinstance(estimator, (LogisticRegression, DirectedLogisticRegression)) or (
        isinstance(estimator, SVC) and estimator.kernel == "linear"
    )


def compile_risk(pipeline: Pipeline) -> tuple[RiskFunction, str]:
    """The fastest exact risk function of a fitted pipeline, and what it is.

    By the pipeline's kind: a linear one gives a ``LinearRisk``; another one of heart-batch's its
    classifier's ``predict_proba`` on the numpy ``Preprocessing``; a foreign one its own
    ``predict_proba``. A fast form serves only if it matches the pipeline's ``predict_proba``
    within ``PARITY_TOLERANCE`` on probe rows. An error while building it is a bug, and raises.
    """
    plain = _pipeline_risk(pipeline)
    kind = model_kind(pipeline)
    if kind == "foreign":
        return plain, "the pipeline's predict_proba"
    if kind == "linear":
        fast: RiskFunction = fold_linear(pipeline)
        what = "linear form (per-feature contributions)"
    else:
        fast, what = _on_numpy_preprocessing(pipeline), "the classifier on numpy preprocessing"
    probe = feature_matrix(probe_rows())
    with warnings.catch_warnings():  # the probe's unknown codes are on purpose
        warnings.simplefilter("ignore", UserWarning)
        expected = plain(probe)
    if np.max(np.abs(fast(probe) - expected)) <= PARITY_TOLERANCE:
        return fast, what
    return plain, "the pipeline's predict_proba"


def _on_numpy_preprocessing(pipeline: Pipeline) -> RiskFunction:
    preprocessing = numpy_preprocessing(pipeline.named_steps["preprocess"])
    classifier = pipeline.named_steps["classifier"]
    return lambda matrix: classifier.predict_proba(preprocessing(matrix))[:, 1]


def numpy_preprocessing(preprocess) -> Preprocessing:
    """The fitted ColumnTransformer of ``heart_batch.model.pipeline`` as a ``Preprocessing``.

    Raises:
        ValueError: The preprocessing is not the one ``heart_batch.model.pipeline`` builds.
    """
    if (
        preprocess.output_indices_["remainder"].stop
        != preprocess.output_indices_["remainder"].start
    ):
        raise ValueError("unexpected remainder columns")
    scaled = preprocess.named_transformers_["scaled"].named_steps
    steps = preprocess.named_transformers_["nominal"].named_steps
    imputer, encoder = steps["simpleimputer"], steps["onehotencoder"]
    nominal = []
    for i, name in enumerate(_columns(preprocess, "nominal")):
        codes = np.asarray(encoder.categories_[i], dtype=np.float64)
        if encoder.drop_idx_ is not None and encoder.drop_idx_[i] is not None:
            codes = np.delete(codes, encoder.drop_idx_[i])
        nominal.append((FEATURE_NAMES.index(name), float(imputer.statistics_[i]), codes))
    indicated = _columns(preprocess, "missing")
    indicated = [indicated[i] for i in preprocess.named_transformers_["missing"].features_]
    return Preprocessing(
        numeric=np.array([FEATURE_NAMES.index(n) for n in _columns(preprocess, "scaled")]),
        medians=np.asarray(scaled["simpleimputer"].statistics_, dtype=np.float64),
        means=scaled["standardscaler"].mean_,
        scales=scaled["standardscaler"].scale_,
        nominal=nominal,
        indicated=np.array([FEATURE_NAMES.index(name) for name in indicated], dtype=np.intp),
    )


def _pipeline_risk(pipeline: Pipeline) -> RiskFunction:
    def risk(matrix: np.ndarray) -> np.ndarray:
        return pipeline.predict_proba(pd.DataFrame(matrix, columns=FEATURE_NAMES))[:, 1]

    return risk


def fold_linear(pipeline: Pipeline) -> LinearRisk:
    """Fold preprocessing, linear members and their sigmoid calibrations into one ``LinearRisk``.

    ``(x - mean) / scale . w`` is ``x . (w / scale)`` plus a constant, which joins the bias.

    Raises:
        AttributeError: The classifier is not linear (no ``coef_``) or not sigmoid-calibrated.
        ValueError: The preprocessing is not the one ``heart_batch.model.pipeline`` builds.
    """
    preprocess, calibrated = pipeline.named_steps["preprocess"], pipeline.named_steps["classifier"]
    weights, bias = _member_weights(calibrated)
    preprocessing = numpy_preprocessing(preprocess)
    layout = preprocess.output_indices_
    slopes = weights[layout["scaled"]] / preprocessing.scales[:, None]
    return LinearRisk(
        numeric=preprocessing.numeric,
        medians=preprocessing.medians,
        indicated=preprocessing.indicated,
        weights=np.vstack([slopes, weights[layout["missing"]]]),
        nominal=_code_tables(preprocessing.nominal, weights[layout["nominal"]]),
        bias=bias - preprocessing.means @ slopes,
    )


def _member_weights(calibrated) -> tuple[np.ndarray, np.ndarray]:
    """Columns: one per calibrated member, ``a * w`` and ``a * c + b`` of ``a * (x.w + c) + b``."""
    weights, biases = [], []
    for member in calibrated.calibrated_classifiers_:
        (calibrator,) = member.calibrators
        coef = np.asarray(member.estimator.coef_, dtype=np.float64).ravel()
        intercept = float(np.ravel(member.estimator.intercept_)[0])
        weights.append(calibrator.a_ * coef)
        biases.append(calibrator.a_ * intercept + calibrator.b_)
    return np.column_stack(weights), np.array(biases)


def _code_tables(nominal: list, weights: np.ndarray) -> dict[int, CodeTable]:
    """Per nominal feature, its members' weight for each one-hot code (a dropped or unknown code
    weighs nothing)."""
    tables, start = {}, 0
    for column, mode, kept in nominal:
        tables[column] = CodeTable.from_codes(mode, kept, weights[start : start + len(kept)])
        start += len(kept)
    if start != len(weights):
        raise ValueError("one-hot columns do not match the encoder")
    return tables


def _columns(preprocess, transformer: str) -> list[str]:
    (columns,) = [cols for name, _, cols in preprocess.transformers_ if name == transformer]
    return list(columns)


def probe_rows(count: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Rows over every feature's whole domain, a fifth of the values missing, some codes unknown."""
    rng = np.random.default_rng(seed)
    columns = {}
    for feature in FEATURES:
        if feature.codes:
            codes = np.array([*feature.codes, max(feature.codes) + 1], dtype=np.float64)
            values = rng.choice(codes, count)
        else:
            low, high = feature.valid_range or (0.0, 1.0)
            values = rng.uniform(low, high, count)
        values[rng.random(count) < 0.2] = np.nan
        columns[feature.name] = values
    return pd.DataFrame(columns)
