"""Monitoring: compare a window of scored rows with the champion's reference data.

Drift uses Evidently with distance methods (normed Wasserstein for numbers, Jensen-Shannon for
codes, threshold 0.1) rather than its default p-value tests: the reference has ~300 rows and a
window may have 100,000, and p-values at that size flag differences nobody would act on.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset
from sklearn.metrics import brier_score_loss, roc_auc_score

from heart_batch.schema import FEATURE_NAMES, FEATURES, LABEL

DRIFT_METHODS = {"num_method": "wasserstein", "cat_method": "jensenshannon"}
RISK = "risk"


@dataclass(frozen=True)
class Thresholds:
    """Limits a window must respect; a metric outside its limit is a violation."""

    max_drift_share: float = 0.3
    max_risk_drift: float = 0.1
    max_missing_share: float = 0.1
    max_rejected_share: float = 0.05
    min_roc_auc: float = 0.75
    max_brier: float = 0.2
    min_labelled_rows: int = 50


@dataclass(frozen=True)
class Check:
    """One metric against its limit."""

    metric: str
    value: float
    threshold: float
    kind: Literal["max", "min"]

    @property
    def violated(self) -> bool:
        """True when the value is beyond the limit."""
        return self.value > self.threshold if self.kind == "max" else self.value < self.threshold


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
    def key(self) -> str:
        """Stable name of the window, for report files and alert de-duplication."""
        start = self.start.strftime("%Y%m%dT%H%M%S%f") if self.start else "beginning"
        return f"{start}-{self.end.strftime('%Y%m%dT%H%M%S%f')}"


@dataclass(frozen=True)
class Assessment:
    """Everything monitoring concluded about one window."""

    checks: list[Check]
    feature_drift: dict[str, float]
    rows_labelled: int
    snapshot: Snapshot = field(repr=False)

    @property
    def violations(self) -> list[Check]:
        """The checks that failed."""
        return [check for check in self.checks if check.violated]


def select_window(scored_files: list[dict], last_end: datetime | None) -> Window:
    """The files scored since the last judged window (all of them on the first run)."""
    files = [f for f in scored_files if last_end is None or f["finished_at"] > last_end]
    end = max((f["finished_at"] for f in files), default=None)
    return Window(start=last_end, end=end, files=files)


def read_window(window: Window) -> pd.DataFrame:
    """Features, missing-value flags, risk and (when present) label of the window's rows."""
    frames = []
    for record in window.files:
        frame = pd.read_parquet(record["predictions_path"])
        if LABEL not in frame:
            frame[LABEL] = np.nan
        frames.append(frame[[*FEATURE_NAMES, "imputed_features", RISK, LABEL]])
    return pd.concat(frames, ignore_index=True)


def evaluate(metrics: dict[str, float], thresholds: Thresholds) -> list[Check]:
    """Compare each available metric with its limit; quality metrics only when computed."""
    limits = {
        "drift_share": (thresholds.max_drift_share, "max"),
        "risk_drift": (thresholds.max_risk_drift, "max"),
        "missing_share": (thresholds.max_missing_share, "max"),
        "rejected_share": (thresholds.max_rejected_share, "max"),
        "roc_auc": (thresholds.min_roc_auc, "min"),
        "brier": (thresholds.max_brier, "max"),
    }
    return [
        Check(name, float(metrics[name]), limit, kind)
        for name, (limit, kind) in limits.items()
        if name in metrics
    ]


def assess(
    reference: pd.DataFrame, current: pd.DataFrame, window: Window, thresholds: Thresholds
) -> Assessment:
    """Drift, data quality and (with labels) model quality of a window."""
    snapshot = _drift_report(reference, current, window.end)
    drift = _drift_values(snapshot)
    metrics = {
        "drift_share": drift.pop("share"),
        "risk_drift": drift.pop(RISK),
        "missing_share": current["imputed_features"].map(len).sum() / current[FEATURE_NAMES].size,
        "rejected_share": window.rows_rejected / max(window.rows_scored + window.rows_rejected, 1),
    }
    labelled = current.dropna(subset=[LABEL])
    disease = (labelled[LABEL] == 0).astype(int)
    if len(labelled) >= thresholds.min_labelled_rows and disease.nunique() == 2:
        metrics["roc_auc"] = roc_auc_score(disease, labelled[RISK])
        metrics["brier"] = brier_score_loss(disease, labelled[RISK])
    return Assessment(
        checks=evaluate(metrics, thresholds),
        feature_drift=drift,
        rows_labelled=len(labelled),
        snapshot=snapshot,
    )


def _drift_report(reference: pd.DataFrame, current: pd.DataFrame, timestamp) -> Snapshot:
    definition = DataDefinition(
        numerical_columns=[f.name for f in FEATURES if f.kind != "nominal"] + [RISK],
        categorical_columns=[f.name for f in FEATURES if f.kind == "nominal"],
    )
    report = Report(
        [
            DataDriftPreset(columns=FEATURE_NAMES, **DRIFT_METHODS),
            ValueDrift(column=RISK, method=DRIFT_METHODS["num_method"]),
        ]
    )
    columns = [*FEATURE_NAMES, RISK]
    return report.run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
        timestamp=timestamp,
    )


def _drift_values(snapshot: Snapshot) -> dict[str, float]:
    """Share of drifted features (key ``share``) and each column's drift score."""
    values = {}
    for metric in snapshot.dict()["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":DriftedColumnsCount"):
            values["share"] = float(metric["value"]["share"])
        elif kind.endswith(":ValueDrift"):
            values[metric["config"]["column"]] = float(metric["value"])
    return values


def save_report(snapshot: Snapshot, reports_dir: Path, window: Window) -> Path:
    """The self-contained HTML report of a window."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"monitoring_{window.key}.html"
    snapshot.save_html(str(path))
    return path
