"""The train flow end to end: Prefect test server, temporary MLflow store, real seed data."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from flows.score import score
from flows.train import train
from heart_batch.model.bands import RiskBands
from heart_batch.registry.champion import (
    BANDS_ARTIFACT,
    CHALLENGER,
    CHAMPION,
    REFERENCE_ARTIFACT,
    load_champion,
)
from heart_batch.registry.tracking import code_version
from heart_batch.scoring.intake import load_scoring_model
from tests.conftest import REPO_ROOT, SEED_DATA

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUICK = {"cv_folds": 3, "cv_repeats": 1}
OTHER_HOSPITALS = REPO_ROOT / "data" / "heart_other_hospitals.csv"


def sicker(profile: pd.DataFrame) -> pd.DataFrame:
    """The same patients with the classic signs of coronary disease."""
    return profile.assign(cp=0.0, exng=1.0, oldpeak=3.0, caa=3.0, thall=3.0, thalachh=110.0)


def healthier(profile: pd.DataFrame) -> pd.DataFrame:
    """The same patients without them."""
    return profile.assign(cp=2.0, exng=0.0, oldpeak=0.0, caa=0.0, thall=2.0, thalachh=175.0)


def score_then_retrain(settings, name: str, rows: pd.DataFrame):
    """Score ``rows`` as the file ``<name>.csv``, then retrain as monitoring would, flagging its
    predictions file; that file's name and the training's outcome."""
    settings.input_dir.mkdir()
    rows.to_csv(settings.input_dir / f"{name}.csv", index=False)
    assert [f.status for f in score(settle_seconds=0).files] == ["scored"]
    (predictions,) = [p.name for p in settings.output_dir.glob(f"predictions_{name}_*.parquet")]
    outcome = train(
        max_evals=3,
        families=["logistic_regression"],
        trigger="monitoring window w1: risk_drift",
        flagged_sources=[predictions],
        **QUICK,
    )
    return predictions, outcome


@pytest.fixture
def first_training(prefect_server, settings):  # pylint: disable=unused-argument
    """A first run: the champion of an empty registry."""
    return train(max_evals=3, families=["logistic_regression"], **QUICK)


def test_the_run_ends_with_its_decision_in_one_line(prefect_server, settings):
    # pylint: disable=unused-argument
    state = train(max_evals=2, families=["logistic_regression"], return_state=True, **QUICK)
    assert state.message.startswith("Version 1 is champion: no champion yet")
    assert "CV ROC AUC" in state.message and state.message.endswith(" rows)")
    assert state.result().version == "1"


def test_first_model_becomes_a_champion_that_predicts_disease_risk(
    first_training, settings, training_data
):
    assert (first_training.version, first_training.alias) == ("1", CHAMPION)
    champion = load_champion(MlflowClient(), settings.model_name)
    risk = champion.model.predict_proba(training_data.features)[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()
    patients = training_data.features.head(20)
    sick = champion.model.predict_proba(sicker(patients))[:, 1]
    well = champion.model.predict_proba(healthier(patients))[:, 1]
    assert (sick > well).all()
    assert sick.mean() > 0.7 and well.mean() < 0.3


def test_the_run_records_trials_evidence_and_reference(first_training, training_data, settings):
    client = MlflowClient()
    run = client.get_run(first_training.run_id)
    assert run.data.metrics["cv_roc_auc"] >= 0.85
    assert {"cv_roc_auc_std", "cv_brier", "cv_accuracy"} <= set(run.data.metrics)
    assert run.data.tags["git_commit"] == code_version(settings)
    assert run.data.tags["data_sha256.heart.csv"].startswith("43b0368e")
    assert run.info.run_name == "by hand"  # not scheduled, not triggered by monitoring
    description = client.get_model_version(settings.model_name, "1").description
    assert description.startswith("champion: no champion yet") and "CV ROC AUC" in description
    trials = mlflow.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert len(trials) == 3
    assert set(trials["tags.family"]) == {"logistic_regression"}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/calibration.png", "plots/roc.png"}
    reference = pd.read_parquet(
        mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/{REFERENCE_ARTIFACT}")
    )
    assert len(reference) == len(training_data.features)
    assert {"output", "risk", "oof_risk"} <= set(reference.columns)
    # Monitoring compares production risks with the champion's own risks on the reference rows;
    # the out-of-fold risks stay as the baseline of quality.
    champion = load_champion(MlflowClient(), settings.model_name)
    production = champion.model.predict_proba(training_data.features)[:, 1]
    assert reference["risk"].to_numpy() == pytest.approx(production)
    assert not reference["oof_risk"].equals(reference["risk"])


def test_every_version_has_a_model_card_linked_from_its_description(first_training, settings):
    client = MlflowClient()
    run_id = first_training.run_id
    description = client.get_model_version(settings.model_name, "1").description
    assert f"mlflow artifacts download -u runs:/{run_id}/model_card/model_card.md" in description
    assert {a.path for a in client.list_artifacts(run_id, "model_card")} == {
        "model_card/model_card.md",
        "model_card/calibration.png",
    }
    card = mlflow.artifacts.load_text(f"runs:/{run_id}/model_card/model_card.md")
    assert card.startswith(f"# Model card: {settings.model_name} v1\n")
    for section in ("Intended use", "Training data", "Discrimination and calibration"):
        assert f"## {section}" in card
    assert "| women | 96 | 24 |" in card and "| over 60 | 79 |" in card
    assert "| Hungary | 292 |" in card and "| VA Long Beach |" in card
    assert "## Limitations and where not to use it" in card
    assert "cross-sectional" in card and "(0." in card  # intervals


def test_a_worse_model_is_registered_as_challenger_only(first_training, settings):
    second = train(max_evals=1, families=["gradient_boosting"], seed=4, **QUICK)
    client = MlflowClient()
    assert (second.version, second.alias) == ("2", CHALLENGER)
    assert any(why in second.reason for why in ("unchanged data", "worse beyond", "worse for"))
    assert str(client.get_model_version_by_alias(settings.model_name, CHAMPION).version) == "1"
    tags = client.get_run(second.run_id).data.tags
    assert tags["promotion.alias"] == CHALLENGER
    assert tags["promotion.reason"] == second.reason
    assert first_training.version == "1"


def test_new_labelled_rows_deploy_the_champion_configuration_refitted_on_them(
    first_training, settings
):  # pylint: disable=unused-argument
    """The search finds the champion's configuration again; only the refresh has seen new rows."""
    other = pd.read_csv(OTHER_HOSPITALS, dtype=str, keep_default_na=False)
    predictions, second = score_then_retrain(settings, "ward", other.drop(columns="hospital")[:300])
    assert (second.version, second.alias) == ("2", CHAMPION)
    tags = MlflowClient().get_run(second.run_id).data.tags
    assert tags["challenger"] == "champion v1's configuration, refitted"
    assert tags["promotion.reason"] == second.reason
    assert tags["trigger"] == "monitoring window w1: risk_drift"
    assert tags["trigger.sources"] == predictions
    table = mlflow.artifacts.load_text(f"runs:/{second.run_id}/promotion/contenders.md")
    assert all(f"| {name} |" in table for name in ("new", "refresh", "incumbent"))
    assert predictions in table  # its own column: 300 labelled rows


