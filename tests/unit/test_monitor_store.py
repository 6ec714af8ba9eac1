"""Monitoring history: alert de-duplication and the retraining cooldown's memory."""

from datetime import datetime, timezone

from heart_batch.monitor_store import MonitorStore
from heart_batch.monitoring import Assessment, Check, Window

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
WINDOW = Window(start=None, end=T0, files=[{"rows_scored": 300, "rows_rejected": 3}])
ASSESSMENT = Assessment(
    checks=[Check("drift_share", 0.5, 0.3, "max")],
    feature_drift={"age": 0.2},
    rows_labelled=0,
    snapshot=None,
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
