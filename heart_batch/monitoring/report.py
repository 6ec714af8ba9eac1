"""What a judged window shows people: the checks table, the HTML report and the Evidently snapshot.

Evidently's verdicts are the monitor's own. Each feature is "Detected" when its distance reaches
the flag threshold that the share of drifted features counts, and the dataset drifts exactly when
the monitor's ``drift_share`` check is violated. A feature's own check is stricter: it alarms only
beyond its limit, which spends a share of the false-alarm budget. The report's header says so, next
to the monitor's verdict.
"""

import base64
import math
import shutil
from html import escape
from importlib.metadata import version
from pathlib import Path

import evidently
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import MeanValue, RowCount, ValueDrift
from evidently.presets import DataDriftPreset

from heart_batch.contract.columns import RISK, ModelId
from heart_batch.monitoring.checks import DRIFT_SHARE, RISK_DRIFT, Assessment, Check, Window
from heart_batch.monitoring.drift import METHODS

CHECK_COLUMNS = ("decision", "check", "value", "limit")
"""The checks table's columns, decision first, narrow enough for a Prefect artifact."""
DRIFTED = "drifted"
"""Decision of a feature counted in the share of drifted features but within its own limit."""
EXPLANATION = (
    "Evidently's report below uses the monitor's limits. It marks a feature <i>Detected</i> when "
    "its distance reaches the flag threshold that the share of drifted features counts (decision "
    f"<i>{DRIFTED}</i> above); the monitor violates a feature only beyond its own limit, which is "
    "stricter because each check spends a share of the false-alarm budget. Evidently's dataset "
    "drift is the monitor's <code>drift_share</code> check. The other checks (missing values, "
    "rejections, quality) are the monitor's alone."
)
_STATIC = Path(evidently.__file__).parent / "nbextension" / "static"
ASSETS = "assets"
"""Folder beside the reports holding Evidently's script and font once, instead of in each file."""


def decision(check: Check, assessment: Assessment) -> str:
    """``VIOLATED``, ``drifted`` (counted in the share, within its limit) or ``ok``."""
    if check.violated:
        return "VIOLATED"
    return DRIFTED if assessment.drifted(check) else "ok"


def checks_table(assessment: Assessment) -> list[tuple[str, ...]]:
    """One row per check, as the report, the artifact and the email show it (``CHECK_COLUMNS``)."""
    return [
        (decision(check, assessment), check.metric, _value_text(check), _limit_text(check))
        for check in assessment.checks
    ]


def checks_markdown(assessment: Assessment) -> str:
    """The checks as a Markdown table."""
    lines = ["| " + " | ".join(CHECK_COLUMNS) + " |", "|" + "---|" * len(CHECK_COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in checks_table(assessment)]
    return "\n".join(lines)


def checks_table_html(assessment: Assessment) -> str:
    """The checks as an HTML table, one row per line (SMTP refuses lines over 998 characters)."""
    lines = ["<table border='1' cellpadding='4'>"]
    lines.append("<tr>" + "".join(f"<th>{name}</th>" for name in CHECK_COLUMNS) + "</tr>")
    lines += [
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in checks_table(assessment)
    ]
    return "\n".join([*lines, "</table>"])


def _value_text(check: Check) -> str:
    if check.interval is None:
        return f"{check.value:.4f}"
    return f"{check.value:.4f} [{check.interval[0]:.4f}, {check.interval[1]:.4f}]"


def _limit_text(check: Check) -> str:
    """The limit compared with, and where it comes from."""
    sign = "<=" if check.kind == "max" else ">="
    if check.interval is not None:
        baseline = "" if check.baseline is None else f"; reference {check.baseline:.4f}"
        return f"interval {sign} {check.floor:.4g}{baseline}"
    if check.no_change_limit is None or check.limit == check.floor:
        return f"{sign} {check.floor:.4g} (floor)"
    return f"{sign} {check.limit:.4g} (no change at this size)"


def window_dates(window: Window) -> str:
    """``2026-12-01 10:00 to 2026-12-01 11:00 UTC`` (the first window starts at the first file)."""
    start = f"{window.start:%Y-%m-%d %H:%M}" if window.start else "the first scored file"
    return f"{start} to {window.last_scored:%Y-%m-%d %H:%M} UTC"


def snapshot_label(assessment: Assessment, window: Window, model: ModelId) -> dict:
    """Name, tags and metadata of the window's Evidently snapshot, so that the Reports list
    tells which window and model each one judged, and its verdict."""
    return {
        "name": f"{model.name} v{model.version}, window {window_dates(window)}: "
        f"{assessment.verdict}",
        "tags": [
            f"model v{model.version}",
            "violated" if assessment.violations else "no violation",
            f"window {window.key}",
        ],
        "metadata": {
            "model_name": model.name,
            "model_version": str(model.version),
            "window": window.key,
            "rows_scored": str(window.rows_scored),
            "verdict": assessment.verdict,
            "violations": assessment.describe_violations(),
        },
    }


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    assessment: Assessment,
    found: tuple[Window, ModelId],
) -> Snapshot | None:
    """Evidently's drift report with the monitor's flag thresholds and drift-share rule, named and
    tagged with the window and the model.

    None when no row was scored (there is nothing to compare).
    """
    if not assessment.column_thresholds:
        return None
    window, model = found
    observed = list(assessment.column_thresholds)
    definition = DataDefinition(
        numerical_columns=[name for name in [*observed, RISK] if METHODS[name] == "wasserstein"],
        categorical_columns=[name for name in observed if METHODS[name] == "jensenshannon"],
    )
    checks = {check.metric: check for check in assessment.checks}
    report = Report(
        [
            DataDriftPreset(
                columns=observed,
                num_method="wasserstein",
                cat_method="jensenshannon",
                per_column_threshold=assessment.column_thresholds,
                drift_share=evidently_drift_share(checks[DRIFT_SHARE].limit, len(observed)),
            ),
            ValueDrift(column=RISK, method="wasserstein", threshold=checks[RISK_DRIFT].limit),
            RowCount(),
            MeanValue(column=RISK),
        ]
    )
    columns = [*observed, RISK]
    return report.run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
        timestamp=window.last_scored,
        **snapshot_label(assessment, window, model),
    )


