"""Monitoring history: alert de-duplication and the retraining cooldown's memory."""

from datetime import datetime, timezone

from sqlalchemy import text

from heart_batch.monitoring.checks import Assessment, Check, Window
from heart_batch.monitoring.history import MonitorStore

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
WINDOW = Window(start=None, end=T0, files=[{"rows_scored": 300, "rows_rejected": 3}])
ASSESSMENT = Assessment(
    checks=[
        Check("drift_share", 0.5, 0.3, "max", no_change_limit=0.4),
        Check("brier", 0.25, 0.2, "max", interval=(0.18, 0.3)),
    ],
    rows_labelled=0,
    calibration_rows=300,
    check_level=0.001,
)


def test_an_alert_is_remembered_for_its_window_only(settings):
    store = MonitorStore(settings.database_url)
    run_id = store.record_run(WINDOW, ("heart", "1"), None, ASSESSMENT, "r.html")
    assert not store.alert_sent_for(WINDOW.key)
    store.record_alert(run_id, sent=True)
    assert store.alert_sent_for(WINDOW.key)
    later = Window(start=T0, end=T0.replace(day=2), files=WINDOW.files)
    assert not store.alert_sent_for(later.key)


def test_a_failed_alert_does_not_count_as_sent(settings):
    store = MonitorStore(settings.database_url)
    run_id = store.record_run(WINDOW, ("heart", "1"), None, ASSESSMENT, "r.html")
    store.record_alert(run_id, sent=False, error="SMTPConnectError")
    assert not store.alert_sent_for(WINDOW.key)


def test_only_a_made_trigger_starts_the_cooldown(settings):
    store = MonitorStore(settings.database_url)
    run_id = store.record_run(WINDOW, ("heart", "1"), None, ASSESSMENT, "r.html")
    store.record_trigger(run_id, None, "cooldown")
    assert store.last_training_trigger() is None
    store.record_trigger(run_id, "flow-run-id", "triggered")
    assert store.last_training_trigger().tzinfo is not None


def test_an_insufficient_window_does_not_move_the_next_window(settings):
    store = MonitorStore(settings.database_url)
    store.record_run(WINDOW, ("heart", "1"), None)
    assert store.last_window_end() is None
    store.record_run(WINDOW, ("heart", "1"), None, ASSESSMENT, "r.html")
    assert store.last_window_end() == T0


def test_each_check_is_stored_with_its_floor_limit_interval_and_decision(settings):
    store = MonitorStore(settings.database_url)
    run_id = store.record_run(WINDOW, ("heart", "1"), None, ASSESSMENT, "r.html")
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("select * from monitoring_metrics where run_id = :id order by metric"),
            {"id": run_id},
        ).mappings()
        brier, share = [dict(row) for row in rows]
    assert share | {"run_id": 0} == {
        "run_id": 0,
        "metric": "drift_share",
        "value": 0.5,
        "threshold": 0.4,
        "kind": "max",
        "violated": True,
        "floor": 0.3,
        "no_change_limit": 0.4,
        "interval_low": None,
        "interval_high": None,
    }
    assert (brier["interval_low"], brier["interval_high"], brier["violated"]) == (0.18, 0.3, False)


def test_a_failed_window_is_recorded_and_the_next_window_starts_after_it(settings):
    store = MonitorStore(settings.database_url)
    store.record_failure(WINDOW, ("heart", "1"), None, "ValueError: broken")
    assert store.last_window_end() == T0
    with store.engine.connect() as connection:
        status, error = connection.execute(text("select status, error from monitoring_runs")).one()
    assert (status, error) == ("failed", "ValueError: broken")
