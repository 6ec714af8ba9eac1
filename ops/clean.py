"""`make clean`: delete the local state runs leave behind, never a person's input.

Two groups. *State* (the embedded stores, `make up`'s folder, the calibration cache) is deleted.
*Outputs* (predictions, rejections, reports, the Evidently workspace) are deleted only when the
person says yes. The input folder, with the exports in ``processed/`` and ``quarantine/``, is
never touched; neither is a store that is not a local file (a PostgreSQL database, a tracking
server, an ``s3://`` artifact root).
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from heart_batch.scoring.scorer import REJECTED_FOLDER
from heart_batch.settings import Settings


@dataclass(frozen=True)
class CleanPlan:
    """What `make clean` would delete, existing paths only."""

    state: list[Path]
    outputs: list[Path]


def plan_clean(settings: Settings) -> CleanPlan:
    """The existing paths of each group, for these settings."""
    state = [
        *_sqlite_files(settings.mlflow_tracking_uri),
        *_sqlite_files(settings.database_url),
        *([Path(settings.artifact_location)] if "://" not in settings.artifact_location else []),
        settings.stack_dir,
        settings.calibration_cache,
    ]
    output_dir = settings.output_dir
    outputs = [
        *sorted(output_dir.glob("predictions_*.parquet")),
        output_dir / REJECTED_FOLDER,
        settings.reports_dir,
        settings.evidently_workspace,
    ]
    return CleanPlan(_existing(state), _existing(outputs))


def describe(paths: list[Path], home: Path) -> str:
    """The paths relative to ``home`` where they are inside it, with a count of predictions."""
    names = [
        str(path.relative_to(home)) if path.is_relative_to(home) else str(path) for path in paths
    ]
    predictions = sum(path.name.startswith("predictions_") for path in paths)
    others = [name for name in names if not Path(name).name.startswith("predictions_")]
    listed = [f"{predictions} predictions file(s)"] if predictions else []
    return ", ".join(listed + others)


def delete(paths: list[Path]) -> None:
    """Delete files and folders."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _sqlite_files(url: str) -> list[Path]:
    """The file of a SQLite URL and its journal; nothing for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return []
    database = Path(parsed.database)
    return [database, database.with_name(database.name + "-journal")]


def _existing(paths: list[Path]) -> list[Path]:
    unique = list(dict.fromkeys(path.resolve() for path in paths))
    return [path for path in unique if path.exists()]
