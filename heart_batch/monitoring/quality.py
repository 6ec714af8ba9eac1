"""The champion's quality on a window's labelled rows, with a resampled interval.

A window of 60 labelled patients gives a ROC AUC that may be 0.1 away from the truth, so quality is
judged by its interval, not by its value: an alarm needs the whole interval beyond the limit.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.metrics import brier_score_loss, roc_auc_score

_CHUNK = 250


@dataclass(frozen=True)
class Quality:
    """ROC AUC and Brier score of the labelled rows, and their two-sided intervals."""

    roc_auc: float
    brier: float
    roc_auc_interval: tuple[float, float]
    brier_interval: tuple[float, float]


def measure_quality(
    disease: np.ndarray, risk: np.ndarray, tail: float, replicates: int, seed: int
) -> Quality:
    """ROC AUC and Brier, each with the interval that leaves ``tail`` out on either side.

    The interval comes from the bootstrap: ``replicates`` resamples of the labelled rows (drawn as
    counts of each distinct (risk, label) pair, which is the same distribution and much cheaper when
    rows repeat).
    """
    pairs, counts = np.unique(np.column_stack([risk, disease]), axis=0, return_counts=True)
    pair_risk, pair_disease = pairs[:, 0], pairs[:, 1]
    rng = np.random.default_rng(seed)
    auc_chunks: list[np.ndarray] = []
    brier_chunks: list[np.ndarray] = []
    for start in range(0, replicates, _CHUNK):
        size = min(_CHUNK, replicates - start)
        draws = rng.multinomial(len(risk), counts / counts.sum(), size=size)
        auc_chunks.append(_weighted_auc(pair_risk, pair_disease, draws))
        brier_chunks.append(draws @ (pair_risk - pair_disease) ** 2 / len(risk))
    aucs, briers = np.concatenate(auc_chunks), np.concatenate(brier_chunks)
    return Quality(
        roc_auc=float(roc_auc_score(disease, risk)),
        brier=float(brier_score_loss(disease, risk)),
        roc_auc_interval=_interval(aucs[~np.isnan(aucs)], tail),
        brier_interval=_interval(briers, tail),
    )


def _interval(values: np.ndarray, tail: float) -> tuple[float, float]:
    low, high = np.quantile(values, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


def _weighted_auc(risk: np.ndarray, disease: np.ndarray, weights: np.ndarray) -> np.ndarray:
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
