"""The ledger's behaviours on a real PostgreSQL database: the unit tests, run against it."""

# pylint: disable=unused-import  # the imported tests are collected here, with this ledger
import pytest

from heart_batch.storage.ledger import Ledger
from tests.unit.test_ledger import (
    test_a_claim_from_another_host_expires_with_its_lease,
    test_a_new_file_is_claimed_once,
    test_a_scored_file_is_never_claimed_again,
    test_failed_and_quarantined_files_can_be_tried_again,
    test_finishing_a_claim_taken_over_by_another_run_fails_loudly,
    test_the_claim_of_a_dead_process_is_taken_over,
)


@pytest.fixture
def ledger(postgres_database) -> Ledger:
    """The ledger in a new database of the session's PostgreSQL server."""
    return Ledger(postgres_database, lease_seconds=60)
