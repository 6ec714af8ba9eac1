"""What the monitoring statistics look like when nothing changed, for a window of a given size.

A small window is noisy: 100 rows drawn from the very population the model was trained on differ
from the reference by a normed Wasserstein distance of 0.1 now and then. So each statistic is
computed on many *replicates* of "nothing changed": a window of the window's size and a reference of
the reference's size, both drawn with replacement from the reference rows. The reference is drawn
too because it is itself a sample of the population (302 rows for the seed data): comparing windows
with the fixed reference alone would ignore its own sampling error, and windows of 2,000 rows from
an unchanged population would then raise an alarm one time in two (see docs/monitoring.md). Rows
are drawn whole, so replicates keep the correlations between statistics, which the shared
false-alarm budget (``family_level``) relies on.

Replicates are seeded (seed and window size), so a calibration is reproducible, and computed from
counts of the reference's distinct values, so their cost does not grow with the window's size.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from heart_batch.contract.columns import RISK, ModelId
from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.monitoring.drift import METHODS, replicate_distances

MISSING_SHARE = "missing_share"
_CHUNK = 500
_SIZE_STEPS = (10, 12, 15, 20, 25, 30, 40, 50, 60, 80)


def calibration_size(rows: int) -> int:
    """The window size a window of ``rows`` rows is calibrated at.

    The largest of 10, 12, 15, 20, 25, 30, 40, 50, 60, 80 (times a power of ten) not above ``rows``:
    a few sizes serve every window, so their calibration can be cached, and the smaller size errs on
    the side of fewer alarms (its no-change distribution is at most a little wider).
    """
    if rows < _SIZE_STEPS[0]:
        return max(rows, 1)
    scale = 10 ** (len(str(rows)) - 2)
    return max(step * scale for step in _SIZE_STEPS if step * scale <= rows)


@dataclass(frozen=True)
class NoChange:
    """Statistics of replicate windows drawn from the reference: one row per replicate."""

    window_rows: int
    statistics: pd.DataFrame

    def limit(self, column: str, level: float) -> float:
        """The value above which a statistic is rarer than ``level`` under no change."""
        ordered = np.sort(self.statistics[column].to_numpy())
        beyond = int(np.floor(level * len(ordered) + 1e-9))
        return float(ordered[max(len(ordered) - 1 - beyond, 0)])

    def family_level(self, columns: list[str], budget: float) -> float:
        """The per-check level that keeps the chance of *any* alarm among ``columns`` at ``budget``.

        This is the min-p adjustment (Westfall and Young): for each replicate, the smallest
        empirical p-value over the checks; the level is the ``budget`` quantile of those minima.
        Correlated checks (drift of the risk and of the features that drive it) share their
        budget instead of each paying for it in full, so the level is never below Bonferroni's
        ``budget / len(columns)`` by more than the resampling error.
        """
        values = self.statistics[columns].to_numpy()
        ordered = np.sort(values, axis=0)
        replicates = len(values)
        p_values = np.column_stack(
            [
                (replicates - np.searchsorted(ordered[:, k], values[:, k], side="left"))
                / replicates
                for k in range(values.shape[1])
            ]
        )
        smallest = np.sort(p_values.min(axis=1))
        allowed = int(np.floor(budget * replicates + 1e-9))
        if allowed == 0:
            return 0.0
        # The largest p-value at which at most `allowed` replicates would raise an alarm.
        level = smallest[allowed - 1]
        if np.sum(smallest <= level) > allowed:  # ties at `level`: take the p-value below it
            below = smallest[smallest < level]
            level = below[-1] if len(below) else 0.0
        return float(level)


def simulate(
    reference: pd.DataFrame,
    window_rows: int,
    replicates: int,
    seed: int,
    resample_reference: bool = True,
) -> NoChange:
    """Draw ``replicates`` pairs of (window, reference) from the reference rows and compare them.

    Args:
        reference: The champion's reference rows: features (NaN where missing) and ``risk``.
        window_rows: Rows of each replicate window.
        replicates: How many replicates.
        seed: Seed of the draws (combined with ``window_rows``).
        resample_reference: Draw the reference too (the default); False compares every window with
            the reference as it is, which ignores its sampling error (for comparison only).

    Returns:
        Per replicate: the distance of every column of ``drift.METHODS`` the reference has (the
        risk band only with risk bands) and the share of missing feature values of the window.
    """
    rng = np.random.default_rng([seed, window_rows])
    indicators = {name: _value_indicators(reference[name]) for name in monitored(reference)}
    missing_per_row = reference[FEATURE_NAMES].isna().sum(axis=1).to_numpy(dtype=float)
    chunks = []
    draws = _draws(rng, len(reference), window_rows, replicates, resample_reference)
    for reference_draws, window_draws in draws:
        chunk = {
            name: replicate_distances(
                values, (onehot @ reference_draws).T, (onehot @ window_draws).T, METHODS[name]
            )
            for name, (values, onehot) in indicators.items()
        }
        chunk[MISSING_SHARE] = missing_per_row @ window_draws / (window_rows * len(FEATURE_NAMES))
        chunks.append(pd.DataFrame(chunk))
    return NoChange(window_rows, pd.concat(chunks, ignore_index=True))


def risk_no_change(risk: pd.Series, window_rows: int, replicates: int, seed: tuple) -> NoChange:
    """No-change replicates of the risk drift alone, for one subgroup's rows of the reference:
    windows of ``window_rows`` and references of the subgroup's size, both drawn from its rows."""
    rng = np.random.default_rng([*seed, window_rows])
    values, onehot = _value_indicators(risk.reset_index(drop=True))
    distances = [
        replicate_distances(
            values, (onehot @ reference_draws).T, (onehot @ window_draws).T, METHODS[RISK]
        )
        for reference_draws, window_draws in _draws(rng, len(risk), window_rows, replicates)
    ]
    return NoChange(window_rows, pd.DataFrame({RISK: np.concatenate(distances)}))


