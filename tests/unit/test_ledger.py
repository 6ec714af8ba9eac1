"""The ledger: claims are exclusive, stale claims are taken over, outcomes are recorded."""

import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from heart_batch.storage.ledger import (
    SCORED_FILES,
    ClaimOutcome,
    Ledger,
    ScoredCounts,
    new_claimant,
)

HASH = "f" * 64
COUNTS = ScoredCounts(total=3, scored=2, rejected=1, imputed=1)


@pytest.fixture
def ledger(settings) -> Ledger:
    """The ledger in the embedded SQLite file (tests/integration runs these on PostgreSQL)."""
    return Ledger(settings.database_url, lease_seconds=60)


def dead_claimant() -> str:
    """A claimant on this host whose process has exited."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return f"{socket.gethostname()}:{process.stdout.strip()}:deadbeef"


def claim(ledger: Ledger, claimant: str) -> ClaimOutcome:
    return ledger.claim(HASH, "file_ffffffffffff", "file.csv", claimant)


def test_a_new_file_is_claimed_once(ledger):
    assert claim(ledger, new_claimant()) is ClaimOutcome.CLAIMED
    assert claim(ledger, new_claimant()) is ClaimOutcome.BUSY


def test_a_scored_file_is_never_claimed_again(ledger):
    me = new_claimant()
    claim(ledger, me)
    ledger.mark_scored(HASH, me, COUNTS, ("heart", "3"), ("/out/p.parquet", None))
    assert claim(ledger, new_claimant()) is ClaimOutcome.ALREADY_SCORED
    record = ledger.record(HASH)
    assert (record["status"], record["rows_total"], record["model_version"]) == ("scored", 3, "3")


def test_the_claim_of_a_dead_process_is_taken_over(ledger):
    claim(ledger, dead_claimant())
    me = new_claimant()
    assert claim(ledger, me) is ClaimOutcome.CLAIMED
    assert ledger.record(HASH)["claimed_by"] == me


@pytest.mark.parametrize(
    ("age_seconds", "outcome"), [(10, ClaimOutcome.BUSY), (120, ClaimOutcome.CLAIMED)]
)
def test_a_claim_from_another_host_expires_with_its_lease(ledger, age_seconds, outcome):
    claim(ledger, "other-host:1234:cafebabe")  # the lease is 60 s
    claimed_at = datetime.now(timezone.utc) - timedelta(seconds=age_seconds)
    with ledger.engine.begin() as connection:
        connection.execute(update(SCORED_FILES).values(claimed_at=claimed_at))
    assert claim(ledger, new_claimant()) is outcome


@pytest.mark.parametrize("finish", ["mark_failed", "mark_quarantined"])
def test_failed_and_quarantined_files_can_be_tried_again(ledger, finish):
    me = new_claimant()
    claim(ledger, me)
    getattr(ledger, finish)(HASH, me, "problem")
    assert claim(ledger, new_claimant()) is ClaimOutcome.CLAIMED
    assert ledger.record(HASH)["error"] is None


def test_finishing_a_claim_taken_over_by_another_run_fails_loudly(ledger):
    claim(ledger, dead_claimant())
    claim(ledger, new_claimant())
    with pytest.raises(RuntimeError, match="lost to another run"):
        ledger.mark_scored(HASH, dead_claimant(), COUNTS, ("heart", "1"), ("/p", None))
