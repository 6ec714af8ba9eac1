"""What an alert says and when monitoring may retrain: aggregates only, never patient rows."""

import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from html import escape, unescape

from heart_batch.contract.columns import ModelId
from heart_batch.contract.words import plural
from heart_batch.monitoring.checks import (
    FEATURE_DRIFT,
    MISSING,
    SUBGROUP_CALIBRATION,
    SUBGROUP_RISK_DRIFT,
    Assessment,
    Check,
    Window,
)
from heart_batch.monitoring.report import checks_table_html, window_dates

_NAMES = {
    "drift_share": "share of drifted features",
    "risk_drift": "drift of the predicted risk",
    "missing_share": "share of imputed values",
    "rejected_share": "share of rejected rows",
    "roc_auc": "ROC AUC on labelled rows",
    "brier": "Brier score on labelled rows",
}


def describe(check: Check) -> str:
    """One violated check in words, e.g. ``drift of thalachh 0.81 > 0.21``."""
    if check.metric.startswith(MISSING):
        feature = check.metric.removeprefix(MISSING)
        return f"{feature}: 100 % missing in the window, {check.floor * 100:.0f} % in the reference"
    name = _NAMES.get(check.metric) or _prefixed_name(check.metric)
    if check.interval is not None:
        low, high = check.interval
        return f"{name} {check.value:.3g} (interval {low:.3g} to {high:.3g}) beyond {check.floor:g}"
    return f"{name} {check.value:.3g} {'>' if check.kind == 'max' else '<'} {check.limit:.3g}"


def _prefixed_name(metric: str) -> str:
    for prefix, words in (
        (SUBGROUP_RISK_DRIFT, "drift of the predicted risk for"),
        (SUBGROUP_CALIBRATION, "observed rate minus mean risk for"),
    ):
        if metric.startswith(prefix):
            return f"{words} {metric.removeprefix(prefix).replace('_', ' ')}"
    return f"drift of {metric.removeprefix(FEATURE_DRIFT)}"


def alert_subject(assessment: Assessment, model: ModelId) -> str:
    """Names every violated check with its value and limit."""
    violated = "; ".join(describe(check) for check in assessment.violations)
    return f"[heart-batch] {model[0]} v{model[1]}: {violated}"


def alert_body(
    assessment: Assessment, model: ModelId, window: Window, report_path: str | None
) -> str:
    """HTML body: window, model, every check with its floor and no-change limit, the report.

    One element per line: SMTP refuses lines over 998 characters.
    """
    violations = "\n".join(f"<li>{escape(describe(c))}</li>" for c in assessment.violations)
    return "\n".join(
        [
            f"<p>Monitoring of <b>{model[0]} v{model[1]}</b> found a violation.</p>",
            _window_line(window, assessment.rows_labelled),
            f"<ul>\n{violations}\n</ul>",
            f"<p>Limits calibrated for a window of {assessment.calibration_rows} rows; each "
            f"data check may alarm by chance with probability {assessment.check_level:.2g}.</p>",
            checks_table_html(assessment),
            f"<p>Report: {report_path or 'none (no row was scored)'}</p>",
        ]
    )


def failure_subject(model: ModelId) -> str:
    """Subject of the email about a window that could not be judged."""
    return f"[heart-batch] {model[0]} v{model[1]}: monitoring could not judge a window"


def failure_body(model: ModelId, window: Window, error: str) -> str:
    """HTML body: which window, the error, and that the next run moves on."""
    return "\n".join(
        [
            f"<p>Monitoring of <b>{model[0]} v{model[1]}</b> could not judge a window.</p>",
            _window_line(window, None),
            f"<p>Error: {escape(error)}</p>",
            "<p>The window is recorded as failed; the next run judges the files scored after "
            "it.</p>",
        ]
    )


def _window_line(window: Window, rows_labelled: int | None) -> str:
    labelled = f", {rows_labelled} labelled" if rows_labelled is not None else ""
    return (
        f"<p>Window: {window_dates(window)}; {plural(len(window.files), 'file')}, "
        f"{plural(window.rows_scored, 'row')} scored, {window.rows_rejected} rejected"
        f"{labelled}.</p>"
    )


def retraining_allowed(last_trigger: datetime | None, now: datetime, cooldown_hours: float) -> bool:
    """No second retraining within the cooldown of the previous one."""
    return last_trigger is None or now - last_trigger >= timedelta(hours=cooldown_hours)


def alert_email(message: tuple[str, str], sender: str, recipients: list[str]) -> EmailMessage:
    """The email of an alert: its subject, a plain-text part and the HTML body; only the
    headers that have a value."""
    subject, html = message
    email = EmailMessage()
    email["Subject"], email["From"], email["To"] = subject, sender, ", ".join(recipients)
    email.set_content(plain_text(html))
    email.add_alternative(html, subtype="html")
    return email


def plain_text(html: str) -> str:
    """The HTML body as text: one line per element, table cells separated by `` | ``."""
    text = re.sub(r"</t[dh]>\s*<t[dh][^>]*>", " | ", html)
    text = re.sub(r"<li>", "- ", text)
    return unescape(re.sub(r"<[^>]+>", "", text))
