"""Claimants racing for the same files, in threads and processes (tests and the ledger bench).

Light on imports on purpose: every spawned process imports this module.
"""

from concurrent.futures import ThreadPoolExecutor
from itertools import chain

from heart_batch.storage.ledger import ClaimOutcome, Ledger, new_claimant


def claim_all(database_url: str, hashes: list[str]) -> list[str]:
    """Try to claim every file as one claimant; the hashes it won."""
    ledger, claimant = Ledger(database_url), new_claimant()
    won = [
        content_hash
        for content_hash in hashes
        if ledger.claim(content_hash, f"f_{content_hash[:12]}", "f.csv", claimant)
        == ClaimOutcome.CLAIMED
    ]
    ledger.engine.dispose()
    return won


def claim_in_threads(database_url: str, hashes: list[str], threads: int) -> list[str]:
    """``threads`` claimants in this process, each trying every file; the hashes they won."""
    with ThreadPoolExecutor(threads) as pool:
        return list(chain(*pool.map(lambda _: claim_all(database_url, hashes), range(threads))))
