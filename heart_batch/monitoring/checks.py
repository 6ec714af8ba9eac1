"""Monitoring: judge a window of scored rows against the champion's reference data.

Every alarm needs two things: an effect beyond its practical *floor* (a distance of 0.1, 10 %
missing values...), and a value beyond what a window of this size shows when nothing changed (the
*no-change limit*, from ``calibration``). The false-alarm budget (``false_alarm_rate``, per window)
is shared by all checks of a window: the data checks split their part by the min-p adjustment, the
quality checks and the subgroup checks theirs by Bonferroni (see docs/monitoring.md).

Each patient subgroup (``contract.subgroups``: women, men, three age groups) with enough rows in
the window gets two checks of its own: the drift of its risks from the reference subgroup's, and
(with enough labelled rows) the gap between its observed disease rate and its mean risk.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from heart_batch.contract.columns import (
    LABEL,
    OUT_OF_FOLD_RISK,
    RISK,
    RISK_BAND,
    disease_from_label,
)
from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.contract.subgroups import SUBGROUPS, Subgroup
from heart_batch.model.bands import RiskBands, with_bands
from heart_batch.monitoring.drift import METHODS, column_distance
from heart_batch.model.performance import bootstrap, interval, weighted_gap
from heart_batch.monitoring.no_change import (
    MISSING_SHARE,
    NoChange,
    calibration_size,
    risk_no_change,
)
from heart_batch.monitoring.quality import measure_quality
from heart_batch.settings import MonitoringSettings

DRIFT_SHARE = "drift_share"
RISK_DRIFT = "risk_drift"
BAND_DRIFT = "risk_band_drift"
"""The shares of the low, intermediate and high risk bands against the reference's (a
Jensen-Shannon distance, floored like a code's drift)."""
REJECTED_SHARE = "rejected_share"
FEATURE_DRIFT = "feature_drift."
"""Prefix of the per-feature drift checks, e.g. ``feature_drift.age``."""
MISSING = "missing."
"""Prefix of the check of a feature with no value at all in the window, e.g. ``missing.chol``."""
SUBGROUP_RISK_DRIFT = "risk_drift."
"""Prefix of a subgroup's risk drift, e.g. ``risk_drift.women``."""
SUBGROUP_CALIBRATION = "calibration_gap."
"""Prefix of a subgroup's calibration check, e.g. ``calibration_gap.over_60``: the absolute gap
between its observed disease rate and its mean risk."""


def feature_floor(thresholds: MonitoringSettings, name: str) -> float:
    """The floor of a feature's drift: its distance's own (codes or numbers)."""
    return (
        thresholds.max_code_drift
        if METHODS[name] == "jensenshannon"
        else thresholds.max_number_drift
    )


@dataclass(frozen=True)
class Check:
    """One statistic of a window and its decision.

    Attributes:
        metric: What was measured.
        value: The window's value.
        floor: The practical limit: smaller effects never alarm.
        kind: ``max`` when large values are bad, ``min`` when small ones are.
        no_change_limit: Beyond this, the value is rarer than the check's share of the false-alarm
            budget when nothing changed (at this window's size).
        interval: For quality metrics, the resampled interval of the value; the whole interval
            must be beyond the floor.
        baseline: For quality metrics, the reference's out-of-fold value, for comparison.
    """

    metric: str
    value: float
    floor: float
    kind: Literal["max", "min"]
    no_change_limit: float | None = None
    interval: tuple[float, float] | None = None
    baseline: float | None = None

    @property
    def limit(self) -> float:
        """The value compared with: the floor, or the no-change limit where it is stricter."""
        if self.no_change_limit is None:
            return self.floor
        if self.kind == "max":
            return max(self.floor, self.no_change_limit)
        return min(self.floor, self.no_change_limit)

    @property
    def violated(self) -> bool:
        """True when the value (or, with an interval, all of it) is beyond the limit."""
        if self.interval is not None:
            low, high = self.interval
            return low > self.floor if self.kind == "max" else high < self.floor
        return self.value > self.limit if self.kind == "max" else self.value < self.limit


