"""The local Evidently workspace: every judged window as a snapshot, shown as dashboards.

`make evidently-ui` serves it (``evidently ui --workspace outputs/evidently``).
"""

from pathlib import Path

from evidently.core.report import Snapshot
from evidently.sdk.models import PanelMetric
from evidently.sdk.panels import line_plot_panel, text_panel
from evidently.ui.workspace import Project, Workspace

PROJECT = "heart-batch monitoring"
_DRIFTED_COLUMNS = "evidently:metric_v2:DriftedColumnsCount"
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


def add_snapshot(snapshot: Snapshot, workspace_path: Path) -> str:
    """Store a window's snapshot (without row data) and return the project's id."""
    workspace = Workspace.create(str(workspace_path))
    project = _project(workspace)
    workspace.add_run(project.id, snapshot, include_data=False)
    return str(project.id)


def _project(workspace: Workspace) -> Project:
    existing = workspace.search_project(PROJECT)
    if existing:
        return existing[0]
    project = workspace.create_project(PROJECT)
    project.description = "Drift of heart-batch's scored windows against the champion's reference"
    project.dashboard.add_panel(text_panel(title="Drift of scored windows against the reference"))
    project.dashboard.add_panel(
        line_plot_panel(
            title="Share of drifted features",
            values=[
                PanelMetric(
                    legend="share", metric=_DRIFTED_COLUMNS, metric_labels={"value_type": "share"}
                )
            ],
            size="full",
        )
    )
    project.dashboard.add_panel(
        line_plot_panel(
            title="Drift of the predicted risk (Wasserstein, normed)",
            values=[
                PanelMetric(legend="risk", metric=_VALUE_DRIFT, metric_labels={"column": "risk"})
            ],
            size="full",
        )
    )
    project.save()
    return project
