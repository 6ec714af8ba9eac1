"""Classifiers that respect the features' established directions (``Feature.direction``).

The preprocessed matrix starts with the scaled numeric features in contract order (``SCALED``),
so a direction is a sign for one of its first columns: the logistic regression's coefficient is
bounded to that sign, and gradient boosting is monotonic in that column. Scaling keeps the sign,
and sigmoid calibration is increasing, so the calibrated risk moves the established way too.
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit  # pylint: disable=no-name-in-module
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from heart_batch.contract.features import FEATURES

SCALED = tuple(feature.name for feature in FEATURES if feature.kind != "nominal")
"""The scaled numeric features, the first columns of the preprocessed matrix."""
DIRECTIONS = tuple(
    {"up": 1, "down": -1, None: 0}[feature.direction]
    for feature in FEATURES
    if feature.kind != "nominal"
)
"""Per scaled column: 1 when the risk must not fall as it rises, -1 when it must not rise, 0 when
free."""


def _signs(directions, columns: int) -> np.ndarray:
    signs = np.zeros(columns, dtype=np.int8)
    signs[: len(directions)] = directions
    return signs


# scikit-learn's conventions: fitted attributes are set by fit, and X and C keep their names.
# pylint: disable=attribute-defined-outside-init,invalid-name


class DirectedLogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression (scikit-learn's objective, ``C`` times the log-loss plus
    half the squared weights) whose coefficients keep the sign ``directions`` gives the first
    columns, fitted by L-BFGS-B with bounds."""

    def __init__(self, C: float = 1.0, directions: tuple = DIRECTIONS, max_iter: int = 2000):
        self.C = C
        self.directions = directions
        self.max_iter = max_iter

    def fit(self, X, y):
        """Fit on ``X`` and the binary ``y``; the second class is the positive one."""
        matrix = np.asarray(X, dtype=np.float64)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("DirectedLogisticRegression needs two classes")
        target = (np.asarray(y) == self.classes_[1]).astype(np.float64)
        signs = _signs(self.directions, matrix.shape[1])
        bounds = [(0, None) if s > 0 else (None, 0) if s < 0 else (None, None) for s in signs]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            weights, bias = theta[:-1], theta[-1]
            scores = matrix @ weights + bias
            loss = np.sum(np.logaddexp(0.0, scores) - target * scores)
            residual = expit(scores) - target
            gradient = np.append(self.C * (matrix.T @ residual) + weights, self.C * residual.sum())
            return self.C * loss + 0.5 * weights @ weights, gradient

        fitted = minimize(
            objective,
            np.zeros(matrix.shape[1] + 1),
            jac=True,
            method="L-BFGS-B",
            bounds=[*bounds, (None, None)],
            options={"maxiter": self.max_iter},
        )
        self.coef_ = fitted.x[None, :-1]
        self.intercept_ = fitted.x[-1:]
        self.n_features_in_ = matrix.shape[1]
        self.n_iter_ = np.array([fitted.nit])
        return self

    def decision_function(self, X):
        """The log-odds of the positive class."""
        check_is_fitted(self)
        return np.asarray(X, dtype=np.float64) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        """Probabilities of the two classes."""
        positive = expit(self.decision_function(X))
        return np.column_stack([1 - positive, positive])

    def predict(self, X):
        """The more probable class."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class DirectedGradientBoosting(HistGradientBoostingClassifier):  # pylint: disable=R0901
    """Histogram gradient boosting, monotonic in the first columns as ``directions`` says (its
    ``monotonic_cst``, sized to the matrix it is fitted on)."""

    _parameter_constraints: dict = {
        **HistGradientBoostingClassifier._parameter_constraints,
        "directions": [tuple, list],
    }

    def __init__(  # pylint: disable=too-many-arguments
        self,
        directions: tuple = DIRECTIONS,
        *,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_depth: int | None = None,
        l2_regularization: float = 0.0,
        early_stopping: str | bool = "auto",
        random_state=None,
    ):
        super().__init__(
            max_iter=max_iter,
            learning_rate=learning_rate,
            max_depth=max_depth,
            l2_regularization=l2_regularization,
            early_stopping=early_stopping,
            random_state=random_state,
        )
        self.directions = directions

    def fit(self, X, y, sample_weight=None, **validation):
        """Fit, monotonic in the directed columns."""
        self.monotonic_cst = _signs(self.directions, np.shape(X)[1]).tolist()
        return super().fit(X, y, sample_weight=sample_weight, **validation)


def constraints_text(model) -> str:
    """How a fitted pipeline keeps the directions, in words (for the model card)."""
    classifier = model.named_steps["classifier"].estimator
    held = any(getattr(classifier, "directions", ()))
    if isinstance(classifier, DirectedLogisticRegression) and held:
        return (
            "a logistic regression whose coefficients are bounded to each direction's sign "
            "(fitted by L-BFGS-B); the scaling and the sigmoid calibration keep the sign"
        )
    if isinstance(classifier, DirectedGradientBoosting) and held:
        return (
            "gradient boosting with monotonic constraints in each directed feature; the sigmoid "
            "calibration keeps them"
        )
    return (
        f"none: a {type(classifier).__name__} is not held to them, so the reasons shown with "
        "its predictions leave out every value on the protective side"
    )
