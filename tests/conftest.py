"""Shared fixtures: an isolated environment per test and one Prefect test server per session."""

import contextlib
import os
import shutil
import sqlite3
import uuid
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from heart_batch.settings import QUIET_TOOLS, Settings
from heart_batch.storage.urls import ensure_databases, store_url
from tests.ports import free_port
from tests.postgres_server import postgres_server as running_postgres

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DATA = REPO_ROOT / "data" / "heart.csv"


class Mailbox:
    """aiosmtpd handler that keeps every message: parsed, and as the envelope it came in."""

    def __init__(self):
        self.messages = []
        self.envelopes = []

    async def handle_DATA(self, _server, _session, envelope):  # pylint: disable=invalid-name
        """Store the message; tell the client it was accepted."""
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """No test reads the developer's HEART_* or MLflow settings; every store lives in tmp_path, and
    every server of the stack gets a free port."""
    _isolate(monkeypatch, tmp_path)
    for name in STACK_PORTS:  # whatever else listens on the default ports (a mail catcher...)
        monkeypatch.setenv(name, str(free_port()))


STACK_PORTS = tuple(
    f"HEART_{name}_PORT" for name in ("PREFECT", "MLFLOW", "EVIDENTLY", "MAIL", "POSTGRES", "DASK")
)


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("HEART_", "MLFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HEART_HOME", str(home))
    monkeypatch.setenv("HEART_TRAINING_DATA", str(SEED_DATA))
    monkeypatch.setenv(
        "HEART_OTHER_HOSPITALS_DATA", str(SEED_DATA.parent / "heart_other_hospitals.csv")
    )
    for name, value in QUIET_TOOLS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def settings() -> Settings:
    """Settings of the isolated environment."""
    return Settings()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL server from the machine's binaries for the whole session (fails, never
    skips, when they are missing: `.ci/run` installs them). Yields its postgresql:// URL."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def postgres_database(postgres_server) -> str:
    """The SQLAlchemy URL of a new, empty database on the session's server."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    ensure_databases(postgres_server, [name])
    return store_url(postgres_server, name)


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect API for the whole session, without flow heartbeats (1 s per flow).

    Yields its URL, so that flows started in subprocesses can report to it too.
    """
    # pylint: disable=import-outside-toplevel,no-name-in-module
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def training_data():
    """The seed dataset as training reads it."""
    # pylint: disable=import-outside-toplevel
    from heart_batch.training.data import load_training_data

    return load_training_data(SEED_DATA)


def log_logistic_model(training_data, tmp_path=None) -> tuple[str, str]:
    """Log a small fitted pipeline to the configured MLflow store; return model URI and run id.

    The run goes to the experiment of the isolated settings, whose artifacts live in the test's
    HEART_HOME. With ``tmp_path``, the run also gets the reference data that monitoring needs.
    """
    # pylint: disable=import-outside-toplevel
    import mlflow

    from heart_batch.model.pipeline import SKOPS_TRUSTED_TYPES, build_pipeline
    from heart_batch.registry.champion import REFERENCE_ARTIFACT
    from heart_batch.registry.tracking import configure_tracking

    model = build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0)
    model.fit(training_data.features, training_data.target)
    with mlflow.start_run(experiment_id=configure_tracking(Settings())) as run:
        info = mlflow.sklearn.log_model(
            model, name="model", skops_trusted_types=SKOPS_TRUSTED_TYPES
        )
        if tmp_path is not None:
            risk = model.predict_proba(training_data.features)[:, 1]
            reference = tmp_path / "reference.parquet"
            training_data.reference.assign(risk=risk, oof_risk=risk).to_parquet(reference)
            mlflow.log_artifact(str(reference), str(Path(REFERENCE_ARTIFACT).parent))
    return info.model_uri, run.info.run_id


@pytest.fixture(scope="session")
def registry_template(tmp_path_factory, training_data) -> "RegistryTemplate":
    """An MLflow store holding two logged logistic-regression runs, made once per session: one
    without reference data (as registered by hand), one with it (as trained by heart-batch)."""
    home = tmp_path_factory.mktemp("registry-template")
    with pytest.MonkeyPatch.context() as environment:
        _isolate(environment, home)
        plain = log_logistic_model(training_data)
        with_reference = log_logistic_model(training_data, home)
    return RegistryTemplate(home, plain, with_reference)


class RegistryTemplate:
    """The session's logged models, and how a test gets its own copy of them."""

    def __init__(self, home: Path, plain: tuple[str, str], with_reference: tuple[str, str]):
        self.home, self.plain, self.with_reference = home, plain, with_reference

    def copy_to(self, home: Path) -> None:
        """The store and its artifacts in ``home``, every stored path pointing there."""
        shutil.copytree(self.home / "mlartifacts", home / "mlartifacts", dirs_exist_ok=True)
        shutil.copy(self.home / "mlflow.db", home / "mlflow.db")
        with contextlib.closing(sqlite3.connect(home / "mlflow.db")) as database:
            for (table,) in database.execute("select name from sqlite_master where type='table'"):
                for column in database.execute(f"pragma table_info('{table}')").fetchall():
                    if column[2].upper().startswith(("VARCHAR", "TEXT")):
                        database.execute(
                            f'update "{table}" set "{column[1]}" = '
                            f'replace("{column[1]}", ?, ?)',
                            (str(self.home), str(home)),
                        )
            database.commit()


@pytest.fixture
def logged_models(registry_template, settings) -> RegistryTemplate:
    """This test's copy of the session's logged models (model URI and run id of each)."""
    registry_template.copy_to(settings.home)
    return registry_template


@pytest.fixture
def champion(settings, logged_models) -> str:
    """A logistic-regression champion, with its reference data, in the test's registry; returns
    its version."""
    # pylint: disable=import-outside-toplevel
    from mlflow import MlflowClient

    from heart_batch.registry.champion import PromotionDecision, register_candidate
    from heart_batch.registry.tracking import configure_tracking

    configure_tracking(settings)
    decision = PromotionDecision(True, "test champion")
    return register_candidate(
        MlflowClient(), settings.model_name, (*logged_models.with_reference, "test"), decision
    )


# A behavioural pair: what a cardiologist would call a high-risk and a low-risk patient.
# fmt: off
HIGH_RISK = {  # asymptomatic chest pain, exercise angina, ST depression, three vessels, defect
    "age": 66, "sex": 1, "cp": 0, "trtbps": 150, "chol": 280, "fbs": 1, "restecg": 0,
    "thalachh": 110, "exng": 1, "oldpeak": 3.0, "slp": 1, "caa": 3, "thall": 3,
}
LOW_RISK = {  # non-anginal pain, a high maximum heart rate, clean vessels, a normal thallium test
    "age": 41, "sex": 0, "cp": 2, "trtbps": 120, "chol": 200, "fbs": 0, "restecg": 1,
    "thalachh": 175, "exng": 0, "oldpeak": 0.0, "slp": 2, "caa": 0, "thall": 2,
}
# fmt: on