def _draws(rng, rows: int, window_rows: int, replicates: int, resample_reference: bool = True):
    """Chunks of (reference, window) draws: rows x replicates counts of each reference row in a
    resampled reference (all ones when it is not resampled) and in a window of ``window_rows``."""
    uniform = np.full(rows, 1.0 / rows)
    for start in range(0, replicates, _CHUNK):
        size = min(_CHUNK, replicates - start)
        reference_draws = (
            rng.multinomial(rows, uniform, size=size).T
            if resample_reference
            else np.ones((rows, size))
        )
        yield reference_draws, rng.multinomial(window_rows, uniform, size=size).T


def monitored(reference: pd.DataFrame) -> list[str]:
    """The columns of ``drift.METHODS`` in ``reference``."""
    return [name for name in METHODS if name in reference]


def _value_indicators(column: pd.Series) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Sorted distinct observed values, and a values x rows matrix marking each row's value."""
    observed = column.notna().to_numpy()
    values, index = np.unique(column.to_numpy()[observed], return_inverse=True)
    rows = np.flatnonzero(observed)
    onehot = sparse.csr_matrix(
        (np.ones(len(rows)), (index, rows)), shape=(len(values), len(column))
    )
    return values, onehot


class CalibrationCache:
    """No-change replicates in memory and on disk (when given a folder).

    One entry per model version, window size, replicate count and seed: a new champion gets new
    limits, and so does a change of its settings.
    """

    def __init__(self, folder: Path | None):
        self.folder = folder
        self._memory: dict[tuple, NoChange] = {}

    def get(self, model: ModelId, reference, window_rows, replicates, seed) -> NoChange:
        """The cached replicates, simulated and stored on first use."""
        key = (*model, window_rows, replicates, seed)
        if key not in self._memory:
            self._memory[key] = self._load_or_simulate(
                model, reference, window_rows, replicates, seed
            )
        return self._memory[key]

    def _load_or_simulate(self, model, reference, window_rows, replicates, seed) -> NoChange:
        path = self._path(model, window_rows, replicates, seed)
        if path is not None and path.exists():
            return NoChange(window_rows, pd.read_parquet(path))
        no_change = simulate(reference, window_rows, replicates, seed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            no_change.statistics.to_parquet(temporary)
            temporary.replace(path)
        return no_change

    def source(self, model: ModelId, reference: pd.DataFrame, replicates: int, seed: int):
        """The no-change replicates of one champion, as a function of the window size."""
        return lambda window_rows: self.get(model, reference, window_rows, replicates, seed)

    def _path(self, model, window_rows, replicates, seed) -> Path | None:
        if self.folder is None:
            return None
        name, version = model
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        return self.folder / f"{safe}-v{version}-n{window_rows}-r{replicates}-s{seed}.parquet"