def test_a_window_of_rows_already_learnt_keeps_the_champion(first_training, settings):
    """As it was found: a file of rows the champion learnt is scored, monitoring retrains on its
    window; the distinct rows are the same, so the data did not change and nothing churns."""
    seed = pd.read_csv(SEED_DATA, dtype=str, keep_default_na=False)
    _, second = score_then_retrain(settings, "again", seed.iloc[:120])
    client = MlflowClient()
    assert (second.version, second.alias) == ("2", CHALLENGER)
    assert "unchanged data" in second.reason
    assert str(client.get_model_version_by_alias(settings.model_name, CHAMPION).version) == "1"
    first_tags = client.get_run(first_training.run_id).data.tags
    tags = client.get_run(second.run_id).data.tags
    assert tags["data_rows_sha256"] == first_tags["data_rows_sha256"]
    assert tags["data_sha256.heart.csv"] == first_tags["data_sha256.heart.csv"]
    assert any(key.startswith("data_sha256.predictions_again_") for key in tags)  # a new file


def test_the_run_stores_the_risk_bands_chosen_on_its_out_of_fold_risks(first_training, settings):
    run_id = first_training.run_id
    bands = RiskBands.from_dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{BANDS_ARTIFACT}"))
    reference = pd.read_parquet(
        mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{REFERENCE_ARTIFACT}")
    )
    disease = (reference["output"] == 0).to_numpy()
    codes = bands.codes(reference["oof_risk"].to_numpy())
    assert np.mean(codes[disease] > 0) == pytest.approx(bands.sensitivity)
    assert bands.sensitivity >= settings.band_min_sensitivity
    assert np.mean(codes[~disease] < 2) == pytest.approx(bands.specificity)
    assert bands.specificity >= settings.band_min_specificity
    metrics = MlflowClient().get_run(run_id).data.metrics
    assert metrics["bands.low_below"] == pytest.approx(bands.low_below)
    assert metrics["bands.specificity_high.ci_low"] < bands.specificity
    # Scoring loads the same bands with the champion.
    assert load_scoring_model(settings).bands == bands
