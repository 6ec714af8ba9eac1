"""Our own tables' database: any SQLAlchemy URL, SQLite by default."""

from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.exc import OperationalError


def open_database(database_url: str, metadata: MetaData) -> Engine:
    """An engine for ``database_url`` whose ``metadata`` tables exist.

    SQLite waits up to 30 s for a lock held by a concurrent run instead of failing at once.
    """
    connect_args = {"timeout": 30} if database_url.startswith("sqlite") else {}
    engine = create_engine(database_url, connect_args=connect_args)
    try:
        metadata.create_all(engine)
    except OperationalError:  # a concurrent run created the tables between check and create
        metadata.create_all(engine)
    return engine
