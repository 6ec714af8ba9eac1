"""What a scoring run did, in aggregates: a line per file, one line for the run, and the
``scoring-run`` artifact. Light to import: a run with nothing to do never loads pandas or MLflow."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from heart_batch.contract.words import plural
from heart_batch.scoring.inbox import SUPPORTED_SUFFIXES, Settling

if TYPE_CHECKING:
    from heart_batch.scoring.intake import FileOutcome, FileStatus

ACCEPTED = "the input folder takes " + ", ".join(f"*{suffix}" for suffix in SUPPORTED_SUFFIXES)


@dataclass
class ScoringSummary:
    """What one scoring run did, in aggregates."""

    model_version: str = ""
    files: list["FileOutcome"] = field(default_factory=list)
    settling: int = 0
    unsupported: list[str] = field(default_factory=list)
    not_files: list[str] = field(default_factory=list)

    def count(self, status: "FileStatus") -> int:
        """Files that ended with ``status``."""
        return sum(outcome.status == status for outcome in self.files)

    def rows(self, attribute: str) -> int:
        """Sum of a row count over the scored files."""
        return sum(getattr(o.counts, attribute) for o in self.files if o.counts is not None)

    def one_line(self, input_dir: Path) -> str:
        """The run's outcome in one line: the final state message and the last log line."""
        if not self.files:
            waiting = (
                f"; {plural(self.settling, 'file')} waiting to settle" if self.settling else ""
            )
            return f"Nothing to score in {input_dir}{waiting}"
        parts = [
            f"{plural(self.count('scored'), 'file')} scored with v{self.model_version}: "
            f"{plural(self.rows('scored'), 'row')} scored, {self.rows('rejected')} rejected"
        ]
        others: tuple[tuple["FileStatus", str], ...] = (
            ("duplicate", "already scored (archived)"),
            ("quarantined", "quarantined (input/quarantine/)"),
            ("busy", "being scored by another run"),
            ("changed", "changed while read (next run)"),
            ("failed", "failed (left for the next run)"),
        )
        for status, phrase in others:
            if self.count(status):
                parts.append(f"{plural(self.count(status), 'file')} {phrase}")
        if self.settling:
            parts.append(f"{plural(self.settling, 'file')} waiting to settle")
        return "; ".join(parts)

    def markdown(self, input_dir: Path, output_dir: Path) -> str:
        """The ``scoring-run`` artifact."""
        rows = [_table_row(outcome) for outcome in self.files]
        rows += [f"| {name} | not scored: unsupported type | | | |" for name in self.unsupported]
        rows += [f"| {name} | not scored: not a file | | | |" for name in self.not_files]
        return (
            f"# Scoring run\n\n**{self.one_line(input_dir)}**\n\n"
            f"Model version: **{self.model_version or '-'}**. Rows imputed: "
            f"{self.rows('imputed')}. Outputs in `{output_dir}`.\n\n"
            "| file | status | rows | scored | rejected / problem |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
        )

    def description(self) -> str:
        """The artifact's description, as Prefect's artifact list shows it."""
        return (
            f"v{self.model_version or '-'}: {plural(self.count('scored'), 'file')}, "
            f"{plural(self.rows('scored'), 'row')} scored, {self.rows('rejected')} rejected"
        )


def _table_row(outcome: "FileOutcome") -> str:
    if outcome.counts:
        c = outcome.counts
        figures = f"{c.total} | {c.scored} | {c.rejected}"
    else:
        figures = f" | | {outcome.problem.problem if outcome.problem else outcome.error}"
    return f"| {outcome.source_name} | {outcome.status} | {figures} |"


def describe_settling(waiting: Settling, settle_seconds: float) -> str:
    """Why a file waits, and when it is scored."""
    return (
        f"{waiting.path.name}: changed less than {settle_seconds:g} s ago (HEART_SETTLE_SECONDS), "
        f"so it may still be being copied; the first run after "
        f"{waiting.ready_at:%H:%M:%S} UTC scores it (HEART_SETTLE_SECONDS=0 skips the wait)"
    )


def describe(outcome: "FileOutcome") -> str:
    """What happened to one file, in one log line (aggregates only)."""
    if outcome.status == "scored":
        c = outcome.counts
        assert c is not None
        broken = f" ({c.broken} broken line(s))" if c.broken else ""
        headers = f", {c.headers} repeated header(s) skipped" if c.headers else ""
        written = "" if outcome.dialect == "separated by ','" else f" [{outcome.dialect}]"
        notes = "".join(f"; {note}" for note in outcome.notes)
        return (
            f"{outcome.source_name}{written}: {c.total} rows, {c.scored} scored, "
            f"{c.rejected} rejected{broken}, {c.imputed} imputed{headers} "
            f"-> predictions_{outcome.file_id}.parquet{notes}"
        )
    if outcome.status == "quarantined":
        problem = outcome.problem.problem if outcome.problem else outcome.error
        return f"{outcome.source_name}: quarantined ({problem}); report: {outcome.report}"
    if outcome.status == "duplicate":
        return f"{outcome.source_name}: content already scored as {outcome.file_id}, archived"
    if outcome.status == "busy":
        return f"{outcome.source_name}: being scored by another run, skipped"
    if outcome.status == "changed":
        return f"{outcome.source_name}: changed while it was read: {outcome.error}"
    return f"{outcome.source_name}: failed ({outcome.error}), left for the next run"
