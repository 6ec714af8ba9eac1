"""Monitoring: judge the rows scored since the last window, store the metrics, alert and retrain."""

import contextlib
import contextvars
import socket
import threading
from email.message import EmailMessage
from datetime import datetime, timezone

import pandas as pd
from evidently.core.report import Snapshot
from mlflow import MlflowClient
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from prefect.settings import get_current_settings
from prefect.states import Completed, State
from prefect_email import EmailServerCredentials

from flows.command import run_from_shell
from flows.retries import unless_nothing_to_load
from heart_batch.contract.columns import ModelId
from heart_batch.model.bands import RiskBands
from heart_batch.monitoring.alerts import (
    alert_body,
    alert_email,
    alert_subject,
    failure_body,
    failure_subject,
    retraining_allowed,
)
from heart_batch.monitoring.checks import Assessment, Window, assess, read_window, window_sources
from heart_batch.monitoring.history import EVALUATED, FAILED, INSUFFICIENT, MonitorStore
from heart_batch.monitoring.no_change import CalibrationCache
from heart_batch.monitoring.report import drift_report, save_report
from heart_batch.monitoring.summary import MonitoringOutcome
from heart_batch.monitoring.workspace import add_snapshot
from heart_batch.registry.champion import ChampionReference, load_champion_reference
from heart_batch.registry.tracking import connect
from heart_batch.settings import Settings
from heart_batch.storage.ledger import Ledger

NO_SERVER = (
    "Retraining not triggered: this run has no Prefect server (PREFECT_API_URL is not set), so "
    "no worker can run the train deployment. Retrain now with `make train`, or start the whole "
    "system with `make up` and export PREFECT_API_URL as it prints."
)


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=unless_nothing_to_load)
def load_reference(settings: Settings) -> ChampionReference:
    """The champion's version and its reference data."""
    connect(settings)
    return load_champion_reference(MlflowClient(), settings.model_name)


@task(cache_policy=NO_CACHE)
def next_window(store: MonitorStore, ledger: Ledger) -> Window:
    """Files scored since the last judged window."""
    return store.next_window(ledger)


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def read_rows(window: Window, bands: RiskBands | None) -> pd.DataFrame:
    """The window's scored rows, with their band codes."""
    return read_window(window, bands)


@task(cache_policy=NO_CACHE)
def assess_window(
    champion: ChampionReference, rows: pd.DataFrame, window: Window, settings: Settings
) -> Assessment:
    """Drift, data quality and model quality of the window, against calibrated limits."""
    no_change = CalibrationCache(settings.calibration_cache).source(
        ModelId(champion.name, champion.version),
        champion.reference,
        settings.monitor_replicates,
        settings.seed,
    )
    return assess(champion.reference, rows, window, settings, no_change)


@task(cache_policy=NO_CACHE)
def build_report(
    champion: ChampionReference, rows: pd.DataFrame, assessment: Assessment, window: Window
) -> Snapshot | None:
    """Evidently's drift report of the window, with the monitor's thresholds."""
    model = ModelId(champion.name, champion.version)
    return drift_report(champion.reference, rows, assessment, (window, model))


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_report(
    snapshot: Snapshot, assessment: Assessment, found: tuple[Window, ModelId], settings: Settings
) -> str:
    """HTML report in the reports folder and the snapshot in the Evidently workspace."""
    path = save_report(snapshot, assessment, settings.reports_dir, found)
    add_snapshot(snapshot, settings.evidently_workspace)
    return str(path)


