"""Settings: embedded defaults under HEART_HOME, one area per setting, validated overrides."""

from pathlib import Path

import pytest

from heart_batch.settings import (
    AREAS,
    InvalidSettingError,
    Seeded,
    Settings,
    reference_page,
)
from heart_batch.storage.urls import without_password
from tests.conftest import REPO_ROOT


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


@pytest.mark.parametrize(
    ("override", "variable", "allowed"),
    [
        ({"false_alarm_rate": 2.0}, "HEART_FALSE_ALARM_RATE=2.0", "> 0 and < 1"),
        ({"min_window_rows": -5}, "HEART_MIN_WINDOW_ROWS=-5", "≥ 1"),
        ({"cv_folds": 0}, "HEART_CV_FOLDS=0", "≥ 2"),
        ({"max_missing_features": 14}, "HEART_MAX_MISSING_FEATURES=14", "≥ 0 and ≤ 13"),
    ],
)
def test_an_override_outside_its_range_fails_naming_the_variable_and_the_range(
    override, variable, allowed
):
    with pytest.raises(InvalidSettingError) as raised:
        Settings().with_overrides(**override)
    assert variable in str(raised.value) and f"(allowed: {allowed})" in str(raised.value)


def test_an_override_replaces_only_what_is_given_and_keeps_the_resolved_paths(tmp_path):
    settings = Settings(home=tmp_path)
    changed = settings.with_overrides(settle_seconds=0, min_window_rows=None, seed=7)
    assert (changed.settle_seconds, changed.seed) == (0, 7)
    assert changed.min_window_rows == settings.min_window_rows
    assert changed.input_dir == settings.input_dir == tmp_path / "input"
    assert changed.database_url == settings.database_url


def test_an_unknown_override_is_refused():
    with pytest.raises(InvalidSettingError, match="No such setting: cv_fold"):
        Settings().with_overrides(cv_fold=3)


def test_each_setting_is_declared_in_one_area_only():
    declared = [name for area in AREAS for name in vars(area).get("__annotations__", {})]
    assert len(declared) == len(set(declared))
    assert set(declared) | set(Seeded.__annotations__) == set(Settings.model_fields)


def test_the_settings_reference_page_is_current():
    page = REPO_ROOT / "docs" / "settings.md"
    assert page.read_text() == reference_page(), "run `make docs` to regenerate docs/settings.md"
