"""The model: one scikit-learn Pipeline (imputation, scaling, calibrated classifier), its search.

The pipeline's ``predict_proba(X)[:, 1]`` is the risk: the calibrated probability of angiographic
heart disease.
"""

import math
from typing import Any

from hyperopt import hp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from heart_batch.contract.features import FEATURES
from heart_batch.model.directed import (
    DIRECTIONS,
    DirectedGradientBoosting,
    DirectedLogisticRegression,
)

MODEL_FAMILIES = ("logistic_regression", "svc", "gradient_boosting")
"""Every family ``build_pipeline`` knows."""
DIRECTED_FAMILIES = ("logistic_regression", "gradient_boosting")
"""The families searched by default: they respect the features' established directions (sign
constraints, monotonic constraints; ``heart_batch.model.directed``). The SVC cannot, so it is
searched only when named (``families=["svc"]``), for comparison."""

CALIBRATION_FOLDS = 5

SKOPS_TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "heart_batch.model.directed.DirectedLogisticRegression",
    "heart_batch.model.directed.DirectedGradientBoosting",
]
"""Types skops must be told to trust when MLflow saves and loads the pipeline. We trust them because
only our own training writes to the registry; a registry others can write to needs more care."""


def _log_uniform(label: str, low: float, high: float):
    return hp.loguniform(label, math.log(low), math.log(high))


_FAMILY_SPACES: dict[str, dict[str, Any]] = {
    "logistic_regression": {
        "family": "logistic_regression",
        "C": _log_uniform("logistic_regression.C", 1e-3, 10.0),
    },
    "svc": {
        "family": "svc",
        "kernel": hp.choice("svc.kernel", ["rbf", "linear"]),
        "C": _log_uniform("svc.C", 1e-2, 100.0),
        "gamma": _log_uniform("svc.gamma", 1e-3, 1.0),
    },
    "gradient_boosting": {
        "family": "gradient_boosting",
        "max_iter": hp.quniform("gradient_boosting.max_iter", 25, 200, 25),
        "learning_rate": _log_uniform("gradient_boosting.learning_rate", 0.01, 0.3),
        "max_depth": hp.quniform("gradient_boosting.max_depth", 1, 4, 1),
        "l2_regularization": _log_uniform("gradient_boosting.l2_regularization", 1e-3, 10.0),
    },
}


def check_families(families: list[str] | None) -> list[str]:
    """The model families to search: those named, or ``DIRECTED_FAMILIES`` when None.

    Raises:
        ValueError: None was named, or an unknown one.
    """
    if families is None:
        return list(DIRECTED_FAMILIES)
    unknown = sorted(set(families) - set(MODEL_FAMILIES))
    if unknown or not families:
        raise ValueError(f"unknown model families {unknown}; choose from {MODEL_FAMILIES}")
    return list(families)


def search_space(families: tuple[str, ...] | list[str] = DIRECTED_FAMILIES):
    """Hyperopt space over the given model families.

    Raises:
        ValueError: An unknown family was named.
    """
    return hp.choice("model", [_FAMILY_SPACES[family] for family in check_families(list(families))])


def normalize_params(params: dict[str, Any]) -> dict[str, Any]:
    """Cast hyperopt's floats back to ints where the estimator needs them, drop unused keys."""
    params = dict(params)
    if params["family"] == "gradient_boosting":
        params["max_iter"] = int(params["max_iter"])
        params["max_depth"] = int(params["max_depth"])
    if params["family"] == "svc" and params["kernel"] == "linear":
        params.pop("gamma", None)
    return params


def _classifier(params: dict[str, Any], seed: int, directions: tuple):
    hyper = {key: value for key, value in params.items() if key != "family"}
    if params["family"] == "logistic_regression":
        return DirectedLogisticRegression(max_iter=2000, directions=directions, **hyper)
    if params["family"] == "svc":
        return SVC(random_state=seed, **hyper)
    return DirectedGradientBoosting(directions, early_stopping=False, random_state=seed, **hyper)


def _preprocessor() -> ColumnTransformer:
    scaled = [feature.name for feature in FEATURES if feature.kind != "nominal"]
    nominal = [feature.name for feature in FEATURES if feature.kind == "nominal"]
    category_lists = [
        [float(code) for code in sorted(feature.codes)]
        for feature in FEATURES
        if feature.kind == "nominal"
    ]
    return ColumnTransformer(
        [
            ("scaled", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), scaled),
            (
                "nominal",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(
                        categories=category_lists, drop="if_binary", handle_unknown="ignore"
                    ),
                ),
                nominal,
            ),
            ("missing", MissingIndicator(error_on_new=False), [f.name for f in FEATURES]),
        ]
    )


def build_pipeline(params: dict[str, Any], seed: int, directions: tuple = DIRECTIONS) -> Pipeline:
    """The full, unfitted model for one point of the search space.

    ``directions`` are the signs the classifier keeps (``heart_batch.model.directed``); ``()``
    frees it, to measure what the established directions cost (``make bench-directions``).

    The classifier is wrapped in sigmoid calibration so that ``predict_proba`` is a risk; sigmoid
    rather than isotonic because a few hundred rows are too few for isotonic regression.
    """
    calibrated = CalibratedClassifierCV(
        _classifier(normalize_params(params), seed, directions),
        method="sigmoid",
        cv=CALIBRATION_FOLDS,
    )
    return Pipeline([("preprocess", _preprocessor()), ("classifier", calibrated)])
