"""Monitoring: judge the rows scored since the last window, store the metrics, alert and retrain."""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from mlflow import MlflowClient
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.utilities.asyncutils import run_coro_as_sync
from prefect_email import EmailServerCredentials, email_send_message

from heart_batch.alerts import alert_body, alert_subject, retraining_allowed
from heart_batch.ledger import Ledger
from heart_batch.monitor_store import MonitorStore
from heart_batch.monitoring import Assessment, Thresholds, Window, assess, read_window, save_report
from heart_batch.registry import (
    ChampionReference,
    NoChampionError,
    NoReferenceError,
    load_champion_reference,
)
from heart_batch.settings import Settings
from heart_batch.tracking import connect
from heart_batch.workspace import add_snapshot


@dataclass
class MonitoringOutcome:
    """What a monitoring run found and did."""

    status: str
    window_rows: int
    violations: list[str] = field(default_factory=list)
    report_path: str = ""
    alert_sent: bool = False
    training_flow_run_id: str | None = None
    problems: list[str] = field(default_factory=list)


def _retry_unless_missing(_task, _task_run, state) -> bool:
    try:
        state.result()
    except (NoChampionError, NoReferenceError):
        return False
    except Exception:  # pylint: disable=broad-exception-caught
        return True
    return True


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=_retry_unless_missing)
def load_reference(settings: Settings) -> ChampionReference:
    """The champion's version and its reference data."""
    connect(settings)
    return load_champion_reference(MlflowClient(), settings.model_name)


@task(cache_policy=NO_CACHE)
def next_window(store: MonitorStore, ledger: Ledger) -> Window:
    """Files scored since the last judged window."""
    return store.next_window(ledger)


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def read_rows(window: Window):
    """The window's scored rows."""
    return read_window(window)


@task(cache_policy=NO_CACHE)
def assess_window(champion: ChampionReference, rows, window: Window, thresholds: Thresholds):
    """Drift, data quality and model quality of the window."""
    return assess(champion.reference, rows, window, thresholds)


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_report(assessment: Assessment, window: Window, settings: Settings) -> str:
    """HTML report in the reports folder and the snapshot in the Evidently workspace."""
    path = save_report(assessment.snapshot, settings.reports_dir, window)
    add_snapshot(assessment.snapshot, settings.evidently_workspace)
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
    min_window_rows: int | None = None,
    email_block: str | None = None,
    alert_to: str | None = None,
    train_deployment: str | None = None,
) -> MonitoringOutcome:
    """Compare the rows scored since the last window with the champion's reference data.

    Every parameter defaults to its HEART_* setting (see README, "Settings"). ``alert_to`` is a
    comma-separated list of recipients; ``train_deployment`` is run on violation ("" disables it).
    """
    overrides = {name: value for name, value in locals().items() if value is not None}
    settings = Settings().model_copy(update=overrides)
    logger = get_run_logger()
    champion = load_reference(settings)
    model = (champion.name, champion.version)
    store, ledger = MonitorStore(settings.database_url), Ledger(settings.database_url)
    window = next_window(store, ledger)
    if window.rows_scored < settings.min_window_rows:
        store.record_run(window, model, str(flow_run.id))
        logger.info(
            "Insufficient data: %d rows scored since the last window (minimum %d); carried over",
            window.rows_scored,
            settings.min_window_rows,
        )
        outcome = MonitoringOutcome("insufficient_data", window.rows_scored)
        _publish(outcome, None, model, settings)
        return outcome

    assessment = assess_window(champion, read_rows(window), window, _thresholds(settings))
    report_path = publish_report(assessment, window, settings)
    run_id = store.record_run(window, model, str(flow_run.id), assessment, report_path)
    outcome = MonitoringOutcome(
        "evaluated",
        window.rows_scored,
        violations=[check.metric for check in assessment.violations],
        report_path=report_path,
    )
    logger.info(
        "Window of %d rows: violations %s", window.rows_scored, outcome.violations or "none"
    )
    if assessment.violations:
        _alert(settings, store, run_id, outcome, (assessment, window, model))
        _retrain(settings, store, run_id, outcome)
    _publish(outcome, assessment, model, settings)
    if outcome.problems:
        raise RuntimeError("; ".join(outcome.problems))
    return outcome