@dataclass(frozen=True)
class Window:
    """Scored files not yet judged, and their row counts from the ledger."""

    start: datetime | None
    end: datetime | None
    files: list[dict]

    @property
    def rows_scored(self) -> int:
        """Rows with a prediction."""
        return sum(record["rows_scored"] for record in self.files)

    @property
    def rows_rejected(self) -> int:
        """Rows rejected by the feature contract."""
        return sum(record["rows_rejected"] for record in self.files)

    @property
    def rows_total(self) -> int:
        """Input rows: scored or rejected."""
        return self.rows_scored + self.rows_rejected

    @property
    def key(self) -> str:
        """Stable name of the window, for report files and alert de-duplication."""
        start = self.start.strftime("%Y%m%dT%H%M%S%f") if self.start else "beginning"
        return f"{start}-{self.last_scored.strftime('%Y%m%dT%H%M%S%f')}"

    @property
    def report_name(self) -> str:
        """The window's report file, named by its end first, so that the newest sorts last
        (``ls outputs/_reports | tail -1``)."""
        start = self.start.strftime("%Y%m%dT%H%M%S%f") if self.start else "first"
        return f"monitoring_{self.last_scored.strftime('%Y%m%dT%H%M%S%f')}_from_{start}.html"

    @property
    def last_scored(self) -> datetime:
        """When its last file was scored: the end of a window that has files."""
        if self.end is None:
            raise ValueError("a window without files has no end")
        return self.end


@dataclass(frozen=True)
class Assessment:
    """Everything monitoring concluded about one window.

    Attributes:
        checks: Every check, in a fixed order: summary checks, then each feature.
        rows_labelled: Rows that carried a label.
        calibration_rows: Window size the no-change limits were computed for.
        check_level: Share of the false-alarm budget each data check may spend.
        column_thresholds: Each observed feature's drift flag threshold (what ``drift_share``
            counts), for Evidently's report.
    """

    checks: list[Check]
    rows_labelled: int
    calibration_rows: int
    check_level: float
    column_thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def violations(self) -> list[Check]:
        """The checks that failed."""
        return [check for check in self.checks if check.violated]

    def describe_violations(self) -> str:
        """Each failed check with its value and limit (aggregates only), or "none"."""
        described = [
            f"{check.metric} {check.value:.3g} ({'>' if check.kind == 'max' else '<'} "
            f"{check.limit:.3g})"
            for check in self.violations
        ]
        return ", ".join(described) or "none"

    def drifted(self, check: Check) -> bool:
        """True for a feature whose distance reaches its flag threshold: it counts towards the
        share of drifted features (and Evidently marks it "Detected"), whether or not it is beyond
        its own, stricter limit."""
        name = check.metric.removeprefix(FEATURE_DRIFT)
        threshold = self.column_thresholds.get(name)
        return (
            check.metric.startswith(FEATURE_DRIFT)
            and threshold is not None
            and (check.value >= threshold)
        )

    @property
    def verdict(self) -> str:
        """The window's verdict in a few words: ``no violation`` or ``3 violations``."""
        count = len(self.violations)
        return "no violation" if not count else f"{count} violation{'s' * (count > 1)}"


def select_window(scored_files: list[dict], last_end: datetime | None) -> Window:
    """The files scored since the last judged window (all of them on the first run)."""
    files = [f for f in scored_files if last_end is None or f["finished_at"] > last_end]
    end = max((f["finished_at"] for f in files), default=None)
    return Window(start=last_end, end=end, files=files)


def read_window(window: Window, bands: RiskBands | None = None) -> pd.DataFrame:
    """Features, risk and (when present) label of the window's scored rows; with the champion's
    ``bands``, each risk's band code too (``with_bands``)."""
    frames = []
    for record in window.files:
        frame = pd.read_parquet(record["predictions_path"])
        if LABEL not in frame:
            frame[LABEL] = np.nan
        frames.append(frame[[*FEATURE_NAMES, RISK, LABEL]])
    return with_bands(pd.concat(frames, ignore_index=True), bands)


def window_sources(window: Window) -> list[str]:
    """The window's files as training names its data sources (the predictions files)."""
    return [Path(record["predictions_path"]).name for record in window.files]


NoChangeSource = Callable[[int], NoChange]
"""Gives the no-change replicates for a window size (``CalibrationCache.source``)."""