# Every limit and target is a parameter of the deployment (default: its setting), hence the long
# signature; the parameters are read through locals().
@flow(name="monitor-heart-risk")
def monitor(  # pylint: disable=too-many-arguments,too-many-positional-arguments,too-many-locals,W0613
    max_drift_share: float | None = None,
    max_risk_drift: float | None = None,
    max_missing_share: float | None = None,
    max_rejected_share: float | None = None,
    min_roc_auc: float | None = None,
    max_brier: float | None = None,
    false_alarm_rate: float | None = None,
    min_window_rows: int | None = None,
    email_block: str | None = None,
    alert_to: str | None = None,
    train_deployment: str | None = None,
) -> State:
    """Compare the rows scored since the last window with the champion's reference data.

    Every parameter defaults to its HEART_* setting (docs/settings.md), and is validated like it:
    a value outside the setting's range fails the run before it reads anything. ``alert_to`` is a
    comma-separated list of recipients; ``train_deployment`` is run on violation ("" disables it).
    The run ends with its outcome in one line as its state message; called as a function, it
    returns the ``MonitoringOutcome``.
    """
    settings = Settings().with_overrides(**locals())
    champion = load_reference(settings)
    model = ModelId(champion.name, champion.version)
    store, ledger = MonitorStore(settings.database_url), Ledger(settings.database_url)
    delayed = _send_pending(settings, store)
    window = next_window(store, ledger)
    if window.rows_total < settings.min_window_rows:
        store.record_run(window, model, str(flow_run.id))
        outcome = MonitoringOutcome(INSUFFICIENT, window.rows_total, delayed_alerts_sent=delayed)
        return _finish(outcome, None, model, settings)

    try:
        rows = read_rows(window, champion.bands)
        assessment = assess_window(champion, rows, window, settings)
        snapshot = build_report(champion, rows, assessment, window)
        report_path = (
            publish_report(snapshot, assessment, (window, model), settings) if snapshot else ""
        )
    except Exception as error:  # pylint: disable=broad-exception-caught
        return _window_failed(settings, store, (window, model), error)
    run_id = store.record_run(window, model, str(flow_run.id), assessment, report_path)
    outcome = MonitoringOutcome(
        EVALUATED,
        window.rows_scored,
        violations=[check.metric for check in assessment.violations],
        described_violations=assessment.describe_violations() if assessment.violations else "",
        report_path=report_path,
        delayed_alerts_sent=delayed,
    )
    if assessment.violations:
        _alert(settings, store, run_id, outcome, (assessment, window, model))
        _retrain(settings, store, run_id, outcome, (assessment, window))
    return _finish(outcome, assessment, model, settings)


def _finish(outcome: MonitoringOutcome, assessment, model: ModelId, settings: Settings) -> State:
    """Publish the artifact, log the one-line summary and end the run with it as its message;
    raise when something could not be done (the run fails with the same line)."""
    line = outcome.one_line(settings.min_window_rows)
    create_markdown_artifact(
        key="monitoring-run",
        markdown=outcome.markdown(assessment, model, settings.min_window_rows),
        description=outcome.description(model),
    )
    get_run_logger().info("%s", line)
    if outcome.problems:
        raise RuntimeError(line)
    return Completed(message=line, data=outcome)


def _window_failed(settings: Settings, store: MonitorStore, found, error: Exception) -> State:
    """Record and report a window that could not be judged, then fail the run.

    The window counts as done: the next run judges the files scored after it.
    """
    window, model = found
    problem = f"Window not judged: {type(error).__name__}: {error}"[:2000]
    get_run_logger().error(problem)
    run_id = store.record_failure(window, model, str(flow_run.id), problem)
    outcome = MonitoringOutcome(FAILED, window.rows_total, problems=[problem])
    _send(
        settings,
        store,
        (run_id, window.key),
        (failure_subject(model), failure_body(model, window, problem)),
        outcome,
    )
    outcome.problems.append("recorded as failed; the next run judges the files after it")
    return _finish(outcome, None, model, settings)


def _alert(settings, store: MonitorStore, run_id: int, outcome: MonitoringOutcome, found) -> None:
    """Email the violation once per window."""
    assessment, window, model = found
    message = (
        alert_subject(assessment, model),
        alert_body(assessment, model, window, outcome.report_path),
    )
    _send(settings, store, (run_id, window.key), message, outcome)


def _send(settings, store: MonitorStore, run, message: tuple[str, str], outcome) -> None:
    """Email once per window; a failure is recorded (the next run sends it again), reported, and
    fails the run at its end."""
    run_id, window_key = run
    logger = get_run_logger()
    recipients = _recipients(settings)
    if not recipients:
        logger.warning("No alert recipients (HEART_ALERT_TO): no email sent")
        store.record_alert(run_id, False, "no recipients configured")
        return
    if store.alert_sent_for(window_key):
        logger.info("An email for this window was sent before: not repeated")
        store.record_alert(run_id, False, "already sent for this window")
        return
    store.keep_alert(run_id, message)
    problem = _deliver(settings, message, recipients)
    store.record_attempt(run_id, message, sent=not problem, error=problem or None)
    if problem:
        logger.error("%s; the next monitor run sends it again", problem)
        outcome.problems.append(problem)
    else:
        outcome.alert_sent = True


def _send_pending(settings: Settings, store: MonitorStore) -> int:
    """Send the alerts earlier runs could not; stop at the first that still fails (the server
    is still down). Returns how many went out."""
    recipients = _recipients(settings)
    sent = 0
    for alert in store.pending_alerts() if recipients else []:
        subject, body = alert.message
        delayed = (
            f"<p>Delayed: this alert could not be sent at {alert.first_tried:%Y-%m-%d %H:%M} UTC "
            f"({alert.attempts} attempt(s)); a later monitoring run sends it now.</p>\n{body}"
        )
        problem = _deliver(settings, (subject, delayed), recipients)
        store.record_attempt(alert.run_id, alert.message, sent=not problem, error=problem or None)
        if problem:
            get_run_logger().warning("A delayed alert is still not sent: %s", problem)
            break
        get_run_logger().info("Sent a delayed alert of window %s", alert.window_key)
        sent += 1
    return sent