def evidently_drift_share(limit: float, columns: int) -> float:
    """Evidently's ``drift_share`` for the monitor's rule: Evidently detects dataset drift when
    the share of drifted columns reaches ``drift_share``, the monitor when it exceeds ``limit``.
    With ``columns`` columns the share moves in steps of 1/columns, so the smallest step beyond
    the limit makes the two agree."""
    return (math.floor(limit * columns + 1e-9) + 1) / columns


def report_header(assessment: Assessment, window: Window, model: ModelId) -> str:
    """The report's first lines: model, window, rows, verdict, the checks, and how Evidently's
    verdicts below relate to the monitor's."""
    violations = "".join(
        f"<li>{escape(part)}</li>" for part in assessment.describe_violations().split(", ")
    )
    labelled = f", {assessment.rows_labelled} labelled" if assessment.rows_labelled else ""
    return "\n".join(
        [
            "<section style='font-family: sans-serif; max-width: 60em; margin: 1em'>",
            f"<h1>Monitoring of {escape(model.name)} v{model.version}</h1>",
            f"<p><b>Window</b>: {window_dates(window)}; {len(window.files)} file(s), "
            f"{window.rows_scored} rows scored, {window.rows_rejected} rejected{labelled}.</p>",
            f"<p><b>Verdict</b>: {assessment.verdict}"
            + (f":</p>\n<ul>{violations}</ul>" if assessment.violations else ".</p>"),
            f"<p>Limits calibrated for {assessment.calibration_rows} rows; each data check may "
            f"alarm by chance with probability {assessment.check_level:.2g}.</p>",
            checks_table_html(assessment),
            f"<p>{EXPLANATION}</p>",
            "</section>",
        ]
    )


def save_report(
    snapshot: Snapshot, assessment: Assessment, reports_dir: Path, found: tuple[Window, ModelId]
) -> Path:
    """The window's HTML report: the monitor's header above Evidently's report.

    Evidently's script and font (3.6 MB) live once in ``assets/`` beside the reports, so that each
    report weighs what its own figures need.
    """
    window, model = found
    reports_dir.mkdir(parents=True, exist_ok=True)
    html = _shared_assets(snapshot.get_html_str(as_iframe=False), reports_dir)
    body = html.find("<body>")
    insert_at = body + len("<body>") if body >= 0 else 0
    header = report_header(assessment, window, model)
    path = reports_dir / window.report_name
    path.write_text(html[:insert_at] + header + html[insert_at:], "utf-8")
    return path


def _shared_assets(html: str, reports_dir: Path) -> str:
    """``html`` with Evidently's embedded script and font replaced by links to one shared copy."""
    assets = reports_dir / ASSETS
    assets.mkdir(exist_ok=True)
    script, font = f"evidently-{version('evidently')}.js", "material-ui-icons.woff2"
    for name, source in ((script, "index.js"), (font, font)):
        if not (assets / name).exists():
            shutil.copyfile(_STATIC / source, assets / name)
    embedded_script = (_STATIC / "index.js").read_text("utf-8")
    embedded_font = base64.b64encode((_STATIC / font).read_bytes()).decode()
    html = html.replace(
        f"<script>{embedded_script}</script>", f'<script src="{ASSETS}/{script}"></script>'
    )
    return html.replace(f"url(data:font/ttf;base64,{embedded_font})", f"url({ASSETS}/{font})")
