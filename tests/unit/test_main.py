"""`python -m heart_batch has-champion` and `has-work`, which `make run` uses to decide whether
to train first and whether there is anything to score."""

from heart_batch.__main__ import main


def test_has_champion_fails_on_a_registry_without_one(
    logged_models, capsys
):  # pylint: disable=unused-argument
    assert main(["has-champion"]) == 1
    assert "no champion for 'heart-disease-risk'" in capsys.readouterr().out


def test_has_champion_succeeds_once_a_champion_exists(champion, capsys):
    assert main(["has-champion"]) == 0
    assert f"v{champion}" in capsys.readouterr().out


def test_has_work_says_nothing_to_score_without_starting_anything(settings, capsys):
    settings.input_dir.mkdir()
    assert main(["has-work"]) == 1
    assert capsys.readouterr().out.strip() == f"Nothing to score in {settings.input_dir}"


def test_has_work_names_the_files_still_settling(settings, capsys, monkeypatch):
    monkeypatch.setenv("HEART_SETTLE_SECONDS", "600")
    settings.input_dir.mkdir()
    (settings.input_dir / "copying.csv").write_text("age\n")
    assert main(["has-work"]) == 1
    printed = capsys.readouterr().out
    assert printed.startswith("copying.csv: changed less than 600 s ago")
    assert printed.strip().endswith("; 1 file waiting to settle")


def test_has_work_when_a_file_is_ready(settings, monkeypatch):
    monkeypatch.setenv("HEART_SETTLE_SECONDS", "0")
    settings.input_dir.mkdir()
    (settings.input_dir / "export.csv").write_text("age\n")
    assert main(["has-work"]) == 0
