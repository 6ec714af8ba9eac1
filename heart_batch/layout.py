"""The outputs folder holds predictions and nothing else at its top level.

Rejections, monitoring reports and the Evidently workspace live in folders whose names start with
``_`` (``_rejected/``, ``_reports/``, ``_evidently/``). Parquet readers skip such folders (the
convention of Hive, Spark, pyarrow and pandas), so ``pd.read_parquet("outputs")`` reads every
prediction and nothing else. Releases before this one wrote those next to the predictions;
``upgrade_outputs`` moves them, and the paths our tables hold, into this layout.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, column, func, inspect, literal, table, update

from heart_batch.database import connect_database
from heart_batch.settings import Settings

REJECTED_FOLDER = "_rejected"

# The tables and columns that hold paths of moved outputs (ledger and monitoring history).
STORED_PATHS = (
    table("scored_files", column("rejected_path")),
    table("monitoring_runs", column("report_path")),
)


@dataclass(frozen=True)
class Move:
    """An output of an older release and where it belongs now."""

    old: Path
    new: Path


def pending_moves(settings: Settings) -> list[Move]:
    """What an older release left where parquet readers trip over it (file system only)."""
    output_dir = settings.output_dir
    moves = [
        Move(path, output_dir / REJECTED_FOLDER / path.name)
        for path in sorted(output_dir.glob("rejected_*.parquet"))
    ]
    for old, new in (
        (output_dir / "reports", settings.reports_dir),
        (output_dir / "evidently", settings.evidently_workspace),
    ):
        if old.is_dir() and old != new:
            moves.append(Move(old, new))
    return moves


def upgrade_outputs(settings: Settings) -> list[str]:
    """Move an older release's rejections, reports and Evidently workspace into this layout.

    Files are renamed, never copied; a target that exists already is kept and the old file left
    where it is. Safe to run concurrently and repeatedly. Returns one line per move.
    """
    moves = pending_moves(settings)
    if not moves:
        return []
    engine = connect_database(settings.database_url)
    done = []
    for move in moves:
        if _move(move.old, move.new):
            _repoint_stored_paths(engine, move)
            done.append(f"{move.old} -> {move.new}")
    engine.dispose()
    return done


def _move(old: Path, new: Path) -> bool:
    """Rename ``old`` to ``new``; merge a folder into an existing one file by file."""
    new.parent.mkdir(parents=True, exist_ok=True)
    if old.is_dir() and new.is_dir():
        for path in sorted(old.rglob("*")):
            target = new / path.relative_to(old)
            if path.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        _remove_empty_folders(old)
        return True
    if new.exists():
        return False
    try:
        os.replace(old, new)
    except FileNotFoundError:  # a concurrent run moved it first
        return False
    return True


def _remove_empty_folders(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(root.iterdir()):
        root.rmdir()


def _repoint_stored_paths(engine: Engine, move: Move) -> None:
    """Point the paths our tables hold at or under ``move.old`` to ``move.new``."""
    old = str(move.old)
    present = set(inspect(engine).get_table_names())
    with engine.begin() as connection:
        for stored in STORED_PATHS:
            if stored.name not in present:
                continue
            path = next(iter(stored.columns))
            connection.execute(
                update(stored)
                .where((path == old) | path.startswith(old + os.sep, autoescape=True))
                .values({path.name: literal(str(move.new)).concat(func.substr(path, len(old) + 1))})
            )