def assess(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    window: Window,
    thresholds: MonitoringSettings,
    no_change: NoChangeSource,
) -> Assessment:
    """Judge a window: drift, data quality and (with labels) model quality.

    Args:
        reference: The champion's reference rows: features, label, ``risk`` (the champion's
            prediction) and ``oof_risk``.
        current: The window's scored rows: features (NaN where imputed), ``risk`` and label.
        window: The window's files and row counts.
        thresholds: Floors, false-alarm budget, resamples and seed (the monitoring settings).
        no_change: No-change replicates for a window size.
    """
    rejected = Check(
        REJECTED_SHARE,
        window.rows_rejected / max(window.rows_total, 1),
        thresholds.max_rejected_share,
        "max",
        no_change_limit=0.0,  # the reference holds accepted rows only
    )
    if current.empty:
        return Assessment([rejected], 0, 0, thresholds.false_alarm_rate)
    labelled = current.dropna(subset=[LABEL])
    observed = [name for name in FEATURE_NAMES if current[name].notna().any()]
    subgroups = _judged_subgroups(reference, current, thresholds.min_labelled_rows)
    # Every check gets an equal share of the budget: the data checks pool theirs (min-p).
    # Each feature, risk drift, missing share, drift share, and the bands when there are some.
    data_checks = len(observed) + 3 + (RISK_BAND in reference)
    checks_in_all = (
        data_checks
        + (2 if _quality_measurable(labelled, thresholds) else 0)
        + len(subgroups.drift)
        + len(subgroups.calibration)
    )
    share = thresholds.false_alarm_rate / checks_in_all
    quality_checks = _quality_checks(reference, labelled, thresholds, tail=share)
    quality_checks += _subgroup_checks(reference, current, subgroups, thresholds, share)
    size = calibration_size(len(current))
    drift = _drift_checks(
        (reference, current, observed), no_change(size), thresholds, share * data_checks
    )
    checks = [drift.share, drift.risk, *drift.bands, drift.missing_share, rejected]
    checks += quality_checks
    checks += drift.features
    return Assessment(checks, len(labelled), size, drift.level, drift.column_thresholds)


@dataclass(frozen=True)
class _DriftChecks:
    share: Check
    risk: Check
    bands: list[Check]
    missing_share: Check
    features: list[Check]
    column_thresholds: dict[str, float]
    level: float


def _drift_checks(frames, no_change: NoChange, thresholds, budget) -> _DriftChecks:
    """Per-feature drift, drift share, risk drift and missing share against their no-change limits.

    ``frames`` are the reference, the window and the features observed in it. A feature with no
    value in the window cannot drift: it is its own check instead (``missing.``).
    """
    reference, current, observed = frames
    empty = [name for name in FEATURE_NAMES if name not in observed]
    summaries = [RISK, *([RISK_BAND] if RISK_BAND in reference else [])]
    distances = {
        name: column_distance(reference[name], current[name], METHODS[name])
        for name in [*observed, *summaries]
    }
    floor = {name: feature_floor(thresholds, name) for name in observed}
    column_thresholds = {
        name: max(floor[name], no_change.limit(name, thresholds.column_drift_level))
        for name in observed
    }
    replicates = no_change.statistics.copy()
    replicates[DRIFT_SHARE] = np.mean(
        [replicates[name] >= column_thresholds[name] for name in observed], axis=0
    )
    null = NoChange(no_change.window_rows, replicates)
    level = null.family_level([*observed, *summaries, MISSING_SHARE, DRIFT_SHARE], budget)
    share = np.mean([distances[name] >= column_thresholds[name] for name in observed])
    missing = current[FEATURE_NAMES].isna().to_numpy().mean()
    return _DriftChecks(
        share=Check(
            DRIFT_SHARE,
            float(share),
            thresholds.max_drift_share,
            "max",
            null.limit(DRIFT_SHARE, level),
        ),
        risk=Check(
            RISK_DRIFT, distances[RISK], thresholds.max_risk_drift, "max", null.limit(RISK, level)
        ),
        bands=(
            [
                Check(
                    BAND_DRIFT,
                    distances[RISK_BAND],
                    thresholds.max_code_drift,
                    "max",
                    null.limit(RISK_BAND, level),
                )
            ]
            if RISK_BAND in distances
            else []
        ),
        missing_share=Check(
            MISSING_SHARE,
            missing,
            thresholds.max_missing_share,
            "max",
            null.limit(MISSING_SHARE, level),
        ),
        features=[
            Check(
                FEATURE_DRIFT + name, distances[name], floor[name], "max", null.limit(name, level)
            )
            for name in observed
        ]
        + [_empty_feature_check(name, reference) for name in empty],
        column_thresholds=column_thresholds,
        level=level,
    )


def _empty_feature_check(name: str, reference: pd.DataFrame) -> Check:
    """A feature with no value in the window: 100 % missing against the reference's share."""
    return Check(MISSING + name, 1.0, float(reference[name].isna().mean()), "max")


@dataclass(frozen=True)
class _JudgedSubgroups:
    drift: list[Subgroup]
    """Subgroups with enough rows in the window (and in the reference) to judge their risks."""
    calibration: list[Subgroup]
    """Subgroups with enough labelled rows in the window to judge their calibration."""


