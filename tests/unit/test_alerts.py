"""Alert messages carry aggregates only; retraining respects its cooldown."""

from datetime import datetime, timedelta, timezone

import pytest

from heart_batch.monitoring.alerts import (
    alert_body,
    alert_subject,
    failure_body,
    failure_subject,
    retraining_allowed,
)
from heart_batch.monitoring.checks import Assessment, Check, Window

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
ASSESSMENT = Assessment(
    checks=[
        Check("drift_share", 0.7692, 0.3, "max", no_change_limit=0.154),
        Check("risk_drift", 0.05, 0.1, "max", no_change_limit=0.21),
        Check("roc_auc", 0.61, 0.75, "min", interval=(0.52, 0.70)),
        Check("feature_drift.thalachh", 0.81, 0.1, "max", no_change_limit=0.25),
        Check("feature_drift.fbs", 0.004, 0.1, "max", no_change_limit=0.12),
        Check("missing.chol", 1.0, 0.0, "max"),
    ],
    rows_labelled=556,
    calibration_rows=500,
    check_level=0.0007,
)
WINDOW = Window(
    start=NOW - timedelta(hours=1),
    end=NOW,
    files=[{"rows_scored": 556, "rows_rejected": 60, "source_name": "ward7.csv"}],
)


def test_the_subject_names_every_violation_with_its_value_and_limit():
    subject = alert_subject(ASSESSMENT, ("heart", "3"))
    assert subject == (
        "[heart-batch] heart v3: share of drifted features 0.769 > 0.3; "
        "ROC AUC on labelled rows 0.61 (interval 0.52 to 0.7) beyond 0.75; "
        "drift of thalachh 0.81 > 0.25; chol: 100 % missing in the window, 0 % in the reference"
    )


def test_the_body_shows_each_check_decision_first_with_its_value_and_limit():
    body = alert_body(ASSESSMENT, ("heart", "3"), WINDOW, "/reports/monitoring_x.html")
    for expected in (
        "heart v3",
        "<td>VIOLATED</td><td>drift_share</td><td>0.7692</td><td>&lt;= 0.3 (floor)</td>",
        "<td>ok</td><td>feature_drift.fbs</td><td>0.0040</td>"
        "<td>&lt;= 0.12 (no change at this size)</td>",
        "<td>VIOLATED</td><td>roc_auc</td><td>0.6100 [0.5200, 0.7000]</td>"
        "<td>interval &gt;= 0.75",
        "calibrated for a window of 500 rows",
        "556 rows scored",
        "60 rejected",
        f"{NOW:%Y-%m-%d %H:%M} UTC",
        "/reports/monitoring_x.html",
    ):
        assert expected in body
    assert max(len(line) for line in body.splitlines()) < 998  # SMTP's line limit


def test_a_window_that_could_not_be_judged_is_reported_with_its_error():
    subject = failure_subject(("heart", "3"))
    body = failure_body(("heart", "3"), WINDOW, "Window not judged: ValueError: <bad>")
    assert "could not judge" in subject
    assert "ValueError: &lt;bad&gt;" in body and "next run" in body


def test_the_body_has_no_file_names_or_row_values():
    body = alert_body(ASSESSMENT, ("heart", "3"), WINDOW, "r.html")
    assert "ward7" not in body


@pytest.mark.parametrize(
    ("last_trigger", "allowed"),
    [
        (None, True),
        (NOW - timedelta(hours=1), False),
        (NOW - timedelta(hours=24), True),
        (NOW - timedelta(hours=30), True),
    ],
)
def test_retraining_waits_for_the_cooldown(last_trigger, allowed):
    assert retraining_allowed(last_trigger, NOW, cooldown_hours=24) is allowed
