"""Settings: embedded defaults under HEART_HOME, every store overridable by URL."""

from pathlib import Path

import pytest

from heart_batch.settings import Settings
from heart_batch.storage.urls import without_password


def test_defaults_put_every_store_under_home(tmp_path, monkeypatch):
    monkeypatch.delenv("HEART_TRAINING_DATA")
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert settings.artifact_location == str(tmp_path / "mlartifacts")
    assert settings.training_data == tmp_path / "data" / "heart.csv"
    assert settings.tracking_store_is_database


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("HEART_MODEL_NAME", "risk-v2")
    monkeypatch.setenv("HEART_MAX_EVALS", "7")
    monkeypatch.setenv("HEART_ARTIFACT_LOCATION", "s3://bucket/artifacts")
    settings = Settings()
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert not settings.tracking_store_is_database
    assert (settings.model_name, settings.max_evals) == ("risk-v2", 7)
    assert settings.artifact_location == "s3://bucket/artifacts"


def test_absolute_paths_are_kept(monkeypatch):
    monkeypatch.setenv("HEART_TRAINING_DATA", "/data/export.csv")
    assert Settings().training_data == Path("/data/export.csv")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://heart:s3cret@db:5432/heart",
            "postgresql+psycopg://heart:***@db:5432/heart",
        ),
        ("sqlite:////tmp/heart.db", "sqlite:////tmp/heart.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_messages_show_store_urls_without_their_password(url, shown):
    assert without_password(url) == shown