def _thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        max_drift_share=settings.max_drift_share,
        max_risk_drift=settings.max_risk_drift,
        max_missing_share=settings.max_missing_share,
        max_rejected_share=settings.max_rejected_share,
        min_roc_auc=settings.min_roc_auc,
        max_brier=settings.max_brier,
        min_labelled_rows=settings.min_labelled_rows,
    )


def _alert(settings, store: MonitorStore, run_id: int, outcome: MonitoringOutcome, found) -> None:
    """Email the violation once per window; a failure is recorded, reported, and not fatal yet."""
    assessment, window, model = found
    logger = get_run_logger()
    recipients = [address.strip() for address in settings.alert_to.split(",") if address.strip()]
    if not recipients:
        logger.warning("Violation, but no alert recipients (HEART_ALERT_TO): no email sent")
        store.record_alert(run_id, False, "no recipients configured")
        return
    if store.alert_sent_for(window.key):
        logger.info("An alert for this window was sent before: not repeated")
        store.record_alert(run_id, False, "already sent for this window")
        return
    server = f"email block '{settings.email_block}'"
    try:
        credentials = EmailServerCredentials.load(settings.email_block)
        server += f" ({credentials.smtp_server}:{credentials.smtp_port})"
        # email_send_message is an async task: called from this sync flow it only returns a
        # coroutine, so run it to completion here (it still shows as a task run).
        run_coro_as_sync(
            email_send_message(
                email_server_credentials=credentials,
                subject=alert_subject(assessment, model),
                msg=alert_body(assessment, model, window, outcome.report_path),
                email_to=recipients,
                email_from=settings.alert_from,
            )
        )
    except Exception as error:  # pylint: disable=broad-exception-caught
        problem = f"Alert email not sent through {server}: {type(error).__name__}: {error}"
        logger.error(problem)
        store.record_alert(run_id, False, problem)
        outcome.problems.append(problem)
        return
    store.record_alert(run_id, True)
    outcome.alert_sent = True


def _retrain(settings: Settings, store: MonitorStore, run_id: int, outcome: MonitoringOutcome):
    """Run the training deployment unless disabled or inside the cooldown."""
    logger = get_run_logger()
    if not settings.train_deployment:
        store.record_trigger(run_id, None, "retraining disabled (HEART_TRAIN_DEPLOYMENT empty)")
        return
    last = store.last_training_trigger()
    if not retraining_allowed(last, datetime.now(timezone.utc), settings.retrain_cooldown_hours):
        note = f"cooldown: retraining was triggered at {last.isoformat()}"
        logger.info("No retraining: %s", note)
        store.record_trigger(run_id, None, note)
        return
    try:
        training = run_deployment(name=settings.train_deployment, timeout=0)
    except Exception as error:  # pylint: disable=broad-exception-caught
        problem = f"Retraining not triggered ({settings.train_deployment}): {error}"
        logger.error(problem)
        store.record_trigger(run_id, None, problem)
        outcome.problems.append(problem)
        return
    logger.info("Triggered %s: flow run %s", settings.train_deployment, training.id)
    store.record_trigger(run_id, str(training.id), "triggered")
    outcome.training_flow_run_id = str(training.id)


def _publish(outcome: MonitoringOutcome, assessment, model, settings: Settings) -> None:
    lines = [
        f"# Monitoring of `{model[0]}` v{model[1]}",
        "",
        f"Status: **{outcome.status}**, {outcome.window_rows} rows in the window "
        f"(minimum {settings.min_window_rows}).",
    ]
    if assessment is not None:
        lines += ["", "| metric | value | threshold | status |", "|---|---|---|---|"]
        lines += [
            f"| {c.metric} | {c.value:.4f} | {'<=' if c.kind == 'max' else '>='} {c.threshold:g} "
            f"| {'**VIOLATED**' if c.violated else 'ok'} |"
            for c in assessment.checks
        ]
        lines += [
            "",
            "Feature drift (distance, threshold 0.1): "
            + ", ".join(f"{name} {score:.3f}" for name, score in assessment.feature_drift.items()),
        ]
        lines += [
            "",
            f"Report: `{outcome.report_path}`. Alert sent: {outcome.alert_sent}. "
            f"Training run triggered: {outcome.training_flow_run_id or 'no'}.",
        ]
    lines += [f"\n**Problem:** {problem}" for problem in outcome.problems]
    create_markdown_artifact(key="monitoring-run", markdown="\n".join(lines))


if __name__ == "__main__":
    monitor()
