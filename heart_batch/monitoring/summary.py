"""What a monitoring run found and did, as one line and as the ``monitoring-run`` artifact."""

from dataclasses import dataclass, field

from heart_batch.contract.columns import ModelId
from heart_batch.monitoring.checks import Assessment
from heart_batch.monitoring.history import EVALUATED, FAILED, WindowStatus
from heart_batch.monitoring.report import checks_markdown


@dataclass
class MonitoringOutcome:  # pylint: disable=too-many-instance-attributes
    """What a monitoring run found and did."""

    status: WindowStatus
    window_rows: int
    violations: list[str] = field(default_factory=list)
    described_violations: str = ""
    report_path: str = ""
    alert_sent: bool = False
    delayed_alerts_sent: int = 0
    training_flow_run_id: str | None = None
    retraining: str = "no retraining triggered"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def one_line(self, min_window_rows: int) -> str:
        """The run's outcome in one line: the final state message and the last log line."""
        if self.status == FAILED:
            return "; ".join(self.problems)
        if self.status != EVALUATED:
            return (
                f"Insufficient data: {self.window_rows} rows since the last window (minimum "
                f"{min_window_rows}); carried over to the next run"
            )
        parts = [f"Window of {self.window_rows} rows: {self.described_violations or 'ok'}"]
        if self.violations:
            parts.append("alert emailed" if self.alert_sent else "no email sent")
            parts.append(self.retraining)
        parts.append(f"report: {self.report_path or 'none'}")
        parts += self.problems
        return "; ".join(parts)

    def markdown(self, assessment: Assessment | None, model: ModelId, min_rows: int) -> str:
        """The ``monitoring-run`` artifact: the outcome first, then every check."""
        lines = [
            f"# Monitoring of `{model.name}` v{model.version}",
            "",
            f"**{self.one_line(min_rows)}**",
            "",
            f"Status: {self.status}, {self.window_rows} rows scored in the window (minimum "
            f"{min_rows} input rows). Delayed alerts sent: {self.delayed_alerts_sent}.",
        ]
        if assessment is not None:
            lines += [
                "",
                f"Limits calibrated for {assessment.calibration_rows} rows; each data check may "
                f"alarm by chance with probability {assessment.check_level:.2g}.",
                "",
                checks_markdown(assessment),
            ]
        lines += [f"\n**Note:** {note}" for note in self.notes]
        return "\n".join(lines)

    def description(self, model: ModelId) -> str:
        """The artifact's description, as Prefect's artifact list shows it."""
        verdict = "; ".join(self.violations[:3]) + ("..." if len(self.violations) > 3 else "")
        return f"{model.name} v{model.version}: {self.status}" + (
            f", violated: {verdict}" if verdict else ""
        )
