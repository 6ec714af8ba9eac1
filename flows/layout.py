"""The outputs layout upgrade both the score and the monitor flow start with."""

from prefect import get_run_logger, task

from heart_batch.layout import pending_moves, upgrade_outputs
from heart_batch.settings import Settings


@task(retries=2, retry_delay_seconds=5)
def upgrade_layout(settings: Settings) -> list[str]:
    """Move an older release's rejections, reports and workspace out of the predictions' way."""
    return upgrade_outputs(settings)


def upgrade_layout_if_needed(settings: Settings) -> None:
    """Run (and log) the upgrade only when an older release left something to move."""
    if pending_moves(settings):
        for move in upgrade_layout(settings):
            get_run_logger().info("Outputs layout upgraded: %s", move)
