"""The input folder: which files are ready, what they are called, where they go afterwards.

Standard library only, so an hourly run that finds nothing new stays light.
"""

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from heart_batch.scoring.export import Export, describe_not_a_file

PROCESSED = "processed"
QUARANTINE = "quarantine"
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
"""What the input folder takes, in any case; any other file is listed as unsupported."""
MAX_NAME_BYTES = 255
"""The longest file name most file systems take."""
MAX_ID_STEM = 120
"""Characters of a file's name kept in its ``<ID>``: every output name stays well under
``MAX_NAME_BYTES``."""
REPORT_SUFFIX = ".error.json"
REPORT_MODE = 0o640
"""Quarantine reports: readable by their owner and group only."""


@dataclass(frozen=True)
class Settling:
    """A file changed too recently to be read (it may still be being copied)."""

    path: Path
    ready_at: datetime
    """When it will have been unchanged for the settle time: the first run after that takes it."""


@dataclass(frozen=True)
class NotAFile:
    """An entry of the input folder that is not a regular file: never read."""

    path: Path
    kind: str
    """"a directory", "a named pipe", ..."""


@dataclass(frozen=True)
class InboxScan:
    """CSV files in the input folder: settled ones are ready, the others may still be copied."""

    ready: list[Path]
    settling: list[Settling]
    unsupported: list[Path] = field(default_factory=list)
    """Other files in the folder: left where they are, and said so."""
    links: list[Path] = field(default_factory=list)
    """Symbolic links: refused, never followed (the flow quarantines the link itself)."""
    not_files: list[NotAFile] = field(default_factory=list)
    """Folders (other than ours), pipes, sockets: left where they are, and said so."""


@dataclass(frozen=True)
class FileProblem:
    """Why a whole file cannot be scored; written next to the quarantined file."""

    problem: str
    detail: str = ""
    expected_columns: list[str] = field(default_factory=list)
    found_columns: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    """For a file quarantined after failing every time: each failure, ``{"at", "error"}``."""


def is_supported(path: Path) -> bool:
    """A CSV or TSV export, possibly gzip-compressed."""
    return path.name.lower().endswith(SUPPORTED_SUFFIXES)


def scan_inbox(input_dir: Path, settle_seconds: float, now: float | None = None) -> InboxScan:
    """List the exports directly in ``input_dir`` (``SUPPORTED_SUFFIXES``), oldest first.

    A file modified less than ``settle_seconds`` ago is left for a later run: it may still be
    being copied. Links are never followed; every other entry is listed as unsupported or as
    not a file. Nothing is read.
    """
    now = time.time() if now is None else now
    if not input_dir.is_dir():
        return InboxScan(ready=[], settling=[])
    entries = sorted(os.scandir(input_dir), key=lambda entry: entry.name)
    files = {Path(e.path): e.stat(follow_symlinks=False) for e in entries if _is_file(e)}
    candidates = [path for path in files if is_supported(path)]
    modified = {path: files[path].st_mtime for path in candidates}
    ordered = sorted(candidates, key=lambda path: (modified[path], path.name))
    return InboxScan(
        ready=[path for path in ordered if now - modified[path] >= settle_seconds],
        settling=[
            Settling(path, datetime.fromtimestamp(modified[path] + settle_seconds, timezone.utc))
            for path in ordered
            if now - modified[path] < settle_seconds
        ],
        unsupported=[path for path in files if not is_supported(path)],
        links=[Path(entry.path) for entry in entries if entry.is_symlink()],
        not_files=[
            NotAFile(
                Path(entry.path), describe_not_a_file(entry.stat(follow_symlinks=False).st_mode)
            )
            for entry in entries
            if _is_other(entry)
        ],
    )


def _is_file(entry: os.DirEntry) -> bool:
    return entry.is_file(follow_symlinks=False)


