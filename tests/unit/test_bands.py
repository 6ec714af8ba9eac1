"""Risk bands: cut-offs that keep their sensitivity and specificity on the rows they were chosen
on, as wide as those targets allow."""

import json

import numpy as np
import pytest

from heart_batch.model.bands import BandTargets, RiskBands, band_codes, choose_bands
from heart_batch.model.pipeline import build_pipeline
from heart_batch.settings import TrainingSettings
from heart_batch.training.cross_validation import CvPlan, cross_validate

TARGETS = BandTargets.from_settings(TrainingSettings())


@pytest.fixture(scope="module")
def out_of_fold(training_data_module):
    """Out-of-fold risks of a logistic regression on the seed data, and who is diseased."""
    data = training_data_module
    model = build_pipeline({"family": "logistic_regression", "C": 0.3}, seed=0)
    evaluation = cross_validate(
        model, data.features, data.target, CvPlan(folds=5, repeats=1, seed=42)
    )
    return evaluation.out_of_fold_risk, data.target.to_numpy().astype(bool)


@pytest.fixture(scope="module")
def training_data_module():
    from heart_batch.training.data import (  # pylint: disable=import-outside-toplevel
        load_training_data,
    )
    from tests.conftest import SEED_DATA  # pylint: disable=import-outside-toplevel

    return load_training_data(SEED_DATA)


@pytest.mark.parametrize("targets", [TARGETS, BandTargets(0.9, 0.95), BandTargets(0.99, 0.8)])
def test_the_cut_offs_reproduce_their_stated_sensitivity_and_specificity(out_of_fold, targets):
    risk, disease = out_of_fold
    bands = choose_bands(risk, disease, targets)
    codes = band_codes(risk, bands.low_below, bands.high_from)
    sensitivity = np.mean(codes[disease] > 0)
    specificity = np.mean(codes[~disease] < 2)
    assert (
        sensitivity == pytest.approx(bands.sensitivity) and sensitivity >= targets.min_sensitivity
    )
    assert (
        specificity == pytest.approx(bands.specificity) and specificity >= targets.min_specificity
    )
    low, high = bands.sensitivity_interval
    assert low < sensitivity < high or sensitivity == 1.0
    assert bands.shares == pytest.approx(np.bincount(codes, minlength=3) / len(risk))
    assert bands.low_below < bands.high_from


def test_the_bands_are_as_wide_as_the_targets_allow(out_of_fold):
    risk, disease = out_of_fold
    bands = choose_bands(risk, disease, TARGETS)
    higher_low = np.min(risk[risk > bands.low_below])  # the next cut-off up
    assert np.mean(risk[disease] >= higher_low) < 0.95
    lower_high = np.max(risk[risk < bands.high_from])  # the next cut-off down
    assert np.mean(risk[~disease] < lower_high) < 0.90


def test_cut_offs_that_would_cross_leave_no_intermediate_band():
    risk = np.array([0.6, 0.7, 0.8, 0.9, 0.1, 0.2, 0.3, 0.65])
    disease = np.array([True] * 4 + [False] * 4)
    bands = choose_bands(risk, disease, BandTargets(0.5, 0.5))  # low below 0.8, high from 0.3
    assert bands.low_below == bands.high_from == 0.3
    assert bands.shares[1] == 0.0 and bands.specificity >= 0.5


def test_bands_survive_the_json_they_are_stored_as(out_of_fold):
    bands = choose_bands(*out_of_fold, TARGETS)
    assert RiskBands.from_dict(json.loads(json.dumps(bands.as_dict()))) == bands
    assert bands.as_metrics()["bands.low_below"] == bands.low_below
