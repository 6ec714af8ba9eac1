"""Monitoring history in SQL: one row per monitoring run, one row per metric of a judged window.

"How has drift evolved this month?" is one query (see docs/monitoring.md).
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from sqlalchemy import (
    Boolean,
    Column,
    CursorResult,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from heart_batch.contract.columns import ModelId
from heart_batch.monitoring.checks import Assessment, Window, select_window
from heart_batch.storage.database import open_database
from heart_batch.storage.ledger import Ledger, as_utc

METADATA = MetaData()
WindowStatus = Literal["evaluated", "insufficient_data", "failed"]
"""What became of a window: judged, carried over (too few rows), or ``failed`` (its assessment
raised: recorded with its error, and not judged again)."""
EVALUATED: WindowStatus = "evaluated"
INSUFFICIENT: WindowStatus = "insufficient_data"
FAILED: WindowStatus = "failed"

MONITORING_RUNS = Table(
    "monitoring_runs",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow_run_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(30), nullable=False),
    Column("window_key", String(80)),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
    Column("files", Integer, nullable=False),
    Column("rows_scored", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Column("rows_labelled", Integer),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(50), nullable=False),
    Column("violated", Boolean),
    Column("violations", Text),
    Column("calibration_rows", Integer),
    Column("check_level", Float),
    Column("error", Text),
    Column("report_path", Text),
    Column("alert_sent", Boolean, nullable=False, default=False),
    Column("alert_error", Text),
    Column("training_flow_run_id", String(64)),
    Column("training_triggered_at", DateTime(timezone=True)),
    Column("training_note", Text),
    Column("alert_subject", Text),
    Column("alert_body", Text),
    Column("alert_attempts", Integer),
)

MONITORING_METRICS = Table(
    "monitoring_metrics",
    METADATA,
    Column("run_id", Integer, ForeignKey("monitoring_runs.id"), primary_key=True),
    Column("metric", String(80), primary_key=True),
    Column("value", Float, nullable=False),
    Column("threshold", Float),
    Column("kind", String(3)),
    Column("violated", Boolean),
    Column("floor", Float),
    Column("no_change_limit", Float),
    Column("interval_low", Float),
    Column("interval_high", Float),
)


@dataclass(frozen=True)
class PendingAlert:
    """An alert a monitoring run could not send: sent again by the next run."""

    run_id: int
    window_key: str
    message: tuple[str, str]
    """Subject and HTML body."""
    first_tried: datetime
    attempts: int


class MonitorStore:
    """Monitoring runs and metrics in any SQLAlchemy database."""

    def __init__(self, database_url: str):
        self.engine = open_database(database_url)

    def last_window_end(self) -> datetime | None:
        """End of the last judged (or failed) window: the next window starts after it."""
        query = select(func.max(MONITORING_RUNS.c.window_end)).where(
            MONITORING_RUNS.c.status.in_([EVALUATED, FAILED])
        )
        with self.engine.connect() as connection:
            return as_utc(connection.execute(query).scalar())

    def next_window(self, ledger: Ledger) -> Window:
        """The files scored since the last judged window; an unjudged window carries over."""
        last_end = self.last_window_end()
        return select_window(ledger.scored_files(finished_after=last_end), last_end)

    def record_run(
        self,
        window: Window,
        model: ModelId,
        flow_run_id: str | None,
        assessment: Assessment | None = None,
        report_path: str | None = None,
    ) -> int:
        """Store a monitoring run; without an assessment it is an insufficient-data run."""
        values = self._run_values(
            window, model, flow_run_id, EVALUATED if assessment else INSUFFICIENT
        )
        values["report_path"] = report_path
        if assessment:
            values |= {
                "window_key": window.key,
                "rows_labelled": assessment.rows_labelled,
                "violated": bool(assessment.violations),
                "violations": ", ".join(check.metric for check in assessment.violations),
                "calibration_rows": assessment.calibration_rows,
                "check_level": assessment.check_level,
            }
        with self.engine.begin() as connection:
            run_id = _new_id(connection.execute(insert(MONITORING_RUNS).values(**values)))
            if assessment:
                connection.execute(insert(MONITORING_METRICS), _metric_rows(run_id, assessment))
        return run_id

    def record_failure(
        self, window: Window, model: ModelId, flow_run_id: str | None, error: str
    ) -> int:
        """Store a window whose assessment raised; the next run starts after it."""
        values = self._run_values(window, model, flow_run_id, FAILED)
        values |= {"window_key": window.key, "error": error}
        with self.engine.begin() as connection:
            return _new_id(connection.execute(insert(MONITORING_RUNS).values(**values)))

    @staticmethod
    def _run_values(window: Window, model, flow_run_id, status: WindowStatus) -> dict:
        return {
            "flow_run_id": flow_run_id,
            "created_at": datetime.now(timezone.utc),
            "status": status,
            "window_start": window.start,
            "window_end": window.end,
            "files": len(window.files),
            "rows_scored": window.rows_scored,
            "rows_rejected": window.rows_rejected,
            "model_name": model[0],
            "model_version": model[1],
        }

    def alert_sent_for(self, window_key: str) -> bool:
        """Whether an alert already went out for this window."""
        query = select(func.count()).where(
            MONITORING_RUNS.c.window_key == window_key, MONITORING_RUNS.c.alert_sent.is_(True)
        )
        with self.engine.connect() as connection:
            return bool(connection.execute(query).scalar())

    def record_alert(self, run_id: int, sent: bool, error: str | None = None) -> None:
        """Whether the alert of a run was sent, and why not (nothing to send again)."""
        self._update(run_id, alert_sent=sent, alert_error=error)

    def keep_alert(self, run_id: int, message: tuple[str, str]) -> None:
        """Keep a run's alert before it is sent: if the run dies while sending, the next run
        finds it pending and sends it."""
        self._update(run_id, alert_subject=message[0], alert_body=message[1])

    def record_attempt(
        self, run_id: int, message: tuple[str, str], sent: bool, error: str | None = None
    ) -> None:
        """An attempt to send a run's alert; one not sent is kept (subject and body, aggregates
        only) for the next run to send again (``pending_alerts``)."""
        with self.engine.begin() as connection:
            attempts = connection.execute(
                select(MONITORING_RUNS.c.alert_attempts).where(MONITORING_RUNS.c.id == run_id)
            ).scalar()
            connection.execute(
                update(MONITORING_RUNS)
                .where(MONITORING_RUNS.c.id == run_id)
                .values(
                    alert_sent=sent,
                    alert_error=error,
                    alert_subject=message[0],
                    alert_body=message[1],
                    alert_attempts=(attempts or 0) + 1,
                )
            )

    def pending_alerts(self) -> list[PendingAlert]:
        """Alerts that could not be sent yet, oldest first, except those of a window whose
        alert went out since."""
        query = (
            select(MONITORING_RUNS)
            .where(
                MONITORING_RUNS.c.alert_sent.is_(False),
                MONITORING_RUNS.c.alert_subject.is_not(None),
            )
            .order_by(MONITORING_RUNS.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        pending = []
        for row in rows:
            if row.window_key and self.alert_sent_for(row.window_key):
                continue
            pending.append(
                PendingAlert(
                    row.id,
                    row.window_key or "",
                    (row.alert_subject, row.alert_body),
                    as_utc(row.created_at),
                    row.alert_attempts or 0,
                )
            )
        return pending

    def last_training_trigger(self) -> datetime | None:
        """When monitoring last started a training run."""
        query = select(func.max(MONITORING_RUNS.c.training_triggered_at))
        with self.engine.connect() as connection:
            return as_utc(connection.execute(query).scalar())

    def record_trigger(self, run_id: int, flow_run_id: str | None, note: str) -> None:
        """The training flow run a monitoring run started (or why it did not)."""
        triggered = {"training_triggered_at": datetime.now(timezone.utc)} if flow_run_id else {}
        self._update(run_id, training_flow_run_id=flow_run_id, training_note=note, **triggered)

    def _update(self, run_id: int, **values) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(MONITORING_RUNS).where(MONITORING_RUNS.c.id == run_id).values(**values)
            )


def _metric_rows(run_id: int, assessment: Assessment) -> list[dict]:
    return [
        {
            "run_id": run_id,
            "metric": check.metric,
            "value": check.value,
            "threshold": check.limit,
            "kind": check.kind,
            "violated": check.violated,
            "floor": check.floor,
            "no_change_limit": check.no_change_limit,
            "interval_low": check.interval[0] if check.interval else None,
            "interval_high": check.interval[1] if check.interval else None,
        }
        for check in assessment.checks
    ]


def _new_id(inserted: CursorResult) -> int:
    """The id the database gave the row just inserted."""
    key = inserted.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no id for the new monitoring run")
    return int(key[0])
