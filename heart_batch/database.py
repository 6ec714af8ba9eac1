"""Our own tables' database: any SQLAlchemy URL (SQLite by default, PostgreSQL in production),
its schema versioned by Alembic (``heart_batch/migrations``)."""

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_263_001
"""PostgreSQL advisory lock that serialises concurrent upgrades of one database."""
_ALEMBIC = threading.Lock()
"""Alembic's ``op`` and ``context`` are module globals: one upgrade at a time per process."""


def open_database(database_url: str) -> Engine:
    """An engine for ``database_url``, its tables upgraded to the newest revision."""
    engine = connect_database(database_url)
    try:
        upgrade(engine)
    except OperationalError:  # SQLite: a concurrent process was creating the same tables
        upgrade(engine)
    return engine


def connect_database(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite waits up to 30 s for a concurrent run's lock."""
    connect_args = {"timeout": 30} if database_url.startswith("sqlite") else {}
    return create_engine(database_url, connect_args=connect_args)


def upgrade(engine: Engine) -> None:
    """Apply the migrations this database lacks, in one transaction.

    On PostgreSQL the transaction first takes an advisory lock, so concurrent processes upgrade
    one after the other (DDL is transactional there: the second sees the first's tables).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _ALEMBIC, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
