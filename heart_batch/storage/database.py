"""Our own tables' database: any SQLAlchemy URL (SQLite by default, PostgreSQL in production),
its schema versioned by Alembic (``heart_batch/storage/migrations``)."""

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_263_001
"""PostgreSQL advisory lock that serialises concurrent upgrades of one database."""
_ALEMBIC = threading.Lock()
"""Alembic's ``op`` and ``context`` are module globals: one upgrade at a time per process."""


def open_database(database_url: str) -> Engine:
    """An engine for ``database_url``, its tables upgraded to the newest revision."""
    engine = connect_database(database_url)
    upgrade(engine)
    return engine


def connect_database(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite waits up to 30 s for a concurrent run's lock
    (``?timeout=<seconds>`` in the URL says otherwise)."""
    sqlite = database_url.startswith("sqlite")
    connect_args = {"timeout": 30} if sqlite and "timeout=" not in database_url else {}
    return create_engine(database_url, connect_args=connect_args)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations this database lacks (up to ``revision``), in one transaction.

    The transaction first takes a lock, so that concurrent processes upgrade one after the other
    and the second finds the first's revision: an advisory lock on PostgreSQL, SQLite's write
    lock (``BEGIN IMMEDIATE``; Python's sqlite3 would otherwise run the DDL outside any
    transaction, and two processes would both create the tables and stamp the revision).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _ALEMBIC, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
