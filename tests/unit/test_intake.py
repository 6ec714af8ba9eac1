"""One bad file never stops the others: every file ends scored, quarantined with a report, or
left for the next run with a reason that names what failed."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heart_batch.model.pipeline import build_pipeline
from heart_batch.scoring import intake as intake_module
from heart_batch.scoring.inbox import scan_inbox
from heart_batch.scoring.intake import Intake, process_file
from heart_batch.scoring.scorer import ScoringModel, score_file
from heart_batch.settings import ScoringSettings
from heart_batch.storage.ledger import Ledger, new_claimant
from tests.conftest import REPO_ROOT
from tests.unit.test_schema import VALID_ROW

HEADER = ",".join([*VALID_ROW, "patient_id"])


def export_text(rows: int, start: int = 0) -> str:
    lines = [HEADER] + [",".join([*VALID_ROW.values(), f"P{start + i}"]) for i in range(rows)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def model(training_data) -> ScoringModel:
    pipeline = build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0)
    return ScoringModel("heart", "7", pipeline.fit(training_data.features, training_data.target))


def make_intake(home: Path, database_url: str | None = None) -> Intake:
    (home / "input").mkdir(exist_ok=True)
    return Intake(
        input_dir=home / "input",
        output_dir=home / "outputs",
        ledger=Ledger(database_url or f"sqlite:///{home / 'heart.db'}"),
        claimant=new_claimant(),
        options=ScoringSettings(),
    )


@pytest.fixture
def intake(tmp_path) -> Intake:
    return make_intake(tmp_path)


def report(outcome) -> dict:
    path = Path(outcome.report)
    assert oct(path.stat().st_mode & 0o777) == "0o640"  # owner and group only
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_truncated_gzip_is_quarantined_and_the_next_file_is_scored(intake, model):
    whole = gzip.compress(export_text(3000).encode())
    (intake.input_dir / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    (intake.input_dir / "good.csv").write_text(export_text(5))
    outcomes = [process_file(p, intake, model) for p in sorted(intake.input_dir.iterdir())]
    assert [(o.source_name, o.status) for o in outcomes] == [
        ("cut.csv.gz", "quarantined"),
        ("good.csv", "scored"),
    ]
    assert "the gzip data is cut off" in report(outcomes[0])["problem"]
    assert not (intake.input_dir / "cut.csv.gz").exists()


def test_a_file_name_of_230_characters_is_scored_with_shortened_output_names(intake, model):
    path = intake.input_dir / ("w" * 226 + ".csv")
    path.write_text(export_text(4))
    outcome = process_file(path, intake, model)
    assert outcome.status == "scored" and outcome.counts.scored == 4
    names = [p.name for p in intake.output_dir.rglob("*")] + [
        p.name for p in (intake.input_dir / "processed").iterdir()
    ]
    assert all(len(name.encode()) <= 255 for name in names)
    assert len(outcome.file_id) == 120 + 13


def test_a_long_named_bad_file_is_quarantined_with_a_report_that_fits(intake, model):
    path = intake.input_dir / ("q" * 246 + ".csv")
    path.write_text("no,header,here\n")
    outcome = process_file(path, intake, model)
    assert outcome.status == "quarantined"
    assert len(Path(outcome.report).name.encode()) <= 255
    assert report(outcome)["file"] == path.name


def test_a_link_is_quarantined_as_a_link_and_what_it_points_at_is_never_read(intake, model):
    secret = intake.input_dir.parent / "environ"
    secret.write_text("HEART_SMTP_PASSWORD=hunter2\nage,sex\n")
    (intake.input_dir / "other-unit.csv").symlink_to(secret)
    outcome = process_file(intake.input_dir / "other-unit.csv", intake, model)
    assert outcome.status == "quarantined"
    assert "hunter2" not in Path(outcome.report).read_text(encoding="utf-8")
    assert report(outcome)["problem"] == "a symbolic link: refused, never read"
    assert (intake.input_dir / "quarantine" / "other-unit.csv").is_symlink()
    assert secret.read_text().startswith("HEART_SMTP")  # untouched


def test_the_scan_reports_links_and_folders_and_reads_nothing(tmp_path):
    (tmp_path / "ward.csv").mkdir()
    (tmp_path / "processed").mkdir()
    (tmp_path / "link.csv").symlink_to("/proc/self/environ")
    os.mkfifo(tmp_path / "pipe.csv")
    scan = scan_inbox(tmp_path, settle_seconds=0)
    assert not scan.ready
    assert scan.links == [tmp_path / "link.csv"]
    assert [(entry.path.name, entry.kind) for entry in scan.not_files] == [
        ("pipe.csv", "a named pipe"),
        ("ward.csv", "a directory"),
    ]


def test_a_file_that_grows_while_it_is_read_is_left_whole_for_the_next_run(
    intake, model, monkeypatch
):
    path = intake.input_dir / "growing.csv"
    path.write_text(export_text(2000))

    def still_being_written(export, *arguments):
        with path.open("a") as stream:  # the copy goes on past the settle time
            stream.write(export_text(500, start=2000).split("\n", 1)[1])
        return score_file(export, *arguments)

    monkeypatch.setattr(intake_module, "score_file", still_being_written)
    outcome = process_file(path, intake, model)
    assert outcome.status == "changed"
    assert outcome.error.startswith("it grew from ")
    assert not list(intake.output_dir.rglob("*.parquet")) and path.exists()
    monkeypatch.undo()
    again = process_file(path, intake, model)
    assert (again.status, again.counts.scored) == ("scored", 2500)


def test_an_export_replaced_while_scored_archives_what_was_scored_and_keeps_the_new_one(
    intake, model, monkeypatch
):
    path = intake.input_dir / "ward.csv"
    path.write_text(export_text(30))
    corrected = export_text(31)

    def corrected_meanwhile(export, *arguments):
        replacement = path.with_name("ward.csv.partial")
        replacement.write_text(corrected)
        os.replace(replacement, path)
        return score_file(export, *arguments)

    monkeypatch.setattr(intake_module, "score_file", corrected_meanwhile)
    outcome = process_file(path, intake, model)
    assert (outcome.status, outcome.counts.scored) == ("scored", 30)
    assert "replaced or removed while it was scored" in outcome.notes[0]
    assert (intake.input_dir / "processed" / "ward.csv").read_text() == export_text(30)
    assert path.read_text() == corrected
    monkeypatch.undo()
    assert process_file(path, intake, model).counts.scored == 31


def test_a_crash_of_the_scorer_on_one_file_is_retried_then_quarantined_with_its_history(
    intake, model, monkeypatch
):
    path = intake.input_dir / "poison.csv"
    path.write_text(export_text(3))

    def crash(*_arguments):
        raise ValueError("could not convert 'P1234' to float")  # a message quoting a value

    monkeypatch.setattr(intake_module, "score_file", crash)
    statuses = [process_file(path, intake, model) for _ in range(3)]
    assert [o.status for o in statuses] == ["failed", "failed", "quarantined"]
    assert statuses[0].error.startswith("ValueError in test_intake.py:")
    assert statuses[0].error.endswith("(attempt 1 of 3)")
    assert "P1234" not in json.dumps([o.error for o in statuses])
    history = report(statuses[2])
    assert history["problem"].startswith("failed 3 times, last: ValueError in test_intake.py")
    assert len(history["failures"]) == 3


UNREADABLE = """
import json, sys
from pathlib import Path
from tests.unit.test_intake import make_intake
from heart_batch.scoring.intake import process_file
home = Path(sys.argv[1])
intake = make_intake(home)
print(json.dumps([
    [process_file(path, intake, None).status for path in sorted(intake.input_dir.glob("*.csv"))]
    for _ in range(3)
]))
"""


def test_an_unreadable_upload_fails_three_runs_then_is_quarantined_and_others_go_on(tmp_path):
    intake = make_intake(tmp_path)
    locked = intake.input_dir / "a-locked.csv"
    locked.write_text(export_text(3))
    if os.geteuid() == 0:
        os.chown(locked, 4321, 4321)  # another account's upload
    locked.chmod(0o600 if os.geteuid() == 0 else 0o000)
    (intake.input_dir / "b-no-header.csv").write_text("no,header\n")
    # As root, without the capabilities that override file permissions, as an operator's
    # account is: the upload belongs to another account.
    prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] if os.geteuid() == 0 else []
    done = subprocess.run(
        [*prefix, sys.executable, "-c", UNREADABLE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert runs == [["failed", "quarantined"], ["failed"], ["quarantined"]]
    reports = list((intake.input_dir / "quarantine").glob("a-locked*.error.json"))
    problem = json.loads(reports[0].read_text())["problem"]
    assert problem.startswith("failed 3 times, last: cannot be read: permission denied")


HOLD_THE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


def test_a_locked_ledger_costs_the_file_a_retry_not_the_run(tmp_path, model):
    database = tmp_path / "heart.db"
    intake = make_intake(tmp_path, f"sqlite:///{database}?timeout=1")
    for name in ("a.csv", "b.csv"):
        (intake.input_dir / name).write_text(export_text(5, start=ord(name[0])))
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(database), "2.5"], stdout=subprocess.PIPE
    ) as holder:
        assert holder.stdout.readline().strip() == b"locked"
        first = process_file(intake.input_dir / "a.csv", intake, model)
    second = process_file(intake.input_dir / "b.csv", intake, model)
    assert (first.status, second.status) == ("failed", "scored")
    assert first.error == "the ledger's database: database is locked"
    assert (intake.input_dir / "a.csv").exists()
    assert process_file(intake.input_dir / "a.csv", intake, model).status == "scored"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_a_full_disk_names_itself_keeps_no_partial_output_and_the_rerun_succeeds(tmp_path, model):
    home = tmp_path / "home"
    home.mkdir()
    (home / "outputs").mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(home / "outputs")]
    subprocess.run(mount, check=True)
    try:
        intake = make_intake(home)
        path = intake.input_dir / "big.csv"
        path.write_text(export_text(20000))
        outcome = process_file(path, intake, model)
        assert outcome.status == "failed"
        assert outcome.error.startswith("no space left on device")
        assert not [p for p in (home / "outputs").rglob("*") if p.is_file()]
        assert path.exists()
    finally:
        subprocess.run(["umount", str(home / "outputs")], check=True)
    rerun = process_file(path, intake, model)
    assert (rerun.status, rerun.counts.scored) == ("scored", 20000)


def test_a_ledger_locked_mid_file_keeps_no_output_and_the_file_waits(tmp_path, model, monkeypatch):
    database = tmp_path / "heart.db"
    intake = make_intake(tmp_path, f"sqlite:///{database}?timeout=1")
    path = intake.input_dir / "a.csv"
    path.write_text(export_text(50))
    holders = []

    def locked_once_scored(*arguments):
        scored = score_file(*arguments)
        holder = subprocess.Popen(  # pylint: disable=consider-using-with  # waited for below
            [sys.executable, "-c", HOLD_THE_LOCK, str(database), "2"], stdout=subprocess.PIPE
        )
        assert holder.stdout.readline().strip() == b"locked"
        holders.append(holder)
        return scored

    monkeypatch.setattr(intake_module, "score_file", locked_once_scored)
    outcome = process_file(path, intake, model)
    holders[0].wait()
    holders[0].stdout.close()
    assert (outcome.status, outcome.error) == (
        "failed",
        "the ledger's database: database is locked",
    )
    assert not list(intake.output_dir.rglob("*.parquet")) and path.exists()
    monkeypatch.undo()
    assert process_file(path, intake, model).status == "scored"
