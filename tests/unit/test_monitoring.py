"""Monitoring rules: checks and their limits, windows and their carry-over, real data judged."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from heart_batch.contract.columns import LABEL, RISK_BAND
from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.contract.validation import validate_rows
from heart_batch.model.bands import BandTargets, choose_bands, with_bands
from heart_batch.model.pipeline import build_pipeline
from heart_batch.contract.columns import ModelId
from heart_batch.monitoring.report import drift_report, save_report
from heart_batch.monitoring.alerts import describe
from heart_batch.monitoring.checks import (
    BAND_DRIFT,
    SUBGROUP_CALIBRATION,
    SUBGROUP_RISK_DRIFT,
    Assessment,
    Check,
    Window,
    assess,
    select_window,
)
from heart_batch.monitoring.history import MonitorStore
from heart_batch.monitoring.no_change import CalibrationCache, calibration_size
from heart_batch.settings import MonitoringSettings, TrainingSettings
from heart_batch.storage.ledger import Ledger, ScoredCounts, new_claimant
from tests.conftest import REPO_ROOT

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
MODEL = ModelId("heart", "3")
THRESHOLDS = MonitoringSettings()

TARGETS = BandTargets.from_settings(TrainingSettings())


@pytest.mark.parametrize(
    ("check", "violated"),
    [
        (Check("risk_drift", 0.15, 0.1, "max", no_change_limit=0.2), False),  # noise at this size
        (Check("risk_drift", 0.25, 0.1, "max", no_change_limit=0.2), True),
        (Check("risk_drift", 0.08, 0.1, "max", no_change_limit=0.05), False),  # below the floor
        (Check("risk_drift", 0.11, 0.1, "max", no_change_limit=0.05), True),
        (Check("rejected_share", 0.05, 0.05, "max", no_change_limit=0.0), False),
        (Check("roc_auc", 0.70, 0.75, "min", interval=(0.6, 0.8)), False),  # interval reaches it
        (Check("roc_auc", 0.70, 0.75, "min", interval=(0.6, 0.74)), True),
        (Check("brier", 0.25, 0.2, "max", interval=(0.19, 0.3)), False),
        (Check("brier", 0.25, 0.2, "max", interval=(0.21, 0.3)), True),
        (Check("missing.chol", 1.0, 0.0, "max"), True),
    ],
)
def test_an_alarm_needs_the_effect_beyond_both_the_floor_and_the_no_change_limit(check, violated):
    assert check.violated is violated


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
    assert (window.rows_scored, window.rows_rejected, window.rows_total) == (200, 2, 202)


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
def champion_model(training_data):
    return build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0).fit(
        training_data.features, training_data.target
    )


@pytest.fixture(scope="module")
def reference(training_data, champion_model):
    risk = champion_model.predict_proba(training_data.features)[:, 1]
    return training_data.reference.assign(risk=risk, oof_risk=risk)


@pytest.fixture(scope="module")
def no_change(reference):
    return CalibrationCache(None).source(
        ("heart", "1"), reference, THRESHOLDS.monitor_replicates, seed=0
    )


def scored_rows(raw: pd.DataFrame, model) -> tuple[pd.DataFrame, int]:
    """A window as scoring writes it: accepted rows with their risk, and the rejected count."""
    rows = validate_rows(raw.reset_index(drop=True), max_missing=4)
    current = rows.features.assign(**{LABEL: rows.labels})
    current["risk"] = model.predict_proba(rows.features)[:, 1] if len(current) else []
    return current, int((~rows.accepted).sum())


def judge(reference, current, rejected, no_change) -> Assessment:
    window = Window(None, T0, [{"rows_scored": len(current), "rows_rejected": rejected}])
    return assess(reference, current, window, THRESHOLDS, no_change)


@pytest.fixture(scope="module")
def seed_csv():
    return pd.read_csv(REPO_ROOT / "data" / "heart.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def other_hospitals():
    path = REPO_ROOT / "data" / "heart_other_hospitals.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("rows", [50, 200, 2000])
def test_a_window_resampled_from_the_reference_raises_nothing(
    rows, reference, champion_model, seed_csv, no_change
):
    current, rejected = scored_rows(
        seed_csv.sample(rows, replace=True, random_state=rows), champion_model
    )
    assessment = judge(reference, current, rejected, no_change)
    assert assessment.violations == []
    assert assessment.calibration_rows == rows
    names = {check.metric for check in assessment.checks}
    assert {f"feature_drift.{name}" for name in FEATURE_NAMES} | {"roc_auc", "brier"} <= names


def test_the_false_alarm_budget_is_shared_equally_by_the_checks(
    reference, champion_model, seed_csv, no_change
):
    current, rejected = scored_rows(seed_csv.sample(200, random_state=1), champion_model)
    assessment = judge(reference, current, rejected, no_change)
    data_checks = len(FEATURE_NAMES) + 3  # features, risk, missing share, drift share
    subgroup_checks = [
        check.metric
        for check in assessment.checks
        if check.metric.startswith((SUBGROUP_RISK_DRIFT, SUBGROUP_CALIBRATION))
    ]
    assert {"risk_drift.men", "calibration_gap.men", "risk_drift.50_to_60"} <= set(subgroup_checks)
    # + ROC AUC and Brier, and each subgroup's checks
    per_check = THRESHOLDS.false_alarm_rate / (data_checks + 2 + len(subgroup_checks))
    # The data checks pool their shares: correlated checks leave each a little more than Bonferroni.
    assert 0.8 * per_check <= assessment.check_level <= data_checks * per_check
    (roc_auc,) = [check for check in assessment.checks if check.metric == "roc_auc"]
    assert roc_auc.interval[0] < roc_auc.value < roc_auc.interval[1]


def test_women_whose_risks_became_too_low_are_alarmed_when_the_pooled_figures_are_not(
    reference, champion_model, seed_csv, no_change
):
    rows = seed_csv.sample(600, replace=True, random_state=3).reset_index(drop=True)
    healthy_women = rows.index[(rows["sex"] == "0") & (rows["output"] == "1")]
    rows.loc[healthy_women[: len(healthy_women) // 2], "output"] = "0"  # now diseased
    current, rejected = scored_rows(rows, champion_model)
    assessment = judge(reference, current, rejected, no_change)
    violated = {check.metric for check in assessment.violations}
    assert "calibration_gap.women" in violated
    assert not violated & {"roc_auc", "brier", "calibration_gap.men", "risk_drift.women"}
    (women,) = [c for c in assessment.violations if c.metric == "calibration_gap.women"]
    assert "observed rate minus mean risk for women" in describe(women)
    assert women.interval[0] > THRESHOLDS.max_subgroup_calibration_gap


def test_a_subgroup_is_judged_only_with_enough_rows_in_the_window(
    reference, champion_model, seed_csv, no_change
):
    current, rejected = scored_rows(seed_csv.head(120), champion_model)
    assessment = judge(reference, current.assign(output=np.nan), rejected, no_change)
    metrics = {check.metric for check in assessment.checks}
    women, men = (current["sex"] == 0).sum(), (current["sex"] == 1).sum()
    assert ("risk_drift.women" in metrics) == (women >= THRESHOLDS.min_labelled_rows)
    assert ("risk_drift.men" in metrics) == (men >= THRESHOLDS.min_labelled_rows)
    assert not [metric for metric in metrics if metric.startswith(SUBGROUP_CALIBRATION)]


def test_each_hospital_of_another_country_is_alarmed(
    reference, champion_model, other_hospitals, no_change
):
    for hospital, rows in other_hospitals.groupby("hospital"):
        current, rejected = scored_rows(rows.drop(columns="hospital"), champion_model)
        assessment = judge(reference, current, rejected, no_change)
        assert assessment.violations, hospital
        assert assessment.rows_labelled == len(current)


def test_a_feature_missing_from_every_row_is_a_finding_and_the_other_checks_still_run(
    reference, champion_model, other_hospitals, no_change
):
    switzerland = other_hospitals[other_hospitals["hospital"] == "Switzerland"]
    current, rejected = scored_rows(switzerland.drop(columns="hospital"), champion_model)
    assert current["chol"].isna().all()  # cholesterol is never recorded there
    assessment = judge(reference, current, rejected, no_change)
    violated = {check.metric for check in assessment.violations}
    assert "missing.chol" in violated
    assert "feature_drift.chol" not in {check.metric for check in assessment.checks}
    assert {"missing_share", "risk_drift"} <= {check.metric for check in assessment.checks}
    assert "chol" not in assessment.column_thresholds


def test_a_window_of_rejected_rows_is_judged_on_its_rejections(
    reference, champion_model, seed_csv, no_change
):
    mmol = seed_csv.assign(chol=(seed_csv["chol"].astype(float) / 38.67).round(2).astype(str))
    current, rejected = scored_rows(mmol, champion_model)
    assessment = judge(reference, current, rejected, no_change)
    assert current.empty and rejected == len(seed_csv)
    assert [check.metric for check in assessment.violations] == ["rejected_share"]


def test_evidentlys_report_agrees_with_the_checks(
    reference, champion_model, other_hospitals, no_change
):
    current, rejected = scored_rows(other_hospitals.drop(columns="hospital"), champion_model)
    assessment = judge(reference, current, rejected, no_change)
    window = Window(None, T0, [{"rows_scored": len(current), "rows_rejected": rejected}])
    snapshot = drift_report(reference, current, assessment, (window, MODEL))
    values, dataset_drift = {}, None
    for metric in snapshot.dict()["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":DriftedColumnsCount"):
            values["drift_share"] = metric["value"]["share"]
            dataset_drift = metric["value"]["share"] >= metric["config"]["drift_share"]
        elif kind.endswith(":ValueDrift"):
            column = metric["config"]["column"]
            values["risk_drift" if column == "risk" else f"feature_drift.{column}"] = metric[
                "value"
            ]
    checks = {check.metric: check for check in assessment.checks}
    for metric, value in values.items():
        assert value == pytest.approx(checks[metric].value, abs=1e-9), metric
    assert dataset_drift == checks["drift_share"].violated
    detected = {  # Evidently's rule for a distance: drifted when it reaches the threshold
        metric["config"]["column"]
        for metric in snapshot.dict()["metrics"]
        if metric["config"]["type"].endswith(":ValueDrift")
        and metric["config"]["column"] != "risk"
        and metric["value"] >= metric["config"]["threshold"]
    }
    drifted = {
        check.metric.removeprefix("feature_drift.")
        for check in assessment.checks
        if assessment.drifted(check)
    }
    assert detected == drifted and drifted, "Evidently's 'Detected' columns are the monitor's"
    label = snapshot.to_snapshot_model()
    assert label.name.startswith(f"heart v3, window the first scored file to {T0:%Y-%m-%d}")
    assert {"model v3", "violated"} <= set(label.tags)
    assert label.metadata["verdict"] == assessment.verdict


def test_the_report_starts_with_the_monitors_verdict_and_shares_evidentlys_script(
    reference, champion_model, other_hospitals, no_change, tmp_path
):
    current, rejected = scored_rows(other_hospitals.drop(columns="hospital"), champion_model)
    assessment = judge(reference, current, rejected, no_change)
    window = Window(None, T0, [{"rows_scored": len(current), "rows_rejected": rejected}])
    snapshot = drift_report(reference, current, assessment, (window, MODEL))
    first = save_report(snapshot, assessment, tmp_path, (window, MODEL))
    html = first.read_text()
    header = html[html.index("<body>") : html.index("<h1>") + 500]
    assert "Monitoring of heart v3" in header and f"{len(current)} rows scored" in html
    assert f"Verdict</b>: {assessment.verdict}" in html
    assert html.index("VIOLATED") < html.index("<script src=")
    assert first.stat().st_size < 1_000_000, "Evidently's 3.6 MB script is shared, not embedded"
    (script,) = (tmp_path / "assets").glob("evidently-*.js")
    assert f'src="assets/{script.name}"' in html and script.stat().st_size > 1_000_000


def test_no_row_scored_gives_no_evidently_report(reference):
    assessment = Assessment([Check("rejected_share", 1.0, 0.05, "max", 0.0)], 0, 0, 0.01)
    assert (
        drift_report(reference, pd.DataFrame(), assessment, (Window(None, T0, []), MODEL)) is None
    )


def test_a_sicker_window_moves_the_risk(reference, champion_model, seed_csv, no_change):
    older = seed_csv.assign(
        age=(seed_csv["age"].astype(float) + 15).astype(str),
        cp="0",
        exng="1",
    )
    current, rejected = scored_rows(older.sample(500, replace=True, random_state=0), champion_model)
    assessment = judge(reference, current, rejected, no_change)
    violated = {check.metric for check in assessment.violations}
    assert {"risk_drift", "feature_drift.age", "feature_drift.cp"} <= violated
    assert np.mean(current["risk"]) > np.mean(reference["risk"])


def test_quality_checks_carry_the_reference_out_of_fold_baseline(
    reference, champion_model, seed_csv, no_change
):
    current, rejected = scored_rows(seed_csv, champion_model)
    checks = {
        check.metric: check for check in judge(reference, current, rejected, no_change).checks
    }
    assert checks["roc_auc"].baseline == pytest.approx(checks["roc_auc"].value, abs=0.02)
    low, high = checks["roc_auc"].interval
    assert low < checks["roc_auc"].value < high


@pytest.fixture(scope="module")
def banded(reference, training_data):
    """The reference with its risk bands' codes, the bands, and its no-change replicates."""
    bands = choose_bands(reference["oof_risk"], training_data.target.to_numpy(), TARGETS)
    with_codes = with_bands(reference, bands)
    calibration = CalibrationCache(None).source(("heart", "2"), with_codes, 4000, seed=0)
    return with_codes, bands, calibration


