"""Champion lookup and registration, against a temporary SQLite MLflow store."""

import pytest
from mlflow import MlflowClient

from heart_batch.registry.champion import (
    CHALLENGER,
    CHAMPION,
    REFERENCE_TAG,
    ModelLoadError,
    NoChampionError,
    NoReferenceError,
    PromotionDecision,
    champion_version,
    load_champion,
    load_champion_reference,
    load_reference,
    register_candidate,
)
from heart_batch.registry.tracking import EXPERIMENT_KIND, configure_tracking

DESCRIPTION = "champion: no champion yet\n\nCV ROC AUC 0.9"


@pytest.fixture
def client(settings, logged_models) -> MlflowClient:  # pylint: disable=unused-argument
    """A client of the test's SQLite store in tmp_path: logged models, nothing registered."""
    configure_tracking(settings)
    return MlflowClient()


def test_no_champion_yet_says_to_run_training(client):
    assert champion_version(client, "heart") is None
    with pytest.raises(NoChampionError, match="Run training first"):
        load_champion(client, "heart")


def test_promoted_and_rejected_versions_get_their_alias(client, logged_models, training_data):
    promoted = PromotionDecision(True, "no champion yet")
    first = register_candidate(client, "heart", (*logged_models.plain, DESCRIPTION), promoted)
    rejected = PromotionDecision(False, "ROC AUC gain -0.01")
    second_uri, second_run = logged_models.with_reference
    second = register_candidate(client, "heart", (second_uri, second_run, DESCRIPTION), rejected)

    assert str(client.get_model_version_by_alias("heart", CHAMPION).version) == first
    assert str(client.get_model_version_by_alias("heart", CHALLENGER).version) == second
    assert client.get_run(second_run).data.tags["promotion.reason"] == "ROC AUC gain -0.01"
    assert client.get_model_version("heart", first).description == DESCRIPTION
    champion = load_champion(client, "heart")
    assert champion.version == first
    risk = champion.model.predict_proba(training_data.features)[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()


def test_monitoring_needs_the_reference_logged_with_the_champion(client, logged_models):
    decision = PromotionDecision(True, "first")
    register_candidate(client, "heart", (*logged_models.plain, DESCRIPTION), decision)
    with pytest.raises(NoReferenceError, match="has no reference data"):
        load_champion_reference(client, "heart")
    register_candidate(client, "heart", (*logged_models.with_reference, DESCRIPTION), decision)
    champion = load_champion_reference(client, "heart")
    assert champion.version == "2"
    assert {"output", "risk"} <= set(champion.reference.columns)


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_champion_whose_artifacts_are_damaged_names_its_version(
    client, logged_models, settings, damage
):
    uri, run_id = logged_models.plain
    register_candidate(
        client, "heart", (uri, run_id, DESCRIPTION), PromotionDecision(True, "first")
    )
    files = [
        path for path in settings.home.rglob("*") if path.is_file() and path.suffix == ".skops"
    ]
    assert files
    for path in files:
        if damage == "deleted":
            path.unlink()
        else:
            path.write_bytes(b"PK\x03\x04 not a zip archive")
    with pytest.raises(ModelLoadError) as failed:
        load_champion(client, "heart")
    assert str(failed.value).startswith("Cannot load heart v1 (models:/heart@champion, run ")
    assert "Restore its artifacts, or retrain" in str(failed.value)


def test_a_lost_reference_is_an_error_not_a_hand_registered_model(client, logged_models, settings):
    uri, run_id = logged_models.with_reference
    client.set_tag(run_id, REFERENCE_TAG, "reference/reference.parquet")  # trained by heart-batch
    register_candidate(
        client, "heart", (uri, run_id, DESCRIPTION), PromotionDecision(True, "first")
    )
    assert load_reference(client.get_model_version_by_alias("heart", CHAMPION)) is not None
    for path in settings.home.rglob("reference.parquet"):
        if "artifacts" in str(path):
            path.unlink()
    with pytest.raises(NoReferenceError, match="is missing or unreadable"):
        load_reference(client.get_model_version_by_alias("heart", CHAMPION))


def test_a_hand_registered_model_has_no_reference_and_that_is_no_error(client, logged_models):
    register_candidate(
        client, "heart", (*logged_models.plain, DESCRIPTION), PromotionDecision(True, "first")
    )
    assert load_reference(client.get_model_version_by_alias("heart", CHAMPION)) is None


def test_a_registration_retried_after_a_failure_creates_one_version(
    client, logged_models, monkeypatch
):
    uri, run_id = logged_models.plain
    set_alias = client.set_registered_model_alias
    failures = iter([ConnectionError("the tracking store went away")])

    def fails_once(*args):
        error = next(failures, None)
        if error is not None:
            raise error
        set_alias(*args)

    monkeypatch.setattr(client, "set_registered_model_alias", fails_once)
    decision = PromotionDecision(True, "no champion yet")
    with pytest.raises(ConnectionError):
        register_candidate(client, "heart", (uri, run_id, DESCRIPTION), decision)
    version = register_candidate(
        client, "heart", (uri, run_id, DESCRIPTION), decision
    )  # the task's retry

    assert [str(v.version) for v in client.search_model_versions("name='heart'")] == [version]
    assert str(client.get_model_version_by_alias("heart", CHAMPION).version) == version


def test_the_experiment_opens_on_its_runs_in_the_mlflow_ui(client, settings):
    experiment_id = configure_tracking(settings)
    client.delete_experiment_tag(experiment_id, EXPERIMENT_KIND[0])  # one made by an older release
    assert configure_tracking(settings) == experiment_id
    tags = client.get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND[0]] == "custom_model_development"