def _is_other(entry: os.DirEntry) -> bool:
    """Neither a file nor a link, nor one of our own folders (nor a hidden one)."""
    if _is_file(entry) or entry.is_symlink():
        return False
    ours = entry.name in (PROCESSED, QUARANTINE) or entry.name.startswith(".")
    return not (ours and entry.is_dir(follow_symlinks=False))


def file_id(path: Path, content_hash: str) -> str:
    """The ``<ID>`` of ``predictions_<ID>.parquet``: the file's stem and 12 hex digits of its hash.

    Deterministic, so a retried run overwrites its own output; readable, so a person finds the
    output of their file; content-bound, so a corrected re-export under the same name gets its own.
    A long stem is cut to ``MAX_ID_STEM`` characters, so that every output name fits.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", split_name(path)[0]).strip("._") or "file"
    return f"{stem[:MAX_ID_STEM].rstrip('._')}_{content_hash[:12]}"


def split_name(path: Path) -> tuple[str, str]:
    """The name without its export suffix, and the suffix: ``('ward 7', '.csv.gz')``."""
    name = path.name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    return path.stem, path.suffix


def archive(export: Export, input_dir: Path, content_hash: str) -> Path:
    """Move the version of a handled file that was read to ``<input>/processed/`` (a name taken
    there gets the hash appended)."""
    return export.move_to(_free_target(export.path, input_dir / PROCESSED, content_hash))


def quarantine(
    export: Export | Path, input_dir: Path, content_hash: str, problem: FileProblem, **history
) -> Path:
    """Move a bad file (the version read, or an entry never read, such as a link) to
    ``<input>/quarantine/`` with a ``<file>.error.json`` report beside it.

    Args:
        export: The file as read, or the path of one that cannot be read.
        input_dir: The input folder.
        content_hash: Its SHA-256, or "" when it could not be read.
        problem: What is wrong.
        history: More for the report (the failures of a file that failed every time).
    """
    path = export.path if isinstance(export, Export) else export
    folder = input_dir / QUARANTINE
    target = _free_target(path, folder, content_hash or uuid.uuid4().hex)
    if isinstance(export, Export):
        export.move_to(target)
    else:
        os.replace(path, target)
    report = {
        "file": path.name,
        "quarantined_as": target.name,
        "sha256": content_hash or None,
        "quarantined_at": datetime.now(timezone.utc).isoformat(),
        **asdict(problem),
        **history,
    }
    write_private_text(target.with_name(target.name + REPORT_SUFFIX), json.dumps(report, indent=2))
    return target


def write_private_text(path: Path, text: str, mode: int = REPORT_MODE) -> None:
    """Write ``text`` to a file readable by its owner and group only (``mode``), whatever the
    umask allows others."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(descriptor, "w", encoding="utf-8") as stream:
        os.fchmod(descriptor, mode)
        stream.write(text + "\n")


def _free_target(path: Path, folder: Path, unique: str) -> Path:
    """Where ``path`` goes in ``folder``: its own name, or with ``unique`` (12 characters)
    appended when that is taken; shortened when the name and its report's would not fit."""
    folder.mkdir(parents=True, exist_ok=True)
    fits = len((path.name + REPORT_SUFFIX).encode()) <= MAX_NAME_BYTES
    target = folder / path.name
    if fits and not os.path.lexists(target):
        return target
    stem, suffix = split_name(path)
    room = MAX_NAME_BYTES - len(f"_{unique[:12]}{suffix}{REPORT_SUFFIX}".encode())
    return folder / f"{_cut(stem, room)}_{unique[:12]}{suffix}"


def _cut(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def seed_with_examples(input_dir: Path, examples: Path) -> list[str]:
    """Create a missing input folder holding copies of the example exports; return their names.

    An existing folder, even an empty one, is left alone: it is a person's.
    """
    if input_dir.exists():
        return []
    input_dir.mkdir(parents=True)
    copied = []
    for example in sorted(examples.glob("*.csv")):
        shutil.copy2(example, input_dir / example.name)
        copied.append(example.name)
    return copied
