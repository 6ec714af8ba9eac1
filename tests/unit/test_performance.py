"""Discrimination and calibration figures with bootstrap intervals (the model card's)."""

import numpy as np
import pytest
from scipy.special import expit, logit  # pylint: disable=no-name-in-module
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from heart_batch.model.performance import (
    measure_performance,
    weighted_intercept,
    weighted_slope,
)


def patients(count: int, seed: int = 0, stretch: float = 1.0, shift: float = 0.0):
    """Outcomes drawn from true risks, and the risks a model reports: the true log-odds
    multiplied by ``stretch`` and moved by ``shift``."""
    rng = np.random.default_rng(seed)
    true_risk = rng.uniform(0.05, 0.95, count)
    disease = (rng.uniform(size=count) < true_risk).astype(float)
    return disease, expit(stretch * logit(true_risk) + shift)


def test_the_slope_is_an_unpenalised_logistic_regressions_coefficient_on_the_log_odds():
    disease, risk = patients(400, seed=1)
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        logit(risk)[:, None], disease
    )
    slope = weighted_slope(risk, disease, np.ones((1, len(risk))))[0]
    assert slope == pytest.approx(reference.coef_[0, 0], rel=1e-6)


def test_the_intercept_makes_the_mean_recalibrated_risk_the_observed_rate():
    disease, risk = patients(400, seed=2, shift=-0.8)
    intercept = weighted_intercept(risk, disease, np.ones((1, len(risk))))[0]
    assert np.mean(expit(logit(risk) + intercept)) == pytest.approx(disease.mean(), abs=1e-9)
    assert intercept > 0.4  # the risks are too low: the intercept says so


def test_risks_too_extreme_have_a_slope_below_one_whose_interval_excludes_one():
    calibrated = measure_performance(*patients(3000, seed=3))
    extreme = measure_performance(*patients(3000, seed=3, stretch=2.0))
    assert calibrated.slope.low < 1 < calibrated.slope.high
    assert calibrated.intercept.low < 0 < calibrated.intercept.high
    assert extreme.slope.high < 1
    assert extreme.slope.value == pytest.approx(0.5, abs=0.08)


def test_every_interval_holds_its_figure_and_narrows_with_more_patients():
    small, large = measure_performance(*patients(100)), measure_performance(*patients(4000))
    for performance in (small, large):
        for estimate in (performance.roc_auc, performance.brier, performance.slope):
            assert estimate.low <= estimate.value <= estimate.high
    assert large.roc_auc.high - large.roc_auc.low < (small.roc_auc.high - small.roc_auc.low) / 3
    disease, risk = patients(100)
    assert small.roc_auc.value == pytest.approx(roc_auc_score(disease, risk))
    assert small.patients == 100 and small.diseased == int(disease.sum())


def test_patients_of_one_class_have_no_discrimination_nor_recalibration():
    performance = measure_performance(np.zeros(40), np.linspace(0.1, 0.5, 40))
    assert performance.roc_auc is None and performance.slope is None
    assert performance.intercept is None
    assert performance.brier.value == pytest.approx(np.mean(np.linspace(0.1, 0.5, 40) ** 2))


def test_the_same_seed_gives_the_same_intervals():
    data = patients(200, seed=5)
    assert measure_performance(*data, seed=7) == measure_performance(*data, seed=7)
