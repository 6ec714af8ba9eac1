"""The search space and the pipeline every point of it builds."""

import numpy as np
import pytest
from hyperopt.pyll.stochastic import sample

from heart_batch.model.pipeline import (
    DIRECTED_FAMILIES,
    MODEL_FAMILIES,
    build_pipeline,
    normalize_params,
    search_space,
)

SMALL = slice(0, None, 5)  # 61 rows of both classes


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_a_sampled_point_of_each_family_builds_a_pipeline_that_predicts_risks(
    family, training_data
):
    params = normalize_params(sample(search_space([family]), rng=np.random.default_rng(0)))
    assert params["family"] == family
    model = build_pipeline(params, seed=0).fit(
        training_data.features[SMALL], training_data.target[SMALL]
    )
    risk = model.predict_proba(training_data.features[SMALL])[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()


def test_the_default_space_covers_the_families_that_respect_the_directions():
    families = {
        sample(search_space(), rng=np.random.default_rng(seed))["family"] for seed in range(40)
    }
    assert families == set(DIRECTED_FAMILIES) == set(MODEL_FAMILIES) - {"svc"}


def test_a_restricted_space_samples_only_its_family():
    space = search_space(["svc"])
    assert {sample(space, rng=np.random.default_rng(s))["family"] for s in range(10)} == {"svc"}


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown model families"):
        search_space(["random_forest"])


def test_quantised_parameters_become_integers():
    params = normalize_params(
        {
            "family": "gradient_boosting",
            "max_iter": 75.0,
            "max_depth": 2.0,
            "learning_rate": 0.1,
            "l2_regularization": 1.0,
        }
    )
    assert (params["max_iter"], params["max_depth"]) == (75, 2)
    assert isinstance(params["max_iter"], int)


def test_missing_values_are_features_and_new_gaps_do_not_break_scoring(training_data):
    features = training_data.features.fillna(training_data.features.median())
    features.loc[features.index[:60], "thall"] = np.nan  # a gap that training sees
    model = build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0)
    model.fit(features, training_data.target)
    indicators = model.named_steps["preprocess"].named_transformers_["missing"]
    assert list(indicators.features_) == [list(features.columns).index("thall")]
    patient = features.iloc[[100]].assign(chol=np.nan)  # a gap training never saw
    with_gap = model.predict_proba(patient.assign(thall=np.nan))[:, 1]
    without = model.predict_proba(patient.assign(thall=2.0))[:, 1]
    assert 0 < with_gap[0] < 1 and with_gap[0] != pytest.approx(without[0])
