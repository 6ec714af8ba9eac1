"""What an alert says and when monitoring may retrain: aggregates only, never patient rows."""

from datetime import datetime, timedelta

from heart_batch.monitoring import Assessment, Window

_NAMES = {
    "drift_share": "share of drifted features",
    "risk_drift": "drift of the predicted risk",
    "missing_share": "share of imputed values",
    "rejected_share": "share of rejected rows",
    "roc_auc": "ROC AUC on labelled rows",
    "brier": "Brier score on labelled rows",
}


def alert_subject(assessment: Assessment, model: tuple[str, str]) -> str:
    """Names every violated metric, e.g. ``share of drifted features 0.77 > 0.3``."""
    violated = "; ".join(
        f"{_NAMES[check.metric]} {check.value:.3g} {'>' if check.kind == 'max' else '<'} "
        f"{check.threshold:g}"
        for check in assessment.violations
    )
    return f"[heart-batch] {model[0]} v{model[1]}: {violated}"


def alert_body(
    assessment: Assessment, model: tuple[str, str], window: Window, report_path: str
) -> str:
    """HTML body: window, model, every metric with its threshold, the drifted features, the report.

    One element per line: SMTP refuses lines over 998 characters.
    """
    rows = "\n".join(
        f"<tr><td>{_NAMES[c.metric]}</td><td>{c.value:.4f}</td>"
        f"<td>{'&le;' if c.kind == 'max' else '&ge;'} {c.threshold:g}</td>"
        f"<td>{'VIOLATED' if c.violated else 'ok'}</td></tr>"
        for c in assessment.checks
    )
    drifted = ", ".join(
        f"{name} ({score:.2f})"
        for name, score in sorted(assessment.feature_drift.items(), key=lambda item: -item[1])
        if score >= 0.1
    )
    start = window.start.isoformat() if window.start else "the first scored file"
    return "\n".join(
        [
            f"<p>Monitoring of <b>{model[0]} v{model[1]}</b> found a violation.</p>",
            f"<p>Window: {start} to {window.end.isoformat()}; {len(window.files)} files, "
            f"{window.rows_scored} rows scored, {window.rows_rejected} rejected, "
            f"{assessment.rows_labelled} labelled.</p>",
            "<table border='1' cellpadding='4'>",
            "<tr><th>metric</th><th>value</th><th>threshold</th><th>status</th></tr>",
            rows,
            "</table>",
            f"<p>Drifted features (distance &ge; 0.1): {drifted or 'none'}</p>",
            f"<p>Report: {report_path}</p>",
        ]
    )


def retraining_allowed(last_trigger: datetime | None, now: datetime, cooldown_hours: float) -> bool:
    """No second retraining within the cooldown of the previous one."""
    return last_trigger is None or now - last_trigger >= timedelta(hours=cooldown_hours)
