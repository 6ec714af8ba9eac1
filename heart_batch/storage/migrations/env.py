"""Alembic's entry point for our tables: runs on the connection ``storage.database`` passes.

A new schema change is a new file in ``versions/``:
``.venv/bin/alembic -c heart_batch/storage/migrations/alembic.ini revision -m "what changes"``,
then fill in ``upgrade()``. Every process that opens the database upgrades it to the newest
revision.
"""

# alembic.context is a proxy that Alembic fills in when it runs this file.
# pylint: disable=no-member
from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
