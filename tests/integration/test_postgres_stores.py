"""Our tables on a real PostgreSQL server: Alembic's schema, and the ledger's claim race.

The claim is an INSERT on the primary key, or a compare-and-swap UPDATE of a stale claim, both
under PostgreSQL's default READ COMMITTED: a second INSERT of the same key waits for the first
transaction and then fails on the key; a second UPDATE waits, re-reads the row and no longer
matches its WHERE. So no file is ever claimed twice, whatever the number of claimants.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from itertools import chain

import pytest
import sqlalchemy as sa

from heart_batch.storage.database import open_database
from heart_batch.storage.ledger import ClaimOutcome, Ledger, new_claimant
from tests.claimants import claim_all, claim_in_threads
from tests.unit.test_database import HEAD_REVISION, revision, schema_differences

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

FILES = [f"{number:064x}" for number in range(60)]


def test_a_new_database_gets_exactly_the_tables_the_code_queries(postgres_database):
    engine = open_database(postgres_database)
    assert engine.dialect.name == "postgresql"
    assert revision(engine) == HEAD_REVISION
    assert schema_differences(engine) == []


def test_processes_opening_a_new_database_at_once_all_succeed(postgres_database):
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=spawn) as pool:
        opened = list(pool.map(claim_all, [postgres_database] * 4, [[]] * 4))
    assert opened == [[]] * 4
    assert revision(sa.create_engine(postgres_database)) == HEAD_REVISION


def test_many_threads_and_processes_claim_each_file_exactly_once(postgres_database):
    open_database(postgres_database)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=spawn) as pool:
        winners = list(
            chain(*pool.map(claim_in_threads, [postgres_database] * 4, [FILES] * 4, [4] * 4))
        )
    assert sorted(winners) == FILES  # 16 claimants, 60 files: each won once, none lost
    ledger = Ledger(postgres_database)
    assert {ledger.record(h)["status"] for h in FILES} == {"claimed"}
    taken_over = ledger.claim(FILES[0], "f", "f.csv", new_claimant())
    assert taken_over == ClaimOutcome.CLAIMED  # its claimant's process has exited
