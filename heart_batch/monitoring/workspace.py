"""The local Evidently workspace: every judged window as a snapshot, shown as dashboards.

`make evidently-ui` serves it (``evidently ui --workspace outputs/evidently``).
"""

from pathlib import Path

from evidently.core.report import Snapshot
from evidently.sdk.models import PanelMetric
from evidently.sdk.panels import line_plot_panel, text_panel
from evidently.ui.workspace import Project, Workspace

PROJECT = "heart-batch monitoring"
_ROW_COUNT = "evidently:metric_v2:RowCount"
_MEAN_VALUE = "evidently:metric_v2:MeanValue"
DASHBOARD_TEXT = (
    "One snapshot per judged window, named by model version, window and the monitor's verdict, "
    "and tagged with them (filter the Reports list by 'violated' or 'model v3'). Inside a "
    "snapshot, a feature is 'Detected' when it counts towards the share of drifted features; the "
    "monitor's own decision for each check is in the report's first table (outputs/_reports/). "
    "Drift limits depend on the window's size, so the plots below show what is comparable "
    "between windows: rows judged and the mean predicted risk."
)


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
    project.dashboard.add_panel(
        text_panel(
            title="Scored windows against the champion's reference", description=DASHBOARD_TEXT
        )
    )
    project.dashboard.add_panel(
        line_plot_panel(
            title="Rows judged per window",
            values=[PanelMetric(legend="rows scored", metric=_ROW_COUNT)],
            size="half",
        )
    )
    project.dashboard.add_panel(
        line_plot_panel(
            title="Mean predicted risk per window",
            values=[
                PanelMetric(
                    legend="mean risk", metric=_MEAN_VALUE, metric_labels={"column": "risk"}
                )
            ],
            size="half",
        )
    )
    project.save()
    return project
