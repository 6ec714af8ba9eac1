"""The shared evaluation: same plan, same folds, same figures."""

import numpy as np

from heart_batch.model.pipeline import build_pipeline
from heart_batch.training.cross_validation import CvPlan, cross_validate

LOGISTIC = {"family": "logistic_regression", "C": 1.0}


def test_the_same_plan_gives_the_same_folds(training_data):
    first = CvPlan(folds=3, repeats=2, seed=7).splits(training_data.target)
    second = CvPlan(folds=3, repeats=2, seed=7).splits(training_data.target)
    assert len(first) == 6
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, second))


def test_another_seed_gives_other_folds(training_data):
    first = CvPlan(folds=3, repeats=1, seed=7).splits(training_data.target)
    second = CvPlan(folds=3, repeats=1, seed=8).splits(training_data.target)
    assert not np.array_equal(first[0][1], second[0][1])


def test_cross_validation_is_reproducible_and_scores_every_row(training_data):
    plan = CvPlan(folds=3, repeats=2, seed=1)
    model = build_pipeline(LOGISTIC, seed=1)
    first = cross_validate(model, training_data.features, training_data.target, plan, n_jobs=1)
    second = cross_validate(model, training_data.features, training_data.target, plan, n_jobs=2)
    assert first.scores == second.scores
    assert first.out_of_fold_risk.shape == (len(training_data.target),)
    assert ((first.out_of_fold_risk > 0) & (first.out_of_fold_risk < 1)).all()
    assert 0.85 < first.scores.roc_auc <= 1.0
    assert first.scores.brier < 0.15
