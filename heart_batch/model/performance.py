"""How good a model's risks are on labelled rows, each figure with a bootstrap interval.

Discrimination is the ROC AUC; calibration is the Brier score, the calibration-in-the-large (the
intercept of a logistic recalibration with the risk's log-odds as offset: 0 when the risks are
right on average, above 0 when they are too low) and the calibration slope (the log-odds'
coefficient: 1 when the risks are neither too extreme nor too timid, below 1 when too extreme), as
TRIPOD+AI and Van Calster et al. (J Clin Epidemiol 2016;74:167-176) report them.

A bootstrap resample is drawn as counts of each distinct (risk, disease) pair, which is the same
distribution as drawing rows and much cheaper when rows repeat; every statistic is computed from
those counts for all resamples at once.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit, logit  # pylint: disable=no-name-in-module
from sklearn.metrics import brier_score_loss, roc_auc_score

CONFIDENCE = 0.95
RESAMPLES = 1000
"""Bootstrap resamples of the model card's intervals."""
_CHUNK = 250
_NEWTON_STEPS = 50
_CONVERGED = 1e-10
_CLIP = 1e-6

Statistic = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(distinct risks, their disease, resamples x pairs counts) -> one value per resample."""


def weighted_auc(risk: np.ndarray, disease: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney ROC AUC of each row of ``weights`` (ties count one half); NaN with one class."""
    _, group = np.unique(risk, return_inverse=True)
    by_group = sparse.csr_matrix(
        (np.ones(len(risk)), (group, np.arange(len(risk)))), shape=(group.max() + 1, len(risk))
    )
    positives = (by_group @ (weights * disease).T).T
    negatives = (by_group @ (weights * (1 - disease)).T).T
    negatives_below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    wins = (positives * (negatives_below + negatives / 2)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def weighted_brier(risk: np.ndarray, disease: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Brier score of each row of ``weights``."""
    return weights @ (risk - disease) ** 2 / weights.sum(axis=1)


def weighted_gap(risk: np.ndarray, disease: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Observed disease rate minus mean risk, for each row of ``weights``."""
    return weights @ (disease - risk) / weights.sum(axis=1)


def weighted_intercept(risk: np.ndarray, disease: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Calibration-in-the-large of each row of ``weights``: the intercept ``a`` of
    ``logit P(disease) = a + logit(risk)``, by Newton's method; NaN with one class."""
    offset = logit(np.clip(risk, _CLIP, 1 - _CLIP))
    intercept = np.zeros(len(weights))
    for _ in range(_NEWTON_STEPS):
        fitted = expit(intercept[:, None] + offset[None, :])
        gradient = (weights * (disease - fitted)).sum(axis=1)
        curvature = (weights * fitted * (1 - fitted)).sum(axis=1)
        step = gradient / np.maximum(curvature, 1e-12)
        intercept = intercept + step
        if np.all(np.abs(step) < _CONVERGED):
            break
    return np.where(_both_classes(disease, weights), intercept, np.nan)


def weighted_slope(risk: np.ndarray, disease: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Calibration slope of each row of ``weights``: ``b`` of ``logit P(disease) = a + b
    logit(risk)``, by Newton's method; NaN with one class."""
    log_odds = logit(np.clip(risk, _CLIP, 1 - _CLIP))
    intercept, slope = np.zeros(len(weights)), np.ones(len(weights))
    for _ in range(_NEWTON_STEPS):
        fitted = expit(intercept[:, None] + slope[:, None] * log_odds[None, :])
        residual, spread = weights * (disease - fitted), weights * fitted * (1 - fitted)
        gradient = np.stack([residual.sum(axis=1), residual @ log_odds])
        h_aa, h_ab, h_bb = spread.sum(axis=1), spread @ log_odds, spread @ log_odds**2
        determinant = np.maximum(h_aa * h_bb - h_ab**2, 1e-12)
        steps = np.stack(
            [h_bb * gradient[0] - h_ab * gradient[1], h_aa * gradient[1] - h_ab * gradient[0]]
        )
        steps /= determinant
        intercept, slope = intercept + steps[0], slope + steps[1]
        if np.all(np.abs(steps) < _CONVERGED):
            break
    return np.where(_both_classes(disease, weights), slope, np.nan)


def _both_classes(disease: np.ndarray, weights: np.ndarray) -> np.ndarray:
    diseased = weights @ disease
    return (diseased > 0) & (diseased < weights.sum(axis=1))


def bootstrap(
    disease: np.ndarray,
    risk: np.ndarray,
    statistics: dict[str, Statistic],
    replicates: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Each statistic on ``replicates`` bootstrap resamples of the (disease, risk) rows."""
    pairs, counts = np.unique(np.column_stack([risk, disease]), axis=0, return_counts=True)
    pair_risk, pair_disease = pairs[:, 0], pairs[:, 1]
    rng = np.random.default_rng(seed)
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for start in range(0, replicates, _CHUNK):
        size = min(_CHUNK, replicates - start)
        draws = rng.multinomial(len(risk), counts / counts.sum(), size=size)
        for name, statistic in statistics.items():
            chunks[name].append(statistic(pair_risk, pair_disease, draws))
    return {name: np.concatenate(values) for name, values in chunks.items()}


def interval(values: np.ndarray, tail: float) -> tuple[float, float]:
    """The interval that leaves ``tail`` of the (non-NaN) resampled values out on either side."""
    kept = values[~np.isnan(values)]
    if len(kept) == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(kept, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    """A figure and its 95 % bootstrap interval."""

    value: float
    low: float
    high: float

    def text(self, digits: int = 3) -> str:
        """``0.912 (0.881 to 0.940)``."""
        return f"{self.value:.{digits}f} ({self.low:.{digits}f} to {self.high:.{digits}f})"


@dataclass(frozen=True)
class Performance:
    """Discrimination and calibration of risks on some labelled patients.

    ``roc_auc``, ``intercept`` and ``slope`` are None when the patients are all of one class.
    """

    patients: int
    diseased: int
    mean_risk: float
    roc_auc: Estimate | None
    brier: Estimate
    intercept: Estimate | None
    slope: Estimate | None

    @property
    def observed_rate(self) -> float:
        """The share of diseased patients."""
        return self.diseased / self.patients


_CARD_STATISTICS: dict[str, Statistic] = {
    "roc_auc": weighted_auc,
    "brier": weighted_brier,
    "intercept": weighted_intercept,
    "slope": weighted_slope,
}


def measure_performance(
    disease: np.ndarray, risk: np.ndarray, replicates: int = RESAMPLES, seed: int = 0
) -> Performance:
    """Every figure of ``Performance`` with its percentile bootstrap interval."""
    disease, risk = np.asarray(disease, dtype=np.float64), np.asarray(risk, dtype=np.float64)
    resampled = bootstrap(disease, risk, _CARD_STATISTICS, replicates, seed)
    tail = (1 - CONFIDENCE) / 2
    both = len(np.unique(disease)) == 2
    point = {
        "roc_auc": float(roc_auc_score(disease, risk)) if both else None,
        "brier": float(brier_score_loss(disease, risk)),
        "intercept": float(weighted_intercept(risk, disease, np.ones((1, len(risk))))[0]),
        "slope": float(weighted_slope(risk, disease, np.ones((1, len(risk))))[0]),
    }
    estimates = {
        name: Estimate(value, *interval(resampled[name], tail))
        for name, value in point.items()
        if value is not None and not np.isnan(value)
    }
    return Performance(
        patients=len(disease),
        diseased=int(disease.sum()),
        mean_risk=float(risk.mean()),
        roc_auc=estimates.get("roc_auc"),
        brier=estimates["brier"],
        intercept=estimates.get("intercept"),
        slope=estimates.get("slope"),
    )
