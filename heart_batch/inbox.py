"""The input folder: which files are ready, what they are called, where they go afterwards.

Standard library only, so an hourly run that finds nothing new stays light.
"""

import hashlib
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PROCESSED = "processed"
QUARANTINE = "quarantine"
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
"""What the input folder takes, in any case; any other file is listed as unsupported."""


@dataclass(frozen=True)
class Settling:
    """A file changed too recently to be read (it may still be being copied)."""

    path: Path
    ready_at: datetime
    """When it will have been unchanged for the settle time: the first run after that takes it."""


@dataclass(frozen=True)
class InboxScan:
    """CSV files in the input folder: settled ones are ready, the others may still be copied."""

    ready: list[Path]
    settling: list[Settling]
    unsupported: list[Path] = field(default_factory=list)
    """Other files in the folder: left where they are, and said so."""


@dataclass(frozen=True)
class FileProblem:
    """Why a whole file cannot be scored; written next to the quarantined file."""

    problem: str
    detail: str = ""
    expected_columns: list[str] = field(default_factory=list)
    found_columns: list[str] = field(default_factory=list)


def is_supported(path: Path) -> bool:
    """A CSV or TSV export, possibly gzip-compressed."""
    return path.name.lower().endswith(SUPPORTED_SUFFIXES)


def scan_inbox(input_dir: Path, settle_seconds: float, now: float | None = None) -> InboxScan:
    """List the exports directly in ``input_dir`` (``SUPPORTED_SUFFIXES``), oldest first.

    A file modified less than ``settle_seconds`` ago is left for a later run: it may still be
    being copied. Every other file is listed as unsupported.
    """
    now = time.time() if now is None else now
    if not input_dir.is_dir():
        return InboxScan(ready=[], settling=[])
    files = sorted(path for path in input_dir.iterdir() if path.is_file())
    candidates = [path for path in files if is_supported(path)]
    modified = {path: path.stat().st_mtime for path in candidates}
    ordered = sorted(candidates, key=lambda path: (modified[path], path.name))
    return InboxScan(
        ready=[path for path in ordered if now - modified[path] >= settle_seconds],
        settling=[
            Settling(path, datetime.fromtimestamp(modified[path] + settle_seconds, timezone.utc))
            for path in ordered
            if now - modified[path] < settle_seconds
        ],
        unsupported=[path for path in files if not is_supported(path)],
    )


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_id(path: Path, content_hash: str) -> str:
    """The ``<ID>`` of ``predictions_<ID>.parquet``: the file's stem and 12 hex digits of its hash.

    Deterministic, so a retried run overwrites its own output; readable, so a person finds the
    output of their file; content-bound, so a corrected re-export under the same name gets its own.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", split_name(path)[0]).strip("._") or "file"
    return f"{stem}_{content_hash[:12]}"


def split_name(path: Path) -> tuple[str, str]:
    """The name without its export suffix, and the suffix: ``('ward 7', '.csv.gz')``."""
    name = path.name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    return path.stem, path.suffix


def archive(path: Path, input_dir: Path, content_hash: str) -> Path:
    """Move a handled file to ``<input>/processed/``; a name taken there gets the hash appended."""
    return _move(path, input_dir / PROCESSED, content_hash)


def quarantine(path: Path, input_dir: Path, content_hash: str, problem: FileProblem) -> Path:
    """Move a bad file to ``<input>/quarantine/`` with a ``<file>.error.json`` report beside it."""
    target = _move(path, input_dir / QUARANTINE, content_hash)
    report = {
        "file": path.name,
        "quarantined_as": target.name,
        "sha256": content_hash,
        "quarantined_at": datetime.now(timezone.utc).isoformat(),
        **asdict(problem),
    }
    report_path = target.with_name(target.name + ".error.json")
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return target


def _move(path: Path, folder: Path, content_hash: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        stem, suffix = split_name(path)
        target = folder / f"{stem}_{content_hash[:12]}{suffix}"
    path.replace(target)
    return target


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
