"""`make clean` deletes state, asks before outputs, never touches input; `make run` seeds input."""

import io

import pytest

from heart_batch.__main__ import main as heart_batch_main
from heart_batch.settings import Settings
from ops.__main__ import main
from ops.clean import plan_clean


class Terminal(io.StringIO):
    """Standard input typed by a person."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def used_home(settings):
    """A home after some runs: stores, state, cache, outputs and an input folder."""
    home = settings.home
    for name in ("mlflow.db", "heart.db"):
        (home / name).write_bytes(b"SQLite")
    for folder in ("mlartifacts/1", ".state/pids", ".cache/calibration", "outputs/_rejected"):
        (home / folder).mkdir(parents=True)
    (home / "outputs" / "predictions_a_1.parquet").write_bytes(b"PAR1")
    (home / "outputs" / "_rejected" / "rejected_a_1.parquet").write_bytes(b"PAR1")
    for folder in ("input/processed", "input/quarantine"):
        (home / folder).mkdir(parents=True)
    (home / "input" / "waiting.csv").write_text("age\n")
    (home / "input" / "processed" / "a.csv").write_text("age\n")
    return home


def remaining(home) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_without_a_terminal_state_goes_and_outputs_and_input_stay(used_home, capsys):
    assert main(["clean"]) == 0
    assert remaining(used_home) == [
        "input/processed/a.csv",
        "input/waiting.csv",
        "outputs/_rejected/rejected_a_1.parquet",
        "outputs/predictions_a_1.parquet",
    ]
    printed = capsys.readouterr().out
    assert "1 predictions file(s), outputs/_rejected" in printed
    assert "no (not asked: no terminal)" in printed and "Kept the outputs" in printed


@pytest.mark.parametrize(("answer", "outputs_kept"), [("y\n", False), ("\n", True), ("no\n", True)])
def test_outputs_go_only_on_a_yes(used_home, monkeypatch, answer, outputs_kept):
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    main(["clean"])
    assert (used_home / "outputs" / "predictions_a_1.parquet").exists() is outputs_kept
    assert (used_home / "input" / "processed" / "a.csv").exists()


def test_a_database_server_is_never_part_of_the_plan(used_home, monkeypatch):
    monkeypatch.setenv("HEART_DATABASE_URL", "postgresql+psycopg://heart@db/heart")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("HEART_ARTIFACT_LOCATION", "s3://bucket/heart")
    state = [path.name for path in plan_clean(Settings()).state]
    assert sorted(state) == [".state", "calibration"]
    assert (used_home / "heart.db").exists()


def test_the_first_run_gets_the_example_and_a_person_s_folder_is_left_alone(settings, capsys):
    assert heart_batch_main(["prepare-input"]) == 0
    assert [p.name for p in settings.input_dir.iterdir()] == ["example_patients.csv"]
    assert "First run: copied the example export" in capsys.readouterr().out
    (settings.input_dir / "example_patients.csv").unlink()
    heart_batch_main(["prepare-input"])
    assert not list(settings.input_dir.iterdir())
