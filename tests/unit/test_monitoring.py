"""Monitoring rules: thresholds, windows and their carry-over, drift on real data."""

from datetime import datetime, timedelta, timezone

import pytest

from heart_batch.data import load_training_data
from heart_batch.ledger import Ledger, ScoredCounts, new_claimant
from heart_batch.monitor_store import MonitorStore
from heart_batch.monitoring import Check, Thresholds, Window, assess, evaluate, select_window
from tests.conftest import REPO_ROOT

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
LIMITS = Thresholds(
    max_drift_share=0.3,
    max_risk_drift=0.1,
    max_missing_share=0.1,
    max_rejected_share=0.05,
    min_roc_auc=0.75,
    max_brier=0.2,
)


@pytest.mark.parametrize(
    ("metric", "value", "violated"),
    [
        ("drift_share", 0.31, True),
        ("drift_share", 0.3, False),
        ("risk_drift", 0.2, True),
        ("missing_share", 0.05, False),
        ("rejected_share", 0.06, True),
        ("roc_auc", 0.74, True),
        ("roc_auc", 0.9, False),
        ("brier", 0.25, True),
    ],
)
def test_each_metric_is_judged_against_its_limit(metric, value, violated):
    (check,) = evaluate({metric: value}, LIMITS)
    assert check.violated is violated


def test_quality_is_judged_only_when_it_was_measured():
    checks = evaluate(
        {"drift_share": 0.1, "risk_drift": 0.0, "missing_share": 0.0, "rejected_share": 0.0}, LIMITS
    )
    assert [check.metric for check in checks] == [
        "drift_share",
        "risk_drift",
        "missing_share",
        "rejected_share",
    ]


def test_a_minimum_is_violated_below_it_and_a_maximum_above_it():
    assert Check("roc_auc", 0.7, 0.75, "min").violated
    assert not Check("brier", 0.2, 0.2, "max").violated


def scored(minutes: int, rows: int = 100) -> dict:
    return {
        "finished_at": T0 + timedelta(minutes=minutes),
        "rows_scored": rows,
        "rows_rejected": 1,
        "predictions_path": "unused",
    }


def test_the_window_holds_the_files_scored_after_the_last_judged_one():
    files = [scored(1), scored(2), scored(3)]
    window = select_window(files, last_end=T0 + timedelta(minutes=1))
    assert window.files == files[1:]
    assert (window.start, window.end) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    assert (window.rows_scored, window.rows_rejected) == (200, 2)


def test_an_unjudged_window_is_carried_over_to_the_next_run(settings):
    ledger, store = Ledger(settings.database_url), MonitorStore(settings.database_url)
    model = ("heart", "1")

    def score_a_file(name):
        claimant = new_claimant()
        ledger.claim(name * 64, name, f"{name}.csv", claimant)
        ledger.mark_scored(name * 64, claimant, ScoredCounts(10, 9, 1, 0), model, ("p", None))

    score_a_file("a")
    first = store.next_window(ledger)
    store.record_run(first, model, None)  # insufficient data: not judged
    score_a_file("b")
    second = store.next_window(ledger)
    assert [f["source_name"] for f in second.files] == ["a.csv", "b.csv"]
    assert second.start is None


@pytest.fixture(scope="module")
def reference():
    data = load_training_data(REPO_ROOT / "data" / "heart.csv")
    return data.reference.assign(risk=0.5 + 0.3 * (data.target - 0.5))


def window_of(frame) -> Window:
    return Window(start=None, end=T0, files=[{"rows_scored": len(frame), "rows_rejected": 0}])


def test_a_sample_of_the_reference_does_not_drift(reference):
    current = reference.sample(400, replace=True, random_state=1)
    current = current.assign(imputed_features=[[]] * len(current))
    assessment = assess(reference, current, window_of(current), LIMITS)
    assert assessment.violations == []
    assert set(assessment.feature_drift) == set(reference.columns) - {"output", "risk"}


def test_other_hospitals_drift_and_quality_is_measured_on_labels(reference):
    other = load_training_data(REPO_ROOT / "data" / "heart_other_hospitals.csv").reference
    current = other.assign(risk=0.9 - 0.8 * other["output"], imputed_features=[[]] * len(other))
    assessment = assess(reference, current, window_of(current), LIMITS)
    violated = {check.metric for check in assessment.violations}
    assert "drift_share" in violated
    assert assessment.feature_drift["thalachh"] > 0.5  # exercise tests differ most
    assert {check.metric for check in assessment.checks} >= {"roc_auc", "brier"}
    assert assessment.rows_labelled == len(other)
