"""The monitor flow with a real SMTP server (aiosmtpd), the Prefect test server and a deployment."""

# Flows called with return_state=True return a State, which pylint cannot infer.
# pylint: disable=no-member


import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
)
from prefect_email import EmailServerCredentials
from sqlalchemy import create_engine, text

import flows.monitor
from flows.monitor import monitor
from flows.score import score
from flows.train import train
from heart_batch.settings import QUIET_TOOLS, InvalidSettingError
from tests.conftest import REPO_ROOT, SEED_DATA, Mailbox
from tests.ports import free_port

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


def drop_and_score(settings, name: str, source, rows) -> None:
    """Score the given rows of a CSV (a slice, or a frame of rows already chosen)."""
    settings.input_dir.mkdir(exist_ok=True)
    frame = rows if isinstance(rows, pd.DataFrame) else read(source).iloc[rows]
    frame.to_csv(settings.input_dir / name, index=False)
    assert [o.status for o in score(settle_seconds=0).files] == ["scored"]


def read(source) -> pd.DataFrame:
    return pd.read_csv(source, dtype=str, keep_default_na=False)


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
    assert "feature_drift.thalachh" in outcome.violations

    (message,) = mailbox.messages
    assert message["Subject"].startswith("[heart-batch] heart-disease-risk v1: ")
    assert "drift of thalachh" in message["Subject"]
    assert message["To"] == "cardiology-ops@hospital.test" and "Cc" not in message
    body = message.get_body(("html", "plain")).get_content()
    assert "VIOLATED" in body and outcome.report_path in body
    assert "VIOLATED | feature_drift.thalachh" in message.get_body(("plain",)).get_content()
    assert state.message == outcome.one_line(200)
    assert "alert emailed; retraining triggered: " in state.message
    assert state.message.endswith(f"report: {outcome.report_path}")
    (training,) = training_runs(train_deployment)
    assert str(training.id) == outcome.training_flow_run_id
    # The training run is told what monitoring found: the window, its violations, its files.
    assert training.parameters["trigger"].startswith("monitoring window ")
    assert "feature_drift.thalachh" in training.parameters["trigger"]
    (predictions,) = settings.output_dir.glob("predictions_hungary_va_*.parquet")
    assert training.parameters["flagged_sources"] == [predictions.name]

    runs, metrics = monitoring_rows(settings)
    assert runs[0]["alert_sent"] and runs[0]["training_flow_run_id"] == str(training.id)
    assert {m["metric"] for m in metrics} >= {"drift_share", "risk_drift", "feature_drift.age"}
    assert all(m["floor"] is not None for m in metrics)

    drop_and_score(settings, "switzerland_va.csv", OTHER_HOSPITALS, slice(300, 616))
    second = run_monitor().result()
    assert second.violations and second.training_flow_run_id is None
    assert len(mailbox.messages) == 2
    assert len(training_runs(train_deployment)) == 1
    runs, _ = monitoring_rows(settings)
    assert runs[1]["training_note"].startswith("cooldown")


def test_a_window_resampled_from_the_reference_sends_no_email(
    champion, settings, mailbox, train_deployment
):  # pylint: disable=unused-argument
    resampled = read(SEED_DATA).sample(200, replace=True, random_state=11)
    drop_and_score(settings, "cleveland.csv", SEED_DATA, resampled)
    outcome = run_monitor().result()
    assert outcome.status == "evaluated" and outcome.violations == []
    assert mailbox.messages == [] and training_runs(train_deployment) == []
    runs, _ = monitoring_rows(settings)
    assert runs[0]["calibration_rows"] == 200


