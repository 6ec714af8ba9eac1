"""The product end to end: deployments pulled from a git repository by a real worker.

A real PostgreSQL server holding every store, a real Prefect server and MLflow tracking server
on free ports, a real worker, a bare git repository made from the current commit as the clone
source, prefect.yaml deployed, and an aiosmtpd server as the mail server. The flow runs are
started the way a user starts them, with `prefect deployment run ... --watch`. Everything started
is stopped at the end, also on failure.
"""

import shutil
import subprocess

import duckdb
import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from mlflow import MlflowClient
from sqlalchemy import create_engine, text

from ops.stack import BIN, Stack, settings_for_up
from tests.conftest import REPO_ROOT, Mailbox
from tests.e2e.conftest import api, pause_schedules, use_stack_credentials, wait_for_flow_run
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = REPO_ROOT / "data" / "examples" / "example_patients.csv"
OTHER_HOSPITALS = REPO_ROOT / "data" / "heart_other_hospitals.csv"


@pytest.fixture
def mail_server():
    inbox = Mailbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def git_repository(tmp_path) -> str:
    """A bare repository holding the current commit as branch main."""
    bare = tmp_path / "heart-batch.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    subprocess.run(
        ["git", "-C", str(REPO_ROOT), "push", "--quiet", str(bare), "HEAD:refs/heads/main"],
        check=True,
    )
    return bare.as_uri()


@pytest.fixture
def stack(monkeypatch, stack_ports, mail_server, git_repository):
    controller, _ = mail_server
    environment = {
        "HEART_GIT_URL": git_repository,
        "HEART_GIT_BRANCH": "main",
        "HEART_SMTP_SERVER": "127.0.0.1",
        "HEART_SMTP_PORT": str(controller.port),
        "HEART_SMTP_TYPE": "INSECURE",
        "HEART_ALERT_TO": "cardiology@hospital.test",
        "HEART_SETTLE_SECONDS": "0",
        "HEART_MAX_EVALS": "3",
        "HEART_CV_REPEATS": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        # Every store on PostgreSQL (a server `make up` starts from the machine's binaries); the
        # embedded SQLite default is what the README walkthrough and `make up`'s test run.
        "HEART_POSTGRES": "local",
        "HEART_POSTGRES_PORT": str(free_port()),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert stack_ports
    system = Stack(settings_for_up())
    started = []
    try:
        system.up()
        use_stack_credentials(monkeypatch, system)
        pause_schedules(system.prefect_api_url)
        started = [process for _, process in system.processes()]
        yield system
    finally:
        system.down()
        assert not any(process.is_running() for process in started)


def run_deployment(system: Stack, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", name, "--watch", "--watch-timeout", "600"],
        capture_output=True,
        text=True,
        check=False,
        timeout=660,
        env=system.environment(),
    )


def model_versions(system: Stack) -> list[str]:
    # Both URIs: a registry URI left out falls back to whatever store this process last used.
    client = MlflowClient(tracking_uri=system.mlflow_url, registry_uri=system.mlflow_url)
    name = system.settings.model_name
    return sorted(version.version for version in client.search_model_versions(f"name='{name}'"))


def test_score_monitor_alert_and_retrain_through_deployments(stack, mail_server):
    system, settings = stack, stack.settings
    _, inbox = mail_server

    trained = run_deployment(system, "train-heart-risk/train")
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr
    assert len(model_versions(system)) == 1

    settings.input_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE, settings.input_dir)
    scored = run_deployment(system, "score-heart-risk/score")
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr
    predictions = list(settings.output_dir.glob("predictions_example_patients_*.parquet"))
    assert len(predictions) == 1
    rejected = list((settings.output_dir / "_rejected").glob("rejected_example_patients_*.parquet"))
    rows_out = len(pd.read_parquet(predictions[0])) + sum(len(pd.read_parquet(p)) for p in rejected)
    assert rows_out == len(pd.read_csv(EXAMPLE))
    [risks] = duckdb.sql(
        f"SELECT min(risk), max(risk), count(DISTINCT model_version) FROM '{predictions[0]}'"
    ).fetchall()
    assert 0 <= risks[0] <= risks[1] <= 1 and risks[2] == 1

    shutil.copy(OTHER_HOSPITALS, settings.input_dir)
    scored = run_deployment(system, "score-heart-risk/score")
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr
    monitored = run_deployment(system, "monitor-heart-risk/monitor")
    assert monitored.returncode == 0, monitored.stdout[-3000:] + monitored.stderr

    assert len(inbox.messages) == 1
    assert inbox.envelopes[0].rcpt_tos == ["cardiology@hospital.test"]
    assert b"drift" in inbox.envelopes[0].content.lower()
    with create_engine(settings.database_url).connect() as connection:
        training_run_id = connection.execute(
            text("SELECT training_flow_run_id FROM monitoring_runs WHERE violated")
        ).scalar_one()
    training = wait_for_flow_run(system.prefect_api_url, training_run_id)
    assert training["state_type"] == "COMPLETED"
    deployment = api(system.prefect_api_url, f"/deployments/{training['deployment_id']}")
    assert deployment["name"] == "train"
    assert len(model_versions(system)) == 2

    with create_engine(settings.database_url).connect() as connection:
        assert connection.dialect.name == "postgresql"
        databases = connection.execute(text("SELECT datname FROM pg_database")).scalars().all()
    assert {"heart", "mlflow", "prefect"} <= set(databases)
    assert not list(settings.home.rglob("*.db"))  # no SQLite store anywhere
    client = MlflowClient(tracking_uri=system.mlflow_url, registry_uri=system.mlflow_url)
    # Proxied by the tracking server: a worker elsewhere loads the model over HTTP, no shared path.
    location = client.get_model_version_download_uri(settings.model_name, "1")
    assert location.startswith("mlflow-artifacts:"), location
