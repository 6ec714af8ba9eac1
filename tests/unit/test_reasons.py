"""Each row's reasons: exact and additive for linear champions, ablation for the others, never an
imputed feature."""

import numpy as np
import pandas as pd
import pytest

from heart_batch.contract.features import FEATURE_NAMES, FEATURES
from heart_batch.model.explanations import (
    ABLATION,
    LINEAR,
    TREE_SHAP,
    AblationContributions,
    TreeShapContributions,
    compile_explainer,
    mean_log_odds,
    top_reasons,
)
from heart_batch.model.risk import feature_matrix, probe_rows
from tests.conftest import HIGH_RISK, LOW_RISK
from tests.unit.test_fast_risk import LINEAR as LINEAR_PARAMS
from tests.unit.test_fast_risk import NONLINEAR as NONLINEAR_PARAMS
from tests.unit.test_fast_risk import fitted

RISK_FACTORS = {"cp", "exng", "oldpeak", "caa", "thall"}
"""What makes ``HIGH_RISK`` high (and, at their other values, ``LOW_RISK`` low)."""


def valid_probe_rows() -> np.ndarray:
    """Rows over every feature's domain, a fifth missing, codes within the contract."""
    matrix = feature_matrix(probe_rows())
    for i, feature in enumerate(FEATURES):
        if feature.codes:
            unknown = ~np.isin(matrix[:, i], list(feature.codes)) & ~np.isnan(matrix[:, i])
            matrix[unknown, i] = min(feature.codes)
    return matrix


def patients() -> np.ndarray:
    return feature_matrix(pd.DataFrame([HIGH_RISK, LOW_RISK], dtype="float64"))


@pytest.mark.parametrize("params", LINEAR_PARAMS, ids=lambda p: p["family"])
def test_linear_contributions_add_up_to_the_mean_log_odds_less_the_reference_mean(
    params, training_data
):
    model = fitted(params, training_data)
    explainer = compile_explainer(model, training_data.reference)
    assert explainer.method == LINEAR
    rows = valid_probe_rows()
    reference_mean = mean_log_odds(model, feature_matrix(training_data.reference)).mean()
    expected = mean_log_odds(model, rows) - reference_mean
    np.testing.assert_allclose(explainer.contributions(rows).sum(axis=1), expected, atol=1e-9)


def test_gradient_boosting_contributions_add_up_to_the_mean_log_odds_less_the_expectation(
    training_data,
):
    (params,) = [params for params in NONLINEAR_PARAMS if params["family"] == "gradient_boosting"]
    model = fitted(params, training_data)
    explainer = compile_explainer(model, training_data.reference)
    assert explainer.method == TREE_SHAP
    tree_shap = explainer.contributions
    assert isinstance(tree_shap, TreeShapContributions)
    rows = valid_probe_rows()
    expected = mean_log_odds(model, rows) - tree_shap.expected  # pylint: disable=no-member
    np.testing.assert_allclose(tree_shap(rows).sum(axis=1), expected, atol=1e-9)
    # The expectation is over the rows that trained the members: near the reference's mean.
    reference_mean = mean_log_odds(model, feature_matrix(training_data.reference)).mean()
    assert abs(tree_shap.expected - reference_mean) < 0.1  # pylint: disable=no-member


@pytest.mark.parametrize("params", LINEAR_PARAMS + NONLINEAR_PARAMS, ids=lambda p: p["family"])
def test_the_high_risk_patient_s_reasons_are_its_risk_factors(params, training_data):
    model = fitted(params, training_data)
    explainer = compile_explainer(model, training_data.reference)
    matrix = patients()
    high, low = top_reasons(explainer.contributions.candidates(matrix), matrix).to_pylist()
    assert len(high) == 3
    assert high[0]["feature"] in RISK_FACTORS
    assert [reason["contribution"] for reason in high] == sorted(
        (reason["contribution"] for reason in high), reverse=True
    )
    assert high[0]["value"] == HIGH_RISK[high[0]["feature"]]
    # The low-risk patient's values of the risk factors are the protective ones: never a reason.
    assert not {reason["feature"] for reason in low} & RISK_FACTORS
    assert all(reason["contribution"] < high[0]["contribution"] for reason in low)


def test_reasons_read_as_the_contract_words_them(training_data):
    model = fitted(LINEAR_PARAMS[0], training_data)
    explainer = compile_explainer(model, training_data.reference)
    matrix = feature_matrix(pd.DataFrame([HIGH_RISK] * 1, dtype="float64"))
    [reasons] = top_reasons(explainer.contributions.candidates(matrix), matrix).to_pylist()
    by_feature = {feature.name: feature for feature in FEATURES}
    for reason in reasons:
        feature = by_feature[reason["feature"]]
        code = int(reason["value"]) if feature.codes else None
        assert reason["label"] == feature.value_label(code)
    assert by_feature["cp"].value_label(0) == "chest pain: asymptomatic"
    assert by_feature["caa"].value_label(2) == "vessels coloured by fluoroscopy: 2 vessels"


@pytest.mark.parametrize("params", LINEAR_PARAMS[:1] + NONLINEAR_PARAMS, ids=lambda p: p["family"])
def test_an_imputed_feature_is_never_a_reason(params, training_data):
    model = fitted(params, training_data)
    explainer = compile_explainer(model, training_data.reference)
    rows = valid_probe_rows()
    missing = np.isnan(rows)
    reasons = top_reasons(explainer.contributions.candidates(rows), rows).to_pylist()
    assert sum(len(row) for row in reasons) > len(rows)  # most rows have reasons
    for row, row_reasons in zip(missing, reasons):
        imputed = {FEATURE_NAMES[i] for i in np.flatnonzero(row)}
        assert not imputed & {reason["feature"] for reason in row_reasons}
        assert all(reason["contribution"] > 0 for reason in row_reasons)
    # Where observed, a candidate is the contribution itself (float32); NaN where imputed.
    contributions = explainer.contributions(rows)
    candidates = explainer.contributions.candidates(rows).T
    np.testing.assert_allclose(candidates[~missing], contributions[~missing], rtol=1e-6, atol=1e-6)
    assert np.isnan(candidates[missing]).all()


@pytest.mark.parametrize("params", LINEAR_PARAMS[:1] + NONLINEAR_PARAMS, ids=lambda p: p["family"])
def test_the_reasons_are_the_largest_positive_contributions_most_first(params, training_data):
    model = fitted(params, training_data)
    explainer = compile_explainer(model, training_data.reference)
    rows = valid_probe_rows()
    candidates = explainer.contributions.candidates(rows)
    reasons = top_reasons(candidates, rows).to_pylist()
    for row, row_reasons in enumerate(reasons):
        # The ranking keeps 19 of float32's 23 fraction bits: near-ties may come either way.
        largest = np.sort(candidates[candidates[:, row] > 0, row])[::-1][:3]
        found = [reason["contribution"] for reason in row_reasons]
        np.testing.assert_allclose(found, largest, rtol=1e-5)
        for reason in row_reasons:
            column = FEATURE_NAMES.index(reason["feature"])
            assert reason["contribution"] == candidates[column, row]
            assert reason["value"] == rows[row, column]


def test_ablation_contributions_vanish_at_the_typical_values(training_data):
    model = fitted(NONLINEAR_PARAMS[0], training_data)
    explainer = compile_explainer(model, training_data.reference)
    assert explainer.method == ABLATION
    ablation = explainer.contributions
    assert isinstance(ablation, AblationContributions)
    typical = ablation.typical[None, :]  # pylint: disable=no-member
    np.testing.assert_allclose(ablation(typical), 0.0, atol=1e-12)
