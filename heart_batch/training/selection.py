"""Which trial of the search becomes the new model: the one-standard-error rule, cheapest first.

With 303 rows, trials whose mean cross-validated ROC AUC differ by less than one standard error
of the best are a tie: which one looks best is fold noise. Their costs to score, though, differ by
orders of magnitude (a linear model is a dot product; an RBF SVM evaluates every support vector of
five calibrated members for each row). So among the trials within one standard error of the best,
the cheapest to score wins. Cost is compared by order of magnitude of the measured rows per second
(1M to 10M, 100k to 1M, ...), so that timing noise never decides between two equally cheap models:
within the cheapest order of magnitude, the higher ROC AUC wins.
"""

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from heart_batch.model.risk import compile_risk, feature_matrix

THROUGHPUT_ROWS = 100_000
PROBE_ROWS = 10_000
SLOW_ROWS_PER_SECOND = 200_000


@dataclass(frozen=True)
class TrialRecord:
    """What the rule needs of a trial."""

    number: int
    params: dict[str, Any]
    roc_auc: float
    roc_auc_std: float
    rows_per_second: float


@dataclass(frozen=True)
class Selection:
    """The chosen trial, the best one by ROC AUC, and the figures of the rule."""

    chosen: TrialRecord
    best: TrialRecord
    standard_error: float
    near_ties: int
    """Trials whose ROC AUC is within one standard error of the best (the best included)."""

    @property
    def threshold(self) -> float:
        """The lowest ROC AUC that ties with the best."""
        return self.best.roc_auc - self.standard_error

    def describe(self) -> str:
        """One sentence for the run, the artifact and the log."""
        return (
            f"trial {self.chosen.number} ({self.chosen.params['family']}, ROC AUC "
            f"{self.chosen.roc_auc:.4f}, {self.chosen.rows_per_second:,.0f} rows/s): the best of "
            f"the cheapest to score of the {self.near_ties} trials within one standard error "
            f"({self.standard_error:.4f}) of the best, trial {self.best.number} "
            f"({self.best.params['family']}, ROC AUC {self.best.roc_auc:.4f}, "
            f"{self.best.rows_per_second:,.0f} rows/s)"
        )

    def as_metrics(self) -> dict[str, float]:
        """Figures of the rule, for the parent run."""
        return {
            "selection.best_roc_auc": self.best.roc_auc,
            "selection.standard_error": self.standard_error,
            "selection.threshold": self.threshold,
            "selection.near_ties": self.near_ties,
            "selection.chosen_roc_auc": self.chosen.roc_auc,
            "selection.chosen_rows_per_s": self.chosen.rows_per_second,
            "selection.best_rows_per_s": self.best.rows_per_second,
        }


def one_standard_error_rule(trials: list[TrialRecord], folds: int) -> Selection:
    """The cheapest trial to score among those within one standard error of the best ROC AUC.

    The standard error is the best trial's standard deviation over its ``folds`` folds divided by
    the square root of their number.

    Raises:
        ValueError: No trials.
    """
    if not trials:
        raise ValueError("no trials to choose from")
    best = max(trials, key=lambda trial: (trial.roc_auc, -trial.number))
    standard_error = best.roc_auc_std / math.sqrt(folds)
    tied = [trial for trial in trials if trial.roc_auc >= best.roc_auc - standard_error]
    cheapest = max(cost_class(trial) for trial in tied)
    cheap = [trial for trial in tied if cost_class(trial) == cheapest]
    chosen = max(cheap, key=lambda trial: (trial.roc_auc, -trial.number))
    return Selection(chosen, best, standard_error, len(tied))


def cost_class(trial: TrialRecord) -> int:
    """The order of magnitude of its rows per second: 6 for 1M to 10M rows/s."""
    return math.floor(math.log10(max(trial.rows_per_second, 1.0)))


def throughput_sample(features: pd.DataFrame, seed: int) -> np.ndarray:
    """``THROUGHPUT_ROWS`` rows drawn with replacement from the training rows, the same per seed,
    as the feature matrix scoring computes risks from."""
    rows = np.random.default_rng(seed).integers(0, len(features), THROUGHPUT_ROWS)
    return feature_matrix(features)[rows]


def rows_per_second(fitted: Pipeline, sample: np.ndarray) -> float:
    """How fast scoring computes this model's risk, on one thread.

    A slow model (under ``SLOW_ROWS_PER_SECOND`` on the sample's first ``PROBE_ROWS`` rows) is
    timed on those rows alone: its cost grows with the rows, and timing 100,000 rows of an RBF SVM
    would take seconds per trial. A fast one is timed on the whole sample three times, keeping the
    best (other work only ever slows a timing down).
    """
    risk, _ = compile_risk(fitted)
    with threadpool_limits(limits=1):
        first = _seconds(risk, sample[:PROBE_ROWS])
        if PROBE_ROWS / first < SLOW_ROWS_PER_SECOND:
            return PROBE_ROWS / first
        return len(sample) / min(_seconds(risk, sample) for _ in range(3))


def _seconds(risk, rows: np.ndarray) -> float:
    start = time.perf_counter()
    risk(rows)
    return time.perf_counter() - start