def test_a_hospital_without_cholesterol_is_judged_and_its_email_names_chol(
    champion, settings, mailbox, train_deployment
):  # pylint: disable=unused-argument
    hospitals = read(OTHER_HOSPITALS)
    switzerland = hospitals[hospitals["hospital"] == "Switzerland"].drop(columns="hospital")
    drop_and_score(settings, "switzerland.csv", OTHER_HOSPITALS, switzerland)
    outcome = run_monitor(min_window_rows=100).result()
    assert outcome.status == "evaluated" and "missing.chol" in outcome.violations
    (message,) = mailbox.messages
    assert "chol: 100 % missing in the window, 0 % in the reference" in message["Subject"]
    _, metrics = monitoring_rows(settings)
    assert {"missing.chol", "risk_drift", "missing_share"} <= {m["metric"] for m in metrics}
    assert Path(outcome.report_path).exists()


def test_a_window_that_cannot_be_judged_is_recorded_and_the_next_run_moves_on(
    champion, settings, mailbox, train_deployment, monkeypatch
):  # pylint: disable=unused-argument
    real_assess = flows.monitor.assess
    calls = []

    def assess_failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("an unforeseen problem with this window")
        return real_assess(*args, **kwargs)

    monkeypatch.setattr(flows.monitor, "assess", assess_failing_once)
    drop_and_score(settings, "first.csv", OTHER_HOSPITALS, slice(0, 300))
    state = run_monitor()
    assert state.is_failed()
    with pytest.raises(RuntimeError, match="next run judges the files after it"):
        state.result()
    (failure_email,) = mailbox.messages
    assert "could not judge a window" in failure_email["Subject"]

    drop_and_score(settings, "second.csv", OTHER_HOSPITALS, slice(300, 616))
    outcome = run_monitor().result()
    assert outcome.status == "evaluated" and outcome.violations
    runs, _ = monitoring_rows(settings)
    assert [run["status"] for run in runs] == ["failed", "evaluated"]
    assert "unforeseen problem" in runs[0]["error"]
    assert runs[1]["files"] == 1  # only the file scored after the failed window


def test_a_small_window_is_carried_over_not_judged(
    champion, settings, mailbox, train_deployment
):  # pylint: disable=unused-argument
    drop_and_score(settings, "few.csv", OTHER_HOSPITALS, slice(0, 50))
    assert run_monitor().result().status == "insufficient_data"
    drop_and_score(settings, "more.csv", OTHER_HOSPITALS, slice(50, 300))
    outcome = run_monitor().result()
    assert (outcome.status, outcome.window_rows) == ("evaluated", 50 + 250 - _rejected(settings))
    assert len(mailbox.messages) == 1


def test_a_missing_train_deployment_says_what_to_start(
    champion, settings, mailbox
):  # pylint: disable=unused-argument
    drop_and_score(settings, "shifted.csv", OTHER_HOSPITALS, slice(0, 300))
    state = run_monitor(train_deployment="train-heart-risk/nowhere")
    assert state.is_failed()
    with pytest.raises(RuntimeError) as failure:
        state.result()
    message = str(failure.value)
    assert "deployment 'train-heart-risk/nowhere' does not exist on" in message
    assert "make up" in message and "HEART_TRAIN_DEPLOYMENT=''" in message
    assert len(mailbox.messages) == 1  # the alert itself still went out