def test_the_band_shares_are_judged_against_limits_calibrated_for_the_window(
    banded, champion_model, seed_csv
):
    reference_with_bands, bands, no_change_source = banded
    limits = {}
    for rows in (50, 2000):
        sample = seed_csv.sample(rows, replace=True, random_state=rows)
        current, rejected = scored_rows(sample, champion_model)
        current = with_bands(current, bands)
        assessment = judge(reference_with_bands, current, rejected, no_change_source)
        (band_check,) = [check for check in assessment.checks if check.metric == BAND_DRIFT]
        assert not band_check.violated and assessment.violations == []
        no_change = no_change_source(calibration_size(rows))
        assert band_check.no_change_limit == no_change.limit(RISK_BAND, assessment.check_level)
        limits[rows] = band_check.no_change_limit
    # A small window's shares vary more when nothing changed: its limit is wider.
    assert limits[50] > limits[2000]


def test_a_sicker_window_shifts_the_band_shares(banded, champion_model, seed_csv):
    reference_with_bands, bands, no_change_source = banded
    sicker = seed_csv.assign(cp="0", exng="1", caa="2")
    current, rejected = scored_rows(sicker.sample(300, random_state=0), champion_model)
    assessment = judge(reference_with_bands, with_bands(current, bands), rejected, no_change_source)
    assert BAND_DRIFT in {check.metric for check in assessment.violations}
    assert np.mean(bands.codes(current["risk"].to_numpy()) == 2) > bands.shares[2]


def test_the_newest_report_sorts_last():
    first = Window(None, T0, [])
    later = Window(T0, T0 + timedelta(hours=1), [])
    latest = Window(T0 + timedelta(hours=1), T0 + timedelta(days=1), [])
    names = [window.report_name for window in (latest, first, later)]
    assert sorted(names) == [first.report_name, later.report_name, latest.report_name]
    assert first.report_name.endswith("_from_first.html")


def test_violations_are_described_with_their_values_and_limits():
    checks = [
        Check("rejected_share", 0.08, 0.05, "max"),
        Check("min_roc_auc", 0.61, 0.75, "min"),
        Check("drift_share", 0.1, 0.3, "max"),
    ]
    assessment = Assessment(checks, rows_labelled=60, calibration_rows=200, check_level=0.001)
    described = assessment.describe_violations()
    assert described == "rejected_share 0.08 (> 0.05), min_roc_auc 0.61 (< 0.75)"
    assert Assessment(checks[2:], 0, 200, 0.001).describe_violations() == "none"
