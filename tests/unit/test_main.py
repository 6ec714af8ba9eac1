"""`python -m heart_batch has-champion`, which `make run` uses to decide whether to train first."""

from heart_batch.__main__ import main


def test_has_champion_fails_on_a_registry_without_one(
    logged_models, capsys
):  # pylint: disable=unused-argument
    assert main(["has-champion"]) == 1
    assert "no champion for 'heart-disease-risk'" in capsys.readouterr().out


def test_has_champion_succeeds_once_a_champion_exists(champion, capsys):
    assert main(["has-champion"]) == 0
    assert f"v{champion}" in capsys.readouterr().out
