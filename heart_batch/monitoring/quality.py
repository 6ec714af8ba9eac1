"""The champion's quality on a window's labelled rows, with a resampled interval.

A window of 60 labelled patients gives a ROC AUC that may be 0.1 away from the truth, so quality is
judged by its interval, not by its value: an alarm needs the whole interval beyond the limit.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from heart_batch.model.performance import bootstrap, interval, weighted_auc, weighted_brier


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
    """ROC AUC and Brier, each with the bootstrap interval that leaves ``tail`` out on either
    side (``replicates`` resamples)."""
    resampled = bootstrap(
        disease, risk, {"roc_auc": weighted_auc, "brier": weighted_brier}, replicates, seed
    )
    return Quality(
        roc_auc=float(roc_auc_score(disease, risk)),
        brier=float(brier_score_loss(disease, risk)),
        roc_auc_interval=interval(resampled["roc_auc"], tail),
        brier_interval=interval(resampled["brier"], tail),
    )
