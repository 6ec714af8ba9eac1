"""Champion lookup and registration, against a temporary SQLite MLflow store."""

import pytest
from mlflow import MlflowClient

from heart_batch.registry import (
    CHALLENGER,
    CHAMPION,
    NoChampionError,
    PromotionDecision,
    champion_version,
    NoReferenceError,
    load_champion,
    load_champion_reference,
    register_candidate,
)
from heart_batch.tracking import configure_tracking
from tests.conftest import log_logistic_model


@pytest.fixture
def client(settings) -> MlflowClient:
    """A client of an empty SQLite store in tmp_path."""
    configure_tracking(settings)
    return MlflowClient()


def test_no_champion_yet_says_to_run_training(client):
    assert champion_version(client, "heart") is None
    with pytest.raises(NoChampionError, match="Run training first"):
        load_champion(client, "heart")


def test_promoted_and_rejected_versions_get_their_alias(client, training_data):
    promoted = PromotionDecision(True, "no champion yet")
    first = register_candidate(client, "heart", *log_logistic_model(training_data), promoted)
    rejected = PromotionDecision(False, "ROC AUC gain -0.01")
    second_uri, second_run = log_logistic_model(training_data)
    second = register_candidate(client, "heart", second_uri, second_run, rejected)

    assert str(client.get_model_version_by_alias("heart", CHAMPION).version) == first
    assert str(client.get_model_version_by_alias("heart", CHALLENGER).version) == second
    assert client.get_run(second_run).data.tags["promotion.reason"] == "ROC AUC gain -0.01"
    champion = load_champion(client, "heart")
    assert champion.version == first
    risk = champion.model.predict_proba(training_data.features)[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()


def test_monitoring_needs_the_reference_logged_with_the_champion(client, training_data, tmp_path):
    decision = PromotionDecision(True, "first")
    register_candidate(client, "heart", *log_logistic_model(training_data), decision)
    with pytest.raises(NoReferenceError, match="has no reference data"):
        load_champion_reference(client, "heart")
    register_candidate(client, "heart", *log_logistic_model(training_data, tmp_path), decision)
    champion = load_champion_reference(client, "heart")
    assert champion.version == "2"
    assert {"output", "risk"} <= set(champion.reference.columns)
