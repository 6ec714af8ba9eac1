"""The monitor flow with a real SMTP server (aiosmtpd), the Prefect test server and a deployment."""

# Flows called with return_state=True return a State, which pylint cannot infer.
# pylint: disable=no-member


import mlflow
import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect_email import EmailServerCredentials
from sqlalchemy import create_engine, text

from flows.monitor import monitor
from flows.score import score
from flows.train import train
from tests.conftest import REPO_ROOT, SEED_DATA, Mailbox, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OTHER_HOSPITALS = REPO_ROOT / "data" / "heart_other_hospitals.csv"
BLOCK = "heart-alerts-test"


@pytest.fixture
def mailbox(prefect_server):  # pylint: disable=unused-argument
    """A real SMTP server on a free port, and the email block pointing at it."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    EmailServerCredentials(
        smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=controller.port
    ).save(BLOCK, overwrite=True)
    yield box
    controller.stop()


@pytest.fixture
def train_deployment(prefect_server) -> str:  # pylint: disable=unused-argument
    """The training flow as a deployment of the test server, with no runs yet; returns its id."""
    deployment_id = str(train.to_deployment(name="train").apply())
    with get_client(sync_client=True) as client:
        for run in training_runs(deployment_id):
            client.delete_flow_run(run.id)
    return deployment_id


def training_runs(deployment_id: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def drop_and_score(settings, name: str, source, rows: slice) -> None:
    settings.input_dir.mkdir(exist_ok=True)
    pd.read_csv(source, dtype=str, keep_default_na=False).iloc[rows].to_csv(
        settings.input_dir / name, index=False
    )
    assert [o.status for o in score(settle_seconds=0).files] == ["scored"]


def monitoring_rows(settings) -> tuple[list, list]:
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        runs = (
            connection.execute(text("select * from monitoring_runs order by id")).mappings().all()
        )
        metrics = connection.execute(text("select * from monitoring_metrics")).mappings().all()
    return runs, metrics


def run_monitor(**overrides):
    parameters = {
        "alert_to": "cardiology-ops@hospital.test",
        "email_block": BLOCK,
        "train_deployment": "train-heart-risk/train",
        "min_window_rows": 200,
    }
    return monitor(**(parameters | overrides), return_state=True)


def test_a_shifted_batch_alerts_once_and_retrains_once_per_cooldown(
    champion, settings, mailbox, train_deployment
):  # pylint: disable=unused-argument
    drop_and_score(settings, "hungary_va.csv", OTHER_HOSPITALS, slice(0, 300))
    state = run_monitor()
    assert state.is_completed()
    outcome = state.result()
    assert "drift_share" in outcome.violations

    (message,) = mailbox.messages
    assert message["Subject"].startswith("[heart-batch] heart-disease-risk v1: share of drifted")
    assert message["To"] == "cardiology-ops@hospital.test"
    body = message.get_body(("html", "plain")).get_content()
    assert "VIOLATED" in body and outcome.report_path in body
    (training,) = training_runs(train_deployment)
    assert str(training.id) == outcome.training_flow_run_id

    runs, metrics = monitoring_rows(settings)
    assert runs[0]["alert_sent"] and runs[0]["training_flow_run_id"] == str(training.id)
    assert {m["metric"] for m in metrics} >= {"drift_share", "risk_drift", "feature_drift.age"}

    drop_and_score(settings, "switzerland_va.csv", OTHER_HOSPITALS, slice(300, 616))
    second = run_monitor().result()
    assert second.violations and second.training_flow_run_id is None
    assert len(mailbox.messages) == 2
    assert len(training_runs(train_deployment)) == 1
    runs, _ = monitoring_rows(settings)
    assert runs[1]["training_note"].startswith("cooldown")


def test_a_batch_like_the_reference_raises_nothing(
    champion, settings, mailbox, train_deployment
):  # pylint: disable=unused-argument
    drop_and_score(settings, "cleveland.csv", SEED_DATA, slice(0, 303))
    outcome = run_monitor().result()
    assert outcome.status == "evaluated" and outcome.violations == []
    assert mailbox.messages == [] and training_runs(train_deployment) == []


def test_a_small_window_is_carried_over_not_judged(
    champion, settings, mailbox, train_deployment
):  # pylint: disable=unused-argument
    drop_and_score(settings, "few.csv", OTHER_HOSPITALS, slice(0, 50))
    assert run_monitor().result().status == "insufficient_data"
    drop_and_score(settings, "more.csv", OTHER_HOSPITALS, slice(50, 300))
    outcome = run_monitor().result()
    assert (outcome.status, outcome.window_rows) == ("evaluated", 50 + 250 - _rejected(settings))
    assert len(mailbox.messages) == 1


def _rejected(settings) -> int:
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        return connection.execute(text("select sum(rows_rejected) from scored_files")).scalar()


def test_smtp_down_still_stores_metrics_and_retrains_then_fails(
    champion, settings, train_deployment
):  # pylint: disable=unused-argument
    EmailServerCredentials(
        smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=free_port()
    ).save(BLOCK, overwrite=True)
    drop_and_score(settings, "shifted.csv", OTHER_HOSPITALS, slice(0, 300))
    state = run_monitor()
    assert state.is_failed()
    with pytest.raises(RuntimeError, match=f"Alert email not sent through email block '{BLOCK}'"):
        state.result()
    runs, metrics = monitoring_rows(settings)
    assert not runs[0]["alert_sent"] and "Connection" in runs[0]["alert_error"]
    assert metrics and len(training_runs(train_deployment)) == 1


def test_retraining_learns_from_the_labelled_rows_scoring_accepted(
    champion, settings, prefect_server
):  # pylint: disable=unused-argument
    drop_and_score(settings, "labelled.csv", OTHER_HOSPITALS, slice(0, 300))
    outcome = train(max_evals=1, families=["logistic_regression"], cv_folds=3, cv_repeats=1)
    run = mlflow.MlflowClient().get_run(outcome.run_id)
    predictions = next(settings.output_dir.glob("predictions_labelled_*.parquet")).name
    assert f"{predictions}=" in run.data.tags["data_sources"]
    assert int(run.data.params["training_rows"]) > 302
    assert run.data.tags["promotion.reason"] == outcome.reason
