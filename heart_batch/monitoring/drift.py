"""How far a window's column is from the reference's: Evidently's two distances, computed by us.

Numbers (and ordinal codes, and the risk) use the Wasserstein distance normed by the reference's
standard deviation; nominal codes use the Jensen-Shannon distance (natural logarithm) of the code
frequencies. Both ignore missing values, as Evidently does, and give the same values as Evidently's
``wasserstein`` and ``jensenshannon`` methods (a test pins this). Each comes twice: for one window
(``column_distance``), and for many resampled windows at once (``replicate_distances``), where a
sample is given as counts of the reference's distinct values, so that calibration costs the same
whatever the window's size.
"""

from typing import Literal

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from heart_batch.contract.columns import RISK, RISK_BAND
from heart_batch.contract.features import FEATURES

Method = Literal["wasserstein", "jensenshannon"]

METHODS: dict[str, Method] = {
    feature.name: "jensenshannon" if feature.kind == "nominal" else "wasserstein"
    for feature in FEATURES
} | {RISK: "wasserstein", RISK_BAND: "jensenshannon"}
"""Distance of each monitored column: codes without order (and the risk bands' shares) are
compared as frequencies."""

MIN_NORM = 0.001
"""Evidently's smallest standard deviation used to norm the Wasserstein distance."""


def column_distance(reference: pd.Series, current: pd.Series, method: Method) -> float:
    """Distance between the observed (non-missing) values of two columns.

    Raises:
        ValueError: A column has no observed value.
    """
    observed, recent = reference.dropna().to_numpy(), current.dropna().to_numpy()
    if len(observed) == 0 or len(recent) == 0:
        raise ValueError("a column with no observed value has no distance")
    if method == "wasserstein":
        norm = max(float(np.std(observed)), MIN_NORM)
        return float(wasserstein_distance(observed, recent) / norm)
    codes = np.union1d(observed, recent)
    frequencies = [np.searchsorted(codes, values) for values in (observed, recent)]
    counts = [np.bincount(index, minlength=len(codes)) for index in frequencies]
    return float(jensenshannon(counts[0], counts[1]))


def replicate_distances(
    values: np.ndarray, reference_counts: np.ndarray, window_counts: np.ndarray, method: Method
) -> np.ndarray:
    """The distance of each replicate, from counts of the sorted distinct values ``values``.

    Args:
        values: Sorted distinct observed values of the reference (one per count column).
        reference_counts: Replicates x values: how often each value is in a resampled reference.
        window_counts: Replicates x values: how often each value is in a resampled window.
        method: The distance.

    Returns:
        One distance per replicate (0 where a sample has no observed value).
    """
    reference_totals = reference_counts.sum(axis=1, keepdims=True)
    window_totals = window_counts.sum(axis=1, keepdims=True)
    empty = (reference_totals[:, 0] == 0) | (window_totals[:, 0] == 0)
    reference_share = reference_counts / np.maximum(reference_totals, 1)
    window_share = window_counts / np.maximum(window_totals, 1)
    if method == "wasserstein":
        gaps = np.diff(values)
        cdf_gap = np.abs(np.cumsum(reference_share - window_share, axis=1)[:, :-1])
        mean = reference_share @ values
        std = np.sqrt(np.maximum(reference_share @ values**2 - mean**2, 0.0))
        distances = (cdf_gap @ gaps) / np.maximum(std, MIN_NORM)
    else:
        middle = (reference_share + window_share) / 2
        divergence = _relative_entropy(reference_share, middle) + _relative_entropy(
            window_share, middle
        )
        distances = np.sqrt(np.maximum(divergence / 2, 0.0))
    return np.where(empty, 0.0, distances)


def _relative_entropy(shares: np.ndarray, middle: np.ndarray) -> np.ndarray:
    """Kullback-Leibler divergence of each row (natural logarithm; 0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(shares > 0, shares * np.log(shares / middle), 0.0)
    return terms.sum(axis=1)
