"""Each flow's one-line summary (its final state message and last log line) and run names."""

from pathlib import Path

from heart_batch.contract.columns import ModelId
from heart_batch.monitoring.summary import MonitoringOutcome
from heart_batch.scoring.intake import FileOutcome
from heart_batch.scoring.summary import ScoringSummary
from heart_batch.storage.ledger import ScoredCounts
from heart_batch.training.summary import run_name


def counts(scored: int, rejected: int) -> ScoredCounts:
    return ScoredCounts(
        total=scored + rejected, scored=scored, rejected=rejected, imputed=0, broken=0, headers=0
    )


def test_a_scoring_run_says_files_rows_duplicates_and_quarantines_with_plurals():
    summary = ScoringSummary(
        model_version="3",
        files=[
            FileOutcome("a.csv", "f1", "scored", counts(1, 0)),
            FileOutcome("b.csv", "f1", "duplicate"),
            FileOutcome("c.csv", "f2", "quarantined", report="input/quarantine/c.csv.error.json"),
            FileOutcome("d.csv", "f3", "quarantined"),
        ],
        settling=1,
    )
    assert summary.one_line(Path("input")) == (
        "1 file scored with v3: 1 row scored, 0 rejected; 1 file already scored (archived); "
        "2 files quarantined (input/quarantine/); 1 file waiting to settle"
    )
    assert ScoringSummary(settling=2).one_line(Path("input")) == (
        "Nothing to score in input; 2 files waiting to settle"
    )


def test_a_monitoring_run_says_verdict_email_retraining_and_report():
    outcome = MonitoringOutcome(
        "evaluated",
        616,
        violations=["missing_share"],
        described_violations="missing_share 0.21 (> 0.1)",
        report_path="outputs/_reports/monitoring_x.html",
        alert_sent=True,
        retraining="retraining triggered: train-heart-risk/train run calm-fox",
    )
    assert outcome.one_line(100) == (
        "Window of 616 rows: missing_share 0.21 (> 0.1); alert emailed; retraining triggered: "
        "train-heart-risk/train run calm-fox; report: outputs/_reports/monitoring_x.html"
    )
    calm = MonitoringOutcome("evaluated", 300, report_path="r.html")
    assert calm.one_line(100) == "Window of 300 rows: ok; report: r.html"
    assert (
        MonitoringOutcome("insufficient", 0)
        .one_line(100)
        .startswith("Insufficient data: 0 rows since the last window (minimum 100)")
    )
    model = ModelId("heart", "3")
    assert outcome.description(model) == "heart v3: evaluated, violated: missing_share"
    markdown = outcome.markdown(None, model, 100)
    assert markdown.splitlines()[2] == f"**{outcome.one_line(100)}**"


def test_training_runs_are_named_by_why_they_ran():
    assert run_name("", scheduled=True) == "nightly"
    assert run_name("", scheduled=False) == "by hand"
    trigger = "monitoring window 20261201T100000-20261201T110000: missing_share, drift_share"
    assert run_name(trigger, scheduled=False) == (
        "triggered by window 20261201T100000-20261201T110000"
    )
