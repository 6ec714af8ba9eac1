"""The linear form of a linear champion gives the pipeline's risks; anything else keeps its own."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from heart_batch.contract.validation import validate_rows
from heart_batch.model.explanations import compile_explainer
from heart_batch.model.pipeline import build_pipeline
from heart_batch.model.risk import (
    PARITY_TOLERANCE,
    compile_risk,
    feature_matrix,
    fold_linear,
    model_kind,
    numpy_preprocessing,
    probe_rows,
)
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
        assert np.max(np.abs(risk(feature_matrix(rows)) - expected)) < PARITY_TOLERANCE


@pytest.mark.parametrize("params", LINEAR + NONLINEAR, ids=lambda p: p.get("kernel", p["family"]))
def test_numpy_preprocessing_gives_the_column_transformer_s_matrix_exactly(params, training_data):
    preprocess = fitted(params, training_data).named_steps["preprocess"]
    preprocessing = numpy_preprocessing(preprocess)
    for rows in (training_data.features, other_hospitals(), probe_rows()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the probe's unknown codes
            assert np.array_equal(preprocessing(feature_matrix(rows)), preprocess.transform(rows))


@pytest.mark.parametrize("params", NONLINEAR, ids=lambda p: p["family"])
def test_a_nonlinear_classifier_runs_on_the_numpy_preprocessing(params, training_data):
    pipeline = fitted(params, training_data)
    risk, scorer = compile_risk(pipeline)
    assert scorer == "the classifier on numpy preprocessing"
    rows = other_hospitals()
    assert np.array_equal(risk(feature_matrix(rows)), pipeline.predict_proba(rows)[:, 1])


def unknown_preprocessing(_):
    raise ValueError("not the preprocessing heart_batch.model.pipeline builds")


def test_a_fast_form_that_does_not_match_is_not_used(training_data, monkeypatch):
    pipeline = fitted(LINEAR[0], training_data)
    wrong = fold_linear(pipeline)
    wrong.bias[0] += 1e-3
    monkeypatch.setattr("heart_batch.model.risk.fold_linear", lambda _: wrong)
    monkeypatch.setattr("heart_batch.model.risk.numpy_preprocessing", unknown_preprocessing)
    risk, scorer = compile_risk(pipeline)
    assert scorer == "the pipeline's predict_proba"
    rows = training_data.features.head(50)
    assert np.array_equal(risk(feature_matrix(rows)), pipeline.predict_proba(rows)[:, 1])


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        (LINEAR[0], "linear"),
        (LINEAR[1], "linear"),
        (NONLINEAR[0], "kernel"),
        (NONLINEAR[1], "gradient_boosting"),
    ],
    ids=lambda value: value if isinstance(value, str) else value["family"],
)
def test_the_kind_of_a_champion_is_read_from_its_structure(params, kind, training_data):
    assert model_kind(fitted(params, training_data)) == kind


def test_a_pipeline_heart_batch_did_not_build_is_foreign_and_scored_by_its_own_predict_proba(
    training_data,
):
    foreign = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(
        training_data.features, training_data.target
    )
    assert model_kind(foreign) == "foreign"
    assert compile_risk(foreign)[1] == "the pipeline's predict_proba"


def broken_member_weights(_):
    raise KeyError("a bug inside the linear folding")


def test_a_failure_inside_the_linear_form_fails_loudly(training_data, monkeypatch):
    pipeline = fitted(LINEAR[0], training_data)
    monkeypatch.setattr("heart_batch.model.risk._member_weights", broken_member_weights)
    with pytest.raises(KeyError, match="a bug inside the linear folding"):
        compile_risk(pipeline)
    with pytest.raises(KeyError, match="a bug inside the linear folding"):
        compile_explainer(pipeline, training_data.reference)
