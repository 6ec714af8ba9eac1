"""Our own tables' database: any SQLAlchemy URL, SQLite by default."""

from sqlalchemy import Engine, MetaData, create_engine, inspect, text
from sqlalchemy.exc import OperationalError


def open_database(database_url: str, metadata: MetaData) -> Engine:
    """An engine for ``database_url`` whose ``metadata`` tables exist with all their columns.

    SQLite waits up to 30 s for a lock held by a concurrent run instead of failing at once. A table
    created by an older release gets the nullable columns added since (``add_new_columns``).
    """
    connect_args = {"timeout": 30} if database_url.startswith("sqlite") else {}
    engine = create_engine(database_url, connect_args=connect_args)
    try:
        metadata.create_all(engine)
    except OperationalError:  # a concurrent run created the tables between check and create
        metadata.create_all(engine)
    add_new_columns(engine, metadata)
    return engine


def add_new_columns(engine: Engine, metadata: MetaData) -> list[str]:
    """Add to existing tables the nullable columns ``metadata`` has and they lack.

    Returns:
        The columns added, as ``table.column``.
    """
    existing = inspect(engine)
    added = []
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            present = {column["name"] for column in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name in present or not column.nullable:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                connection.execute(
                    text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                )
                added.append(f"{table.name}.{column.name}")
    return added
