"""Our own tables' database: any SQLAlchemy URL, SQLite by default."""

from sqlalchemy import Column, Engine, MetaData, Table, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError


def open_database(database_url: str, metadata: MetaData) -> Engine:
    """An engine for ``database_url`` whose ``metadata`` tables exist with all their columns.

    A table created by an older release gets the nullable columns added since
    (``add_new_columns``).
    """
    engine = connect_database(database_url)
    try:
        metadata.create_all(engine)
    except OperationalError:  # a concurrent run created the tables between check and create
        metadata.create_all(engine)
    add_new_columns(engine, metadata)
    return engine


def connect_database(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite waits up to 30 s for a concurrent run's lock."""
    connect_args = {"timeout": 30} if database_url.startswith("sqlite") else {}
    return create_engine(database_url, connect_args=connect_args)


def add_new_columns(engine: Engine, metadata: MetaData) -> None:
    """Add to existing tables the nullable columns ``metadata`` has and they lack.

    A concurrent run may add the same column first: that is not an error.
    """
    for table in metadata.sorted_tables:
        for column in _missing_nullable_columns(engine, table):
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as connection:
                    connection.execute(
                        text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )
            except DBAPIError:
                if column.name not in _column_names(engine, table):
                    raise


def _missing_nullable_columns(engine: Engine, table: Table) -> list[Column]:
    present = _column_names(engine, table)
    return [c for c in table.columns if c.nullable and c.name not in present]


def _column_names(engine: Engine, table: Table) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table.name)}
