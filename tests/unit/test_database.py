"""Our tables come from Alembic migrations: a new database, the last release's, concurrent opens."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from heart_batch.monitoring import history as monitor_store
from heart_batch.storage import ledger
from heart_batch.storage.database import connect_database, open_database, upgrade
from tests.conftest import REPO_ROOT

HEAD_REVISION = "0002"
PREVIOUS_RELEASE_REVISION = "0001"
"""The revision of the oldest release an upgrade is supported from (docs/upgrading.md)."""


def schema_differences(engine: sa.Engine) -> list:
    """What the tables lack or have beyond what the code's table definitions say."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            difference
            for metadata in (ledger.METADATA, monitor_store.METADATA)
            for difference in compare_metadata(context, metadata)
            if difference[0] != "remove_table"  # each metadata holds only its own tables
        ]


def revision(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_a_new_database_gets_exactly_the_tables_the_code_queries(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'heart.db'}")
    assert revision(engine) == HEAD_REVISION
    assert schema_differences(engine) == []


def test_the_previous_release_s_database_keeps_its_rows_and_gains_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'heart.db'}"
    upgrade(connect_database(url), PREVIOUS_RELEASE_REVISION)
    with sa.create_engine(url).begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO scored_files (content_hash, file_id, source_name, status, "
                "claimed_by, claimed_at, finished_at) VALUES "
                "('abc', 'ward7_abc', 'ward7.csv', 'scored', 'h:1:x', '2026-01-01', '2026-01-01')"
            )
        )
    engine = open_database(url)
    assert revision(engine) == HEAD_REVISION
    assert schema_differences(engine) == []
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT file_id, repeated_headers FROM scored_files")
        ).all()
    assert rows == [("ward7_abc", None)]


def test_threads_opening_a_new_database_at_once_all_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'heart.db'}"
    with ThreadPoolExecutor(8) as pool:
        engines = list(pool.map(lambda _: open_database(url), range(8)))
    assert {revision(engine) for engine in engines} == {HEAD_REVISION}


def test_processes_opening_a_new_sqlite_database_at_once_all_succeed(tmp_path):
    # As the Dask workers of a first score run do. Without SQLite's write lock around the upgrade,
    # about one process in four failed: both created the tables and stamped the revision.
    url = f"sqlite:///{tmp_path / 'heart.db'}"
    start_at = time.time() + 5  # after every process has imported, all at once
    opener = (
        "import sys, time; from heart_batch.storage.database import open_database; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); open_database(sys.argv[1])"
    )
    # All at once, so not one `with` each; communicate() below reaps every one.
    processes = [
        subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", opener, url, str(start_at)],
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    errors = [process.communicate()[1] for process in processes]
    failures = [error for error, process in zip(errors, processes) if process.returncode]
    assert not failures, failures[0]
    assert revision(open_database(url)) == HEAD_REVISION
