"""The ledger and the monitoring history: the tables of the first release with migrations.

Revision ID: 0001
Revises:
"""

# Alembic's names: revision files start with their id, and `op` is a proxy filled in at run time.
# pylint: disable=invalid-name,no-member
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def tables() -> dict[str, list[sa.Column]]:
    """The tables of this revision, as new (unattached) columns."""
    return {
        "scored_files": [
            sa.Column("content_hash", sa.String(64), primary_key=True),
            sa.Column("file_id", sa.String(300), nullable=False),
            sa.Column("source_name", sa.String(300), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("claimed_by", sa.String(200), nullable=False),
            sa.Column("claimed_at", TIME, nullable=False),
            sa.Column("finished_at", TIME),
            sa.Column("rows_total", sa.Integer),
            sa.Column("rows_scored", sa.Integer),
            sa.Column("rows_rejected", sa.Integer),
            sa.Column("rows_imputed", sa.Integer),
            sa.Column("model_name", sa.String(200)),
            sa.Column("model_version", sa.String(50)),
            sa.Column("predictions_path", sa.Text),
            sa.Column("rejected_path", sa.Text),
            sa.Column("error", sa.Text),
        ],
        "monitoring_runs": [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("flow_run_id", sa.String(64)),
            sa.Column("created_at", TIME, nullable=False),
            sa.Column("status", sa.String(30), nullable=False),
            sa.Column("window_key", sa.String(80)),
            sa.Column("window_start", TIME),
            sa.Column("window_end", TIME),
            sa.Column("files", sa.Integer, nullable=False),
            sa.Column("rows_scored", sa.Integer, nullable=False),
            sa.Column("rows_rejected", sa.Integer, nullable=False),
            sa.Column("rows_labelled", sa.Integer),
            sa.Column("model_name", sa.String(200), nullable=False),
            sa.Column("model_version", sa.String(50), nullable=False),
            sa.Column("violated", sa.Boolean),
            sa.Column("violations", sa.Text),
            sa.Column("calibration_rows", sa.Integer),
            sa.Column("check_level", sa.Float),
            sa.Column("error", sa.Text),
            sa.Column("report_path", sa.Text),
            sa.Column("alert_sent", sa.Boolean, nullable=False),
            sa.Column("alert_error", sa.Text),
            sa.Column("training_flow_run_id", sa.String(64)),
            sa.Column("training_triggered_at", TIME),
            sa.Column("training_note", sa.Text),
        ],
        "monitoring_metrics": [
            sa.Column("run_id", sa.Integer, sa.ForeignKey("monitoring_runs.id"), primary_key=True),
            sa.Column("metric", sa.String(80), primary_key=True),
            sa.Column("value", sa.Float, nullable=False),
            sa.Column("threshold", sa.Float),
            sa.Column("kind", sa.String(3)),
            sa.Column("violated", sa.Boolean),
            sa.Column("floor", sa.Float),
            sa.Column("no_change_limit", sa.Float),
            sa.Column("interval_low", sa.Float),
            sa.Column("interval_high", sa.Float),
        ],
    }


def upgrade() -> None:
    """Create the tables."""
    for table, columns in tables().items():
        op.create_table(table, *columns)