def _judged_subgroups(reference, current, min_rows: int) -> _JudgedSubgroups:
    labelled = current[LABEL].notna().to_numpy()
    drift, calibration = [], []
    for group in SUBGROUPS:
        members = group.members(current)
        if members.sum() >= min_rows and group.members(reference).sum() >= min_rows:
            drift.append(group)
        if (members & labelled).sum() >= min_rows:
            calibration.append(group)
    return _JudgedSubgroups(drift, calibration)


def _subgroup_checks(reference, current, subgroups: _JudgedSubgroups, thresholds, share):
    """Each judged subgroup's risk drift (against its no-change limit at the subgroup's size) and
    calibration gap (by its bootstrap interval), each alarming by chance with probability
    ``share``."""
    checks = []
    for index, group in enumerate(subgroups.drift):
        ours, theirs = current[group.members(current)], reference[group.members(reference)]
        no_change = risk_no_change(
            theirs[RISK],
            calibration_size(len(ours)),
            thresholds.monitor_replicates,
            (thresholds.seed, index),
        )
        checks.append(
            Check(
                SUBGROUP_RISK_DRIFT + group.key,
                column_distance(theirs[RISK], ours[RISK], METHODS[RISK]),
                thresholds.max_risk_drift,
                "max",
                no_change.limit(RISK, share),
            )
        )
    for group in subgroups.calibration:
        rows = current[group.members(current)].dropna(subset=[LABEL])
        checks.append(_calibration_gap_check(reference, rows, group, thresholds, share))
    return checks


def _calibration_gap_check(reference, rows, group: Subgroup, thresholds, share) -> Check:
    """``|observed rate - mean risk|`` of a subgroup's labelled rows, with the bootstrap interval
    of the absolute gap (``share`` split between the two signs of the gap)."""
    disease = disease_from_label(rows[LABEL]).to_numpy(dtype=np.float64)
    gaps = bootstrap(
        disease,
        rows[RISK].to_numpy(dtype=np.float64),
        {"gap": weighted_gap},
        thresholds.quality_resamples,
        thresholds.seed,
    )["gap"]
    low, high = interval(gaps, share / 2)
    if low > 0:
        absolute = (low, high)
    elif high < 0:
        absolute = (-high, -low)
    else:
        absolute = (0.0, max(-low, high))
    baseline = None
    if OUT_OF_FOLD_RISK in reference:
        learnt = reference[group.members(reference)]
        baseline = abs(
            float(disease_from_label(learnt[LABEL]).mean() - learnt[OUT_OF_FOLD_RISK].mean())
        )
    return Check(
        SUBGROUP_CALIBRATION + group.key,
        abs(float(disease.mean() - rows[RISK].mean())),
        thresholds.max_subgroup_calibration_gap,
        "max",
        interval=absolute,
        baseline=baseline,
    )


def _quality_measurable(labelled: pd.DataFrame, thresholds: MonitoringSettings) -> bool:
    """Enough labelled rows, of both classes, to judge the champion's quality."""
    return len(labelled) >= thresholds.min_labelled_rows and labelled[LABEL].nunique() == 2


def _quality_checks(
    reference, labelled, thresholds: MonitoringSettings, tail: float
) -> list[Check]:
    """ROC AUC and Brier on labelled rows, each alarming by chance with probability ``tail``.

    Each check carries the reference's out-of-fold figure as its baseline, for comparison.
    """
    if not _quality_measurable(labelled, thresholds):
        return []
    disease = disease_from_label(labelled[LABEL]).to_numpy()
    quality = measure_quality(
        disease,
        labelled[RISK].to_numpy(),
        tail=tail,
        replicates=thresholds.quality_resamples,
        seed=thresholds.seed,
    )
    baseline: dict[str, float | None] = {"roc_auc": None, "brier": None}
    if OUT_OF_FOLD_RISK in reference:
        reference_disease = disease_from_label(reference[LABEL])
        baseline = {
            "roc_auc": float(roc_auc_score(reference_disease, reference[OUT_OF_FOLD_RISK])),
            "brier": float(brier_score_loss(reference_disease, reference[OUT_OF_FOLD_RISK])),
        }
    return [
        Check(
            "roc_auc",
            quality.roc_auc,
            thresholds.min_roc_auc,
            "min",
            interval=quality.roc_auc_interval,
            baseline=baseline["roc_auc"],
        ),
        Check(
            "brier",
            quality.brier,
            thresholds.max_brier,
            "max",
            interval=quality.brier_interval,
            baseline=baseline["brier"],
        ),
    ]
