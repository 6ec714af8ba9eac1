"""The linear form of a linear champion gives the pipeline's risks; anything else keeps its own."""

import numpy as np
import pandas as pd
import pytest

from heart_batch.fast_risk import PARITY_TOLERANCE, compile_risk, fold_linear, probe_rows
from heart_batch.model import build_pipeline
from heart_batch.schema import validate_rows
from tests.conftest import REPO_ROOT

LINEAR = [
    {"family": "logistic_regression", "C": 0.3},
    {"family": "svc", "kernel": "linear", "C": 0.05},
]
NONLINEAR = [
    {"family": "svc", "kernel": "rbf", "C": 2.0, "gamma": 0.01},
    {
        "family": "gradient_boosting",
        "max_iter": 25,
        "learning_rate": 0.1,
        "max_depth": 2,
        "l2_regularization": 1.0,
    },
]


def fitted(params, training_data):
    return build_pipeline(params, seed=0).fit(training_data.features, training_data.target)


def other_hospitals() -> pd.DataFrame:
    raw = pd.read_csv(REPO_ROOT / "data" / "heart_other_hospitals.csv", dtype=str)
    return validate_rows(raw, max_missing=13).features


@pytest.mark.parametrize("params", LINEAR, ids=lambda p: p["family"])
def test_the_linear_form_matches_predict_proba(params, training_data):
    pipeline = fitted(params, training_data)
    risk, scorer = compile_risk(pipeline)
    assert scorer.startswith("linear form")
    for rows in (training_data.features, other_hospitals(), probe_rows()):
        expected = pipeline.predict_proba(rows)[:, 1]
        assert np.max(np.abs(risk(rows) - expected)) < PARITY_TOLERANCE


@pytest.mark.parametrize("params", NONLINEAR, ids=lambda p: p["family"])
def test_a_nonlinear_pipeline_keeps_its_own_predict_proba(params, training_data):
    pipeline = fitted(params, training_data)
    risk, scorer = compile_risk(pipeline)
    assert scorer == "the pipeline's predict_proba"
    rows = training_data.features.head(50)
    assert np.array_equal(risk(rows), pipeline.predict_proba(rows)[:, 1])


def test_a_linear_form_that_does_not_match_is_not_used(training_data, monkeypatch):
    pipeline = fitted(LINEAR[0], training_data)
    wrong = fold_linear(pipeline)
    wrong.bias[0] += 1e-3
    monkeypatch.setattr("heart_batch.fast_risk.fold_linear", lambda _: wrong)
    risk, scorer = compile_risk(pipeline)
    assert scorer == "the pipeline's predict_proba (the linear form did not match)"
    rows = training_data.features.head(50)
    assert np.array_equal(risk(rows), pipeline.predict_proba(rows)[:, 1])