def test_without_a_prefect_server_it_judges_says_how_to_retrain_and_stays_quiet(
    champion, settings, tmp_path
):  # pylint: disable=unused-argument
    drop_and_score(settings, "shifted.csv", OTHER_HOSPITALS, slice(0, 300))
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_") and name not in QUIET_TOOLS
    }
    finished = subprocess.run(
        [sys.executable, "-m", "flows.monitor"],
        cwd=REPO_ROOT,
        env=environment
        | {
            "PREFECT_HOME": str(tmp_path / "prefect"),
            # As `make monitor` exports it: a loaded machine needs more than Prefect's 20 s.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-3000:]
    assert "Retraining not triggered: this run has no Prefect server" in output
    assert "`make train`" in output
    for noise in ("telemetry", "Downloading artifacts", "ERROR", "Traceback"):
        assert noise not in output
    runs, _ = monitoring_rows(settings)
    assert runs[-1]["violated"] and "make train" in runs[-1]["training_note"]


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


class SilentSmtpServer:
    """Accepts connections and never says a word: an SMTP server that hangs."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()
        self.connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            self.accepted.set()

    def close(self):
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent_smtp(prefect_server):  # pylint: disable=unused-argument
    server = SilentSmtpServer()
    EmailServerCredentials(
        smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=server.port
    ).save(BLOCK, overwrite=True)
    yield server
    server.close()


def test_an_smtp_server_that_never_answers_costs_a_timeout_and_the_next_run_sends_the_alert(
    champion, settings, silent_smtp, monkeypatch
):  # pylint: disable=unused-argument
    monkeypatch.setenv("HEART_SMTP_TIMEOUT_SECONDS", "2")
    drop_and_score(settings, "shifted.csv", OTHER_HOSPITALS, slice(0, 300))
    started = time.monotonic()
    state = run_monitor(train_deployment="")
    assert state.is_failed() and time.monotonic() - started < 60
    with pytest.raises(RuntimeError, match="timed out"):
        state.result()
    runs, _ = monitoring_rows(settings)
    assert not runs[0]["alert_sent"] and runs[0]["alert_attempts"] == 1
    subject = runs[0]["alert_subject"]
    assert subject.startswith("[heart-batch] heart-disease-risk v1: ")

    box = Mailbox()  # the mail server is back
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        EmailServerCredentials(
            smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=controller.port
        ).save(BLOCK, overwrite=True)
        later = run_monitor(train_deployment="")  # nothing new scored: nothing judged
        assert later.is_completed() and later.result().delayed_alerts_sent == 1
    finally:
        controller.stop()
    assert len(box.messages) == 1
    message = box.messages[0]
    assert message["Subject"] == subject
    assert "Delayed: this alert could not be sent at" in message.get_body(("html",)).get_content()
    runs, _ = monitoring_rows(settings)
    assert runs[0]["alert_sent"] and runs[0]["alert_attempts"] == 2
    assert run_monitor(train_deployment="").result().delayed_alerts_sent == 0


def test_a_sigterm_while_the_alert_is_sent_ends_the_run_crashed_and_keeps_the_alert(
    champion, settings, silent_smtp, prefect_server
):  # pylint: disable=unused-argument
    drop_and_score(settings, "shifted.csv", OTHER_HOSPITALS, slice(0, 300))
    since = datetime.now(timezone.utc)
    environment = os.environ | {
        "PREFECT_API_URL": prefect_server,
        "HEART_EMAIL_BLOCK": BLOCK,
        "HEART_ALERT_TO": "cardiology-ops@hospital.test",
        "HEART_TRAIN_DEPLOYMENT": "",
        "HEART_SMTP_TIMEOUT_SECONDS": "600",
    }
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "flows.monitor"], cwd=REPO_ROOT, env=environment
    )
    try:
        assert silent_smtp.accepted.wait(180), "the monitor never connected to the SMTP server"
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        assert time.monotonic() - stopped < 20
    finally:
        process.kill()
    with get_client(sync_client=True) as client:
        monitors = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["monitor-heart-risk"]))
        )
    (run,) = [r for r in monitors if r.created >= since]
    assert run.state.is_crashed()
    assert "termination signal" in run.state.message
    runs, _ = monitoring_rows(settings)
    assert not runs[0]["alert_sent"] and runs[0]["alert_subject"]  # the next run sends it


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


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"false_alarm_rate": 2.0}, "HEART_FALSE_ALARM_RATE=2.0"),
        ({"min_window_rows": -5}, "HEART_MIN_WINDOW_ROWS=-5"),
    ],
)
def test_a_parameter_outside_its_setting_s_range_fails_the_run_before_it_reads_anything(
    settings, prefect_server, override, variable
):  # pylint: disable=unused-argument
    state = run_monitor(**override)
    assert state.is_failed()
    with pytest.raises(InvalidSettingError, match=variable):
        state.result()
