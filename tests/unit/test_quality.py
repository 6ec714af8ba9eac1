"""Quality on labelled rows: the bootstrap's ROC AUC is scikit-learn's, its interval honest."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from heart_batch.model.performance import weighted_auc
from heart_batch.monitoring.quality import measure_quality


def labelled(rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    disease = rng.integers(0, 2, rows)
    risk = np.clip(0.5 + 0.3 * (disease - 0.5) + rng.normal(0, 0.25, rows), 0, 1).round(2)
    return disease, risk


def test_the_weighted_auc_with_unit_weights_is_scikit_learns():
    disease, risk = labelled(300)  # rounded risks: many ties
    assert weighted_auc(risk, disease, np.ones((1, 300)))[0] == pytest.approx(
        roc_auc_score(disease, risk)
    )


def test_repeated_rows_count_as_their_weight():
    disease, risk = labelled(50)
    weights = np.random.default_rng(1).integers(0, 4, 50)
    repeated = roc_auc_score(np.repeat(disease, weights), np.repeat(risk, weights))
    assert weighted_auc(risk, disease, weights[None, :])[0] == pytest.approx(repeated)


def test_the_interval_holds_the_value_and_narrows_with_more_rows():
    small = measure_quality(*labelled(60), tail=0.0025, replicates=2000, seed=0)
    large = measure_quality(*labelled(2000), tail=0.0025, replicates=2000, seed=0)
    for quality in (small, large):
        assert quality.roc_auc_interval[0] < quality.roc_auc < quality.roc_auc_interval[1]
        assert quality.brier_interval[0] < quality.brier < quality.brier_interval[1]
    width = [q.roc_auc_interval[1] - q.roc_auc_interval[0] for q in (small, large)]
    assert width[0] > 3 * width[1]


def test_the_interval_is_reproducible_under_a_seed():
    data = labelled(100)
    assert measure_quality(*data, 0.01, 500, seed=4) == measure_quality(*data, 0.01, 500, seed=4)
