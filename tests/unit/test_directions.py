"""The established directions of the features (age, blood pressure, cholesterol and ST depression
raise the risk; a higher maximum heart rate lowers it): the models respect them, and no reason
cites a value on the protective side of the reference population as raising the risk."""

import numpy as np
import pytest

from heart_batch.contract.features import DIRECTION_SOURCES, FEATURES
from heart_batch.model.directed import SCALED, DirectedLogisticRegression
from heart_batch.model.explanations import compile_explainer
from heart_batch.model.pipeline import build_pipeline
from heart_batch.model.risk import feature_matrix
from tests.unit.test_fast_risk import LINEAR, NONLINEAR, fitted, other_hospitals
from tests.unit.test_reasons import valid_probe_rows

DIRECTED = {feature.name: feature.direction for feature in FEATURES if feature.direction}
CONSTRAINED = [LINEAR[0], NONLINEAR[1]]  # the searched families: logistic regression, boosting


def test_the_contract_records_the_established_directions_and_their_sources():
    assert DIRECTED == {
        "age": "up",
        "trtbps": "up",
        "chol": "up",
        "oldpeak": "up",
        "thalachh": "down",
    }
    assert set(DIRECTED) <= set(SCALED)  # each is a scaled column the constraints reach
    assert "Duke treadmill score" in DIRECTION_SOURCES and "Framingham" in DIRECTION_SOURCES


def test_the_logistic_regression_keeps_each_sign_and_fits_like_scikit_learns_when_free(
    training_data,
):
    model = fitted(LINEAR[0], training_data)
    for member in model.named_steps["classifier"].calibrated_classifiers_:
        coef = member.estimator.coef_[0]
        for column, name in enumerate(SCALED):
            if name in DIRECTED:
                assert coef[column] * (1 if DIRECTED[name] == "up" else -1) >= 0, name
    # Unconstrained, it is scikit-learn's L2 logistic regression (same objective).
    # pylint: disable=import-outside-toplevel
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(300, 4))
    target = (matrix @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=300) > 0).astype(int)
    ours = DirectedLogisticRegression(C=0.7, directions=()).fit(matrix, target)
    theirs = LogisticRegression(C=0.7, max_iter=5000, tol=1e-10).fit(matrix, target)
    assert ours.coef_ == pytest.approx(theirs.coef_, abs=1e-4)
    assert ours.predict_proba(matrix)[:, 1] == pytest.approx(
        theirs.predict_proba(matrix)[:, 1], abs=1e-5
    )


@pytest.mark.parametrize("params", CONSTRAINED, ids=lambda p: p["family"])
def test_raising_a_directed_feature_moves_the_risk_the_established_way(params, training_data):
    model = build_pipeline(params, seed=0).fit(training_data.features, training_data.target)
    rows = valid_probe_rows()
    for name, direction in DIRECTED.items():
        column = [feature.name for feature in FEATURES].index(name)
        low, high = rows.copy(), rows.copy()
        low[:, column] = np.nanpercentile(training_data.features[name], 10)
        high[:, column] = np.nanpercentile(training_data.features[name], 90)
        risk_low, risk_high = (model.predict_proba(_frame(m))[:, 1] for m in (low, high))
        change = (risk_high - risk_low) * (1 if direction == "up" else -1)
        assert (change >= -1e-12).all(), name


@pytest.mark.parametrize("params", [*LINEAR, *NONLINEAR], ids=lambda p: p["family"])
def test_no_reason_cites_a_value_on_the_protective_side(params, training_data):
    model = fitted(params, training_data)
    explainer = compile_explainer(model, training_data.reference)
    means = {name: np.nanmean(training_data.features[name]) for name in DIRECTED}
    rows = np.vstack([valid_probe_rows(), feature_matrix(other_hospitals())])
    cited = 0
    for row, reasons in zip(rows, explainer.reasons(rows).to_pylist()):
        for reason in reasons:
            name = reason["feature"]
            if name in DIRECTED:
                cited += 1
                side = (reason["value"] - means[name]) * (1 if DIRECTED[name] == "up" else -1)
                assert side > 0, (name, reason["value"], means[name], row.tolist())
    assert cited, "the directed features are still reasons on their risk side"


def _frame(matrix):
    # pylint: disable=import-outside-toplevel
    import pandas as pd

    return pd.DataFrame(matrix, columns=[feature.name for feature in FEATURES])
