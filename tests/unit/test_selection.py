"""The one-standard-error rule: the cheapest near-best trial, or the best when nothing ties."""

import math

import numpy as np
import pandas as pd
import pytest

from heart_batch.model.pipeline import build_pipeline
from heart_batch.model.risk import feature_matrix
from heart_batch.scoring.scorer import ScoringModel
from heart_batch.training.selection import (
    THROUGHPUT_ROWS,
    TrialRecord,
    one_standard_error_rule,
    rows_per_second,
    throughput_sample,
)
from tests.conftest import HIGH_RISK, LOW_RISK

FOLDS = 25


def trial(number, family, roc_auc, rows_per_second_, std=0.035):
    return TrialRecord(number, {"family": family}, roc_auc, std, rows_per_second_)


def test_the_cheapest_trial_within_one_standard_error_wins():
    trials = [
        trial(0, "svc", 0.9177, 27_000),  # best ROC AUC, an RBF SVM
        trial(1, "logistic_regression", 0.9170, 2_500_000),  # 0.0007 lower, 90 times cheaper
        trial(2, "gradient_boosting", 0.9141, 400_000),
        trial(3, "logistic_regression", 0.9050, 2_600_000),  # cheapest, but not a tie
    ]
    selection = one_standard_error_rule(trials, FOLDS)
    assert selection.standard_error == pytest.approx(0.035 / math.sqrt(FOLDS))
    assert (selection.chosen.number, selection.best.number, selection.near_ties) == (1, 0, 3)
    assert selection.threshold == pytest.approx(0.9177 - 0.007)
    assert "trial 1 (logistic_regression" in selection.describe()


def test_without_a_tie_the_best_trial_wins_however_slow():
    trials = [trial(0, "svc", 0.95, 20_000, std=0.01), trial(1, "logistic_regression", 0.90, 3e6)]
    selection = one_standard_error_rule(trials, FOLDS)
    assert selection.chosen == selection.best == trials[0]
    assert selection.near_ties == 1


def test_trials_of_the_same_order_of_cost_are_told_apart_by_roc_auc_not_timing_noise():
    trials = [
        trial(0, "logistic_regression", 0.9170, 2_000_000),
        trial(1, "logistic_regression", 0.9150, 2_400_000),  # faster only by timing noise
        trial(2, "svc", 0.9177, 30_000),
    ]
    assert one_standard_error_rule(trials, FOLDS).chosen.number == 0


def test_no_trial_is_an_error():
    with pytest.raises(ValueError, match="no trials"):
        one_standard_error_rule([], FOLDS)


def test_throughput_is_measured_on_a_fixed_sample(training_data):
    sample = throughput_sample(training_data.features, seed=3)
    assert len(sample) == THROUGHPUT_ROWS
    assert np.array_equal(sample, throughput_sample(training_data.features, seed=3), equal_nan=True)
    pipeline = build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0)
    pipeline.fit(training_data.features, training_data.target)
    assert rows_per_second(pipeline, sample) > 0


def test_the_rule_s_choice_scored_as_scoring_does_ranks_the_high_risk_patient_first(
    training_data,
):
    fitted = {
        family: build_pipeline(params, seed=0).fit(training_data.features, training_data.target)
        for family, params in (
            ("svc", {"family": "svc", "kernel": "rbf", "C": 2.0, "gamma": 0.01}),
            ("logistic_regression", {"family": "logistic_regression", "C": 0.3}),
        )
    }
    sample = throughput_sample(training_data.features, seed=0)
    trials = [  # a tie on ROC AUC: the measured cost decides
        trial(number, family, 0.917, rows_per_second(pipeline, sample))
        for number, (family, pipeline) in enumerate(fitted.items())
    ]
    chosen = one_standard_error_rule(trials, FOLDS).chosen
    assert chosen.params["family"] == "logistic_regression"
    model = ScoringModel("heart", "1", fitted[chosen.params["family"]])
    patients = feature_matrix(pd.DataFrame([HIGH_RISK, LOW_RISK], dtype="float64"))
    high, low = model.risk(patients)
    assert high > 0.8 and low < 0.2
