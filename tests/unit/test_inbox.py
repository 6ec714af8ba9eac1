"""The input folder: settling, naming, archiving, quarantine."""

import json
import os
from datetime import datetime, timezone

import pytest

from heart_batch.scoring.export import Export
from heart_batch.scoring.inbox import (
    FileProblem,
    Settling,
    archive,
    file_id,
    quarantine,
    scan_inbox,
)


def touch(path, content="x", age_seconds=0.0, now=1_000_000.0):
    """Write a file and set its modification time ``age_seconds`` before ``now``."""
    path.write_text(content)
    os.utime(path, (now - age_seconds, now - age_seconds))
    return path


def test_only_settled_exports_are_ready_oldest_first_and_the_rest_is_listed(tmp_path):
    oldest = touch(tmp_path / "c.tsv.gz", age_seconds=180)
    older = touch(tmp_path / "b.csv", age_seconds=120)
    old = touch(tmp_path / "a.CSV.GZ", age_seconds=60)
    ward = touch(tmp_path / "ward.TSV", age_seconds=50)
    fresh = touch(tmp_path / "copying.csv", age_seconds=5)
    notes = touch(tmp_path / "notes.txt", age_seconds=600)
    spreadsheet = touch(tmp_path / "export.xlsx", age_seconds=600)
    (tmp_path / "processed").mkdir()
    touch(tmp_path / "processed" / "done.csv", age_seconds=600)
    scan = scan_inbox(tmp_path, settle_seconds=30, now=1_000_000.0)
    assert scan.ready == [oldest, older, old, ward]
    ready_at = datetime.fromtimestamp(1_000_000.0 - 5 + 30, timezone.utc)
    assert scan.settling == [Settling(fresh, ready_at)]
    assert scan.unsupported == [spreadsheet, notes]


def test_a_missing_input_folder_is_empty(tmp_path):
    scan = scan_inbox(tmp_path / "absent", settle_seconds=0)
    assert (scan.ready, scan.settling) == ([], [])


@pytest.mark.parametrize(
    ("name", "expected_stem"),
    [
        ("ward 7 export.csv", "ward_7_export"),
        ("2026-11-30.csv", "2026-11-30"),
        ("äöü.csv", "file"),
        ("..hidden.csv", "hidden"),
        ("patients.csv.gz", "patients"),
        ("Ward 7.TSV.GZ", "Ward_7"),
    ],
)
def test_the_id_is_the_readable_stem_and_a_short_content_hash(tmp_path, name, expected_stem):
    assert file_id(tmp_path / name, "0123456789abcdef" * 4) == f"{expected_stem}_0123456789ab"


def archived(path, folder, content_hash):
    with Export(path) as export:
        return archive(export, folder, content_hash)


def test_archiving_never_overwrites_an_archived_file(tmp_path):
    first = archived(touch(tmp_path / "x.csv", "one"), tmp_path, "a" * 64)
    second = archived(touch(tmp_path / "x.csv", "two"), tmp_path, "b" * 64)
    assert first == tmp_path / "processed" / "x.csv"
    assert second == tmp_path / "processed" / f"x_{'b' * 12}.csv"
    assert (first.read_text(), second.read_text()) == ("one", "two")
    third = archived(touch(tmp_path / "x.csv.gz", "three"), tmp_path, "c" * 64)
    fourth = archived(touch(tmp_path / "x.csv.gz", "four"), tmp_path, "d" * 64)
    assert (third.name, fourth.name) == ("x.csv.gz", f"x_{'d' * 12}.csv.gz")


def test_quarantine_keeps_the_file_and_writes_a_report(tmp_path):
    problem = FileProblem("required columns missing: chol", "", ["age", "chol"], ["age"])
    target = quarantine(touch(tmp_path / "bad.csv", "age\n1\n"), tmp_path, "c" * 64, problem)
    assert target.read_text() == "age\n1\n"
    report = json.loads((tmp_path / "quarantine" / "bad.csv.error.json").read_text())
    assert report["problem"] == "required columns missing: chol"
    assert report["expected_columns"] == ["age", "chol"]
    assert report["found_columns"] == ["age"]
    assert report["sha256"] == "c" * 64