def _recipients(settings: Settings) -> list[str]:
    return [address.strip() for address in settings.alert_to.split(",") if address.strip()]


def _deliver(settings: Settings, message: tuple[str, str], recipients: list[str]) -> str:
    """Send one email through the block; return "" or what went wrong."""
    server = f"email block '{settings.email_block}'"
    try:
        credentials = EmailServerCredentials.load(settings.email_block)
        server += f" ({credentials.smtp_server}:{credentials.smtp_port})"
        email = alert_email(message, settings.alert_from, recipients)
        with smtp_deadline(settings.smtp_timeout_seconds):
            _in_background(lambda: send_email(credentials, email))
    except Exception as error:  # pylint: disable=broad-exception-caught
        return f"Alert email not sent through {server}: {type(error).__name__}: {error}"
    return ""


@task(name="email_send_message", retries=0, cache_policy=NO_CACHE)
def send_email(credentials: EmailServerCredentials, email: EmailMessage) -> None:
    """Send one message through the block's server (a task run in the UI, as prefect-email's
    ``email_send_message`` is; our own message carries no empty Cc and a plain-text part)."""
    with credentials.get_server() as server:
        server.send_message(email)


def _in_background(work) -> None:
    """Run ``work`` in a thread and wait for it; a SIGTERM meanwhile ends the flow run at once
    (the wait is interruptible, a socket blocked in the SMTP exchange is not)."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # pylint: disable=broad-exception-caught
            outcome.append(error)

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    worker.start()
    worker.join()
    if outcome:
        raise outcome[0]


@contextlib.contextmanager
def smtp_deadline(seconds: float):
    """Sockets opened meanwhile (prefect-email's SMTP connection) give up after ``seconds`` of
    silence: a server that accepts and never answers costs a timeout, not the run."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _retrain(settings: Settings, store: MonitorStore, run_id: int, outcome, found) -> None:
    """Run the training deployment unless disabled or inside the cooldown.

    The run is told what was found: the window and its violations, and the window's files as the
    sources the promotion gate should look at.
    """
    assessment, window = found
    logger = get_run_logger()
    if not settings.train_deployment:
        store.record_trigger(run_id, None, "retraining disabled (HEART_TRAIN_DEPLOYMENT empty)")
        outcome.retraining = "retraining disabled (HEART_TRAIN_DEPLOYMENT empty)"
        return
    if not get_current_settings().api.url:
        logger.warning("%s", NO_SERVER)
        store.record_trigger(run_id, None, NO_SERVER)
        outcome.notes.append(NO_SERVER)
        outcome.retraining = "retraining not triggered: no Prefect server (`make train` retrains)"
        return
    last = store.last_training_trigger()
    if last is not None and not retraining_allowed(
        last, datetime.now(timezone.utc), settings.retrain_cooldown_hours
    ):
        note = f"cooldown: retraining was triggered at {last.isoformat()}"
        logger.info("No retraining: %s", note)
        store.record_trigger(run_id, None, note)
        outcome.retraining = f"no retraining ({note})"
        return
    try:
        training: FlowRun = run_deployment(  # type: ignore[assignment]  # sync here
            name=settings.train_deployment,
            parameters={
                "trigger": f"monitoring window {window.key}: "
                + ", ".join(check.metric for check in assessment.violations),
                "flagged_sources": window_sources(window),
            },
            timeout=0,
        )
    except ObjectNotFound:
        problem = _missing_deployment(settings.train_deployment)
    except Exception as error:  # pylint: disable=broad-exception-caught
        problem = f"Retraining not triggered ({settings.train_deployment}): {error!r}"
    else:
        logger.info("Triggered %s: flow run %s", settings.train_deployment, training.id)
        store.record_trigger(run_id, str(training.id), "triggered")
        outcome.training_flow_run_id = str(training.id)
        outcome.retraining = (
            f"retraining triggered: {settings.train_deployment} run {training.name}"
        )
        return
    logger.error(problem)
    store.record_trigger(run_id, None, problem)
    outcome.retraining = "retraining not triggered"
    outcome.problems.append(problem)


def _missing_deployment(name: str) -> str:
    return (
        f"Retraining not triggered: the deployment '{name}' does not exist on "
        f"{get_current_settings().api.url}. "
        "Start the whole system with `make up` (it creates the deployments), or deploy with "
        "`prefect --no-prompt deploy --all` against that server; to judge windows without "
        "retraining, set HEART_TRAIN_DEPLOYMENT=''."
    )


if __name__ == "__main__":
    run_from_shell(monitor)
