"""The model card: per subgroup and hospital, with patients, intervals and unlearnt risks."""

import numpy as np
import pandas as pd
import pytest

from heart_batch.model.bands import BandTargets, choose_bands
from heart_batch.model.pipeline import build_pipeline
from heart_batch.registry.tracking import artifact_link
from heart_batch.training.card import build_model_card
from heart_batch.training.cross_validation import CvPlan, cross_validate
from heart_batch.training.data import load_other_hospitals, load_training_data
from tests.conftest import REPO_ROOT, SEED_DATA

OTHER_HOSPITALS = REPO_ROOT / "data" / "heart_other_hospitals.csv"
IDENTITY = ("heart-disease-risk", "nightly", "0123abcd", "abc123", "a logistic regression")


def card_of(data, params=None):
    model = build_pipeline(params or {"family": "logistic_regression", "C": 1.0}, seed=0)
    evaluation = cross_validate(model, data.features, data.target, CvPlan(3, 1, 0))
    fitted = model.fit(data.features, data.target)
    bands = choose_bands(evaluation.out_of_fold_risk, data.target, BandTargets(0.95, 0.9))
    others = load_other_hospitals(OTHER_HOSPITALS, max_missing=4)
    card = build_model_card(
        IDENTITY, (fitted, evaluation.out_of_fold_risk, bands), data, others, seed=0
    )
    return card, evaluation, (others, fitted)


@pytest.fixture(scope="module")
def seed_card(training_data):
    return card_of(training_data)


def test_each_subgroup_has_its_patients_and_figures_with_intervals(seed_card, training_data):
    card, evaluation, _ = seed_card
    features, disease = training_data.features, training_data.target
    women = (features["sex"] == 0).to_numpy()
    (row,) = [group for group in card.subgroups if group.name == "women"]
    assert row.performance.patients == women.sum() == 96
    assert row.performance.diseased == disease[women].sum()
    assert row.performance.mean_risk == pytest.approx(evaluation.out_of_fold_risk[women].mean())
    assert [group.name for group in card.subgroups] == [
        "women", "men", "under 50", "50 to 60", "over 60"
    ]  # fmt: skip
    ages = sum(g.performance.patients for g in card.subgroups if g.name not in ("women", "men"))
    assert ages == len(features)  # the age groups cover every patient once
    for group in card.subgroups:
        for estimate in (group.performance.roc_auc, group.performance.brier):
            assert estimate.low <= estimate.value <= estimate.high


def test_the_markdown_states_use_outcome_figures_bands_directions_and_limits(seed_card):
    card, _, _ = seed_card
    markdown = card.markdown("7", "higher pooled ROC AUC")
    assert markdown.startswith("# Model card: heart-disease-risk v7\n")
    assert "Promotion: higher pooled ROC AUC." in markdown
    for words in (
        "## Intended use",
        "no time horizon",
        "| all patients | 302 | 138 |",
        "| women | 96 | 24 |",
        "![Calibration overall, by sex and by age group](calibration.png)",
        "| Switzerland |",
        'sensitivity of "not low"',
        "| maximum heart rate | lowers the risk |",
        "bounded to each direction's sign",
        "Do not use it to screen",
    ):
        assert words in markdown, words


def test_other_hospitals_are_judged_by_risks_of_patients_the_model_did_not_learn(tmp_path):
    """Hungary's rows that retraining learnt are judged by their out-of-fold risk."""
    hungary = pd.read_csv(OTHER_HOSPITALS, dtype=str, keep_default_na=False)
    hungary = hungary[hungary["hospital"] == "Hungary"].drop(columns="hospital")
    complete = hungary[(hungary != "").all(axis=1)].head(40)
    seed = pd.read_csv(SEED_DATA, dtype=str, keep_default_na=False)
    combined = tmp_path / "combined.csv"
    pd.concat([seed, complete]).to_csv(combined, index=False)
    data = load_training_data(combined)
    card, evaluation, (others, fitted) = card_of(data)
    (row,) = [group for group in card.hospitals if group.name == "Hungary"]
    learnt = len(data.features) - 302
    assert row.note == f"{learnt} learnt: out-of-fold"
    assert [group.note for group in card.hospitals if group.name != "Hungary"] == ["", ""]
    rows = others.features[others.hospital == "Hungary"].reset_index(drop=True)
    labels = pd.Series(1 - others.disease[others.hospital == "Hungary"], dtype=float)
    learnt_rows = {
        tuple(np.nan_to_num(values, nan=-1)): risk
        for values, risk in zip(data.reference.to_numpy(), evaluation.out_of_fold_risk, strict=True)
    }
    expected = [
        learnt_rows.get(tuple(np.nan_to_num([*values, label], nan=-1)), prediction)
        for values, label, prediction in zip(
            rows.to_numpy(), labels, fitted.predict_proba(rows)[:, 1], strict=True
        )
    ]
    assert row.performance.mean_risk == pytest.approx(np.mean(expected))
    assert row.performance.patients == len(rows)


def test_a_family_free_of_the_directions_says_its_reasons_leave_out_the_protective_side(
    training_data,
):
    card, _, _ = card_of(training_data, {"family": "svc", "C": 1.0, "kernel": "linear"})
    assert card.constraints.startswith("none: a SVC is not held to them")


def test_the_card_link_opens_the_mlflow_ui_or_says_how_to_download_it():
    assert artifact_link("http://127.0.0.1:5000/", "3", "abc", "model_card/model_card.md") == (
        "[model_card/model_card.md](http://127.0.0.1:5000/#/experiments/3/runs/abc/artifactPath/"
        "model_card/model_card.md)"
    )
    assert artifact_link("sqlite:///mlflow.db", "3", "abc", "model_card/model_card.md") == (
        "`mlflow artifacts download -u runs:/abc/model_card/model_card.md`"
    )
