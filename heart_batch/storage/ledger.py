"""The ledger: one row per input file content, so each file is scored exactly once.

A run *claims* a file's content hash before scoring it. The claim is an INSERT on the primary
key, or a compare-and-swap UPDATE when taking over a stale claim, so two concurrent runs can never
both hold it. A claim is stale when its process is gone (same host) or its lease has expired
(other hosts).
"""

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import overload

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from heart_batch.contract.columns import ModelId
from heart_batch.storage.database import open_database

METADATA = MetaData()

SCORED_FILES = Table(
    "scored_files",
    METADATA,
    Column("content_hash", String(64), primary_key=True),
    Column("file_id", String(300), nullable=False),
    Column("source_name", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("claimed_by", String(200), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("rows_total", Integer),
    Column("rows_scored", Integer),
    Column("rows_rejected", Integer),
    Column("rows_imputed", Integer),
    Column("model_name", String(200)),
    Column("model_version", String(50)),
    Column("predictions_path", Text),
    Column("rejected_path", Text),
    Column("error", Text),
    Column("repeated_headers", Integer),
)

FILE_FAILURES = Table(
    "file_failures",
    METADATA,
    Column("file_key", String(400), primary_key=True),
    Column("source_name", String(300), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", DateTime(timezone=True), nullable=False),
    Column("last_failed_at", DateTime(timezone=True), nullable=False),
    Column("history", Text, nullable=False),
)
"""Failures of a file, by ``file_key``: its content hash, or its name, size and time when it
cannot be read. A file that failed ``HEART_MAX_FILE_ATTEMPTS`` times is quarantined."""
HISTORY_LIMIT = 20


class Status(str, Enum):
    """Where a file content is in its life."""

    CLAIMED = "claimed"
    SCORED = "scored"
    QUARANTINED = "quarantined"
    FAILED = "failed"
    CHANGED = "changed"
    """The file changed while it was read; its next version is a new content."""


class ClaimOutcome(str, Enum):
    """Result of trying to claim a file."""

    CLAIMED = "claimed"
    ALREADY_SCORED = "already_scored"
    BUSY = "busy"


@dataclass(frozen=True)
class ScoredCounts:
    """Row counts of a scored file; ``total == scored + rejected`` always.

    ``broken`` counts the rejected rows that were lines that could not be read as rows of the
    header; ``headers`` the repeated header lines skipped (not rows: no patient is in them).
    """

    total: int
    scored: int
    rejected: int
    imputed: int
    broken: int = 0
    headers: int = 0


@dataclass(frozen=True)
class FailureHistory:
    """How often a file failed, and the last ``HISTORY_LIMIT`` failures: ``{"at", "error"}``."""

    attempts: int
    failures: list[dict]


def new_claimant() -> str:
    """Identity of this process in claims: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every time we store is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """Claims and outcomes of input files, in any SQLAlchemy database."""

    def __init__(self, database_url: str, lease_seconds: float | None = None):
        """``lease_seconds``: after this long, a claim by a process on another host is stale
        (``HEART_CLAIM_LEASE_SECONDS``); None, for a process that only reads: never."""
        self.engine: Engine = open_database(database_url)
        self.lease = None if lease_seconds is None else timedelta(seconds=lease_seconds)

    def claim(self, content_hash: str, file_id: str, source_name: str, claimant: str):
        """Claim a file content for scoring.

        Returns:
            ``ClaimOutcome.CLAIMED`` when this claimant now holds it, ``ALREADY_SCORED`` for content
            scored before, ``BUSY`` while another live run holds it.
        """
        claim = {"status": Status.CLAIMED.value, "claimed_by": claimant, "claimed_at": _utcnow()}
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(SCORED_FILES).values(
                        content_hash=content_hash, file_id=file_id, source_name=source_name, **claim
                    )
                )
            return ClaimOutcome.CLAIMED
        except IntegrityError:
            pass
        current = self.record(content_hash)
        if current is None:  # released between the insert and this read: try again
            return self.claim(content_hash, file_id, source_name, claimant)
        if current["status"] == Status.SCORED.value:
            return ClaimOutcome.ALREADY_SCORED
        if current["status"] == Status.CLAIMED.value and not self._is_stale(current):
            return ClaimOutcome.BUSY
        with self.engine.begin() as connection:
            taken = connection.execute(
                update(SCORED_FILES)
                .where(SCORED_FILES.c.content_hash == content_hash)
                .where(SCORED_FILES.c.claimed_by == current["claimed_by"])
                .where(SCORED_FILES.c.status == current["status"])
                .values(source_name=source_name, error=None, **claim)
            ).rowcount
        return ClaimOutcome.CLAIMED if taken == 1 else ClaimOutcome.BUSY

    def _is_stale(self, record: dict) -> bool:
        host, pid, _ = record["claimed_by"].split(":", 2)
        if host == socket.gethostname():
            return not _process_alive(int(pid))
        return self.lease is not None and _utcnow() - as_utc(record["claimed_at"]) > self.lease

    def record(self, content_hash: str) -> dict | None:
        """The ledger row of a file content, as a dict."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(SCORED_FILES).where(SCORED_FILES.c.content_hash == content_hash)
            ).first()
        return None if row is None else row._asdict()

    def mark_scored(
        self,
        content_hash: str,
        claimant: str,
        counts: ScoredCounts,
        model: ModelId,
        paths: tuple[str, str | None],
    ) -> None:
        """Record a scored file: counts, model (name, version), paths (predictions, rejected)."""
        self._finish(
            content_hash,
            claimant,
            status=Status.SCORED,
            rows_total=counts.total,
            rows_scored=counts.scored,
            rows_rejected=counts.rejected,
            rows_imputed=counts.imputed,
            repeated_headers=counts.headers,
            model_name=model[0],
            model_version=model[1],
            predictions_path=paths[0],
            rejected_path=paths[1],
        )

    def mark_quarantined(self, content_hash: str, claimant: str, problem: str) -> None:
        """Record a file that cannot be scored as a whole."""
        self._finish(content_hash, claimant, status=Status.QUARANTINED, error=problem)

    def mark_failed(self, content_hash: str, claimant: str, error: str) -> None:
        """Release a claim after an unexpected error, so that a later run tries again."""
        self._finish(content_hash, claimant, status=Status.FAILED, error=error)

    def mark_changed(self, content_hash: str, claimant: str, change: str) -> None:
        """Release a claim on a content that changed while it was read (nothing was kept)."""
        self._finish(content_hash, claimant, status=Status.CHANGED, error=change)

    def record_failure(self, file_key: str, source_name: str, error: str) -> "FailureHistory":
        """Add a failure to a file's history; return it."""
        now = _utcnow()
        with self.engine.begin() as connection:
            row = connection.execute(
                select(FILE_FAILURES).where(FILE_FAILURES.c.file_key == file_key)
            ).first()
            history = json.loads(row.history) if row else []
            history = [*history, {"at": now.isoformat(), "error": error}][-HISTORY_LIMIT:]
            values = {"history": json.dumps(history), "last_failed_at": now}
            if row is None:
                connection.execute(
                    insert(FILE_FAILURES).values(
                        file_key=file_key,
                        source_name=source_name,
                        attempts=1,
                        first_failed_at=now,
                        **values,
                    )
                )
                attempts = 1
            else:
                attempts = row.attempts + 1
                connection.execute(
                    update(FILE_FAILURES)
                    .where(FILE_FAILURES.c.file_key == file_key)
                    .values(attempts=attempts, **values)
                )
        return FailureHistory(attempts, history)

    def forget_failures(self, file_key: str) -> None:
        """A file that finally got through (or was quarantined) starts a clean history."""
        with self.engine.begin() as connection:
            connection.execute(FILE_FAILURES.delete().where(FILE_FAILURES.c.file_key == file_key))

    def _finish(self, content_hash: str, claimant: str, status: Status, **values) -> None:
        with self.engine.begin() as connection:
            updated = connection.execute(
                update(SCORED_FILES)
                .where(SCORED_FILES.c.content_hash == content_hash)
                .where(SCORED_FILES.c.claimed_by == claimant)
                .values(status=status.value, finished_at=_utcnow(), **values)
            ).rowcount
        if updated != 1:
            raise RuntimeError(f"claim on {content_hash[:12]} was lost to another run")

    def scored_files(self, finished_after: datetime | None = None) -> list[dict]:
        """Scored files, oldest first; only those finished after ``finished_after`` if given."""
        query = select(SCORED_FILES).where(SCORED_FILES.c.status == Status.SCORED.value)
        if finished_after is not None:
            query = query.where(SCORED_FILES.c.finished_at > finished_after)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(SCORED_FILES.c.finished_at)).all()
        return [_with_utc_times(row._asdict()) for row in rows]


def _with_utc_times(record: dict) -> dict:
    return record | {key: as_utc(record[key]) for key in ("claimed_at", "finished_at")}
