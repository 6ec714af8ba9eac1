"""Alert messages carry aggregates only; retraining respects its cooldown."""

from datetime import datetime, timedelta, timezone

import pytest

from heart_batch.alerts import alert_body, alert_subject, retraining_allowed
from heart_batch.monitoring import Assessment, Check, Window

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
ASSESSMENT = Assessment(
    checks=[
        Check("drift_share", 0.7692, 0.3, "max"),
        Check("risk_drift", 0.05, 0.1, "max"),
        Check("roc_auc", 0.61, 0.75, "min"),
    ],
    feature_drift={"thalachh": 0.81, "age": 0.16, "fbs": 0.004},
    rows_labelled=556,
    snapshot=None,
)
WINDOW = Window(
    start=NOW - timedelta(hours=1),
    end=NOW,
    files=[{"rows_scored": 556, "rows_rejected": 60, "source_name": "ward7.csv"}],
)


def test_the_subject_names_every_violation_with_its_figures():
    subject = alert_subject(ASSESSMENT, ("heart", "3"))
    assert subject == (
        "[heart-batch] heart v3: share of drifted features 0.769 > 0.3; "
        "ROC AUC on labelled rows 0.61 < 0.75"
    )


def test_the_body_has_metrics_thresholds_model_window_and_report():
    body = alert_body(ASSESSMENT, ("heart", "3"), WINDOW, "/reports/monitoring_x.html")
    for expected in (
        "heart v3",
        "0.7692",
        "&le; 0.3",
        "&ge; 0.75",
        "VIOLATED",
        "556 rows scored",
        "60 rejected",
        NOW.isoformat(),
        "/reports/monitoring_x.html",
        "thalachh (0.81), age (0.16)",
    ):
        assert expected in body
    assert "fbs" not in body  # not drifted
    assert max(len(line) for line in body.splitlines()) < 998  # SMTP's line limit


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
