"""Files that fail every run, repeated headers, and alerts kept until they are sent.

- ``file_failures``: each failure of a file (by content, or by name, size and time when it cannot
  be read), so that a file failing ``HEART_MAX_FILE_ATTEMPTS`` times is quarantined with its
  history instead of failing every run;
- ``scored_files.repeated_headers``: header lines skipped inside a file;
- ``monitoring_runs.alert_subject``, ``alert_body``, ``alert_attempts``: an alert that could not
  be sent is kept (aggregates only) and sent by the next monitor run.

Revision ID: 0002
Revises: 0001
"""

# Alembic's names: revision files start with their id, and `op` is a proxy filled in at run time.
# pylint: disable=invalid-name,no-member
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """The new table and the new nullable columns."""
    op.create_table(
        "file_failures",
        sa.Column("file_key", sa.String(400), primary_key=True),
        sa.Column("source_name", sa.String(300), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_failed_at", TIME, nullable=False),
        sa.Column("last_failed_at", TIME, nullable=False),
        sa.Column("history", sa.Text, nullable=False),
    )
    op.add_column("scored_files", sa.Column("repeated_headers", sa.Integer))
    for name, kind in (
        ("alert_subject", sa.Text),
        ("alert_body", sa.Text),
        ("alert_attempts", sa.Integer),
    ):
        op.add_column("monitoring_runs", sa.Column(name, kind))
