"""What a training run records about its code: the commit of the code that ran."""

import subprocess
from pathlib import Path

import pytest

from heart_batch.registry.tracking import code_version
from heart_batch.settings import TrainingSettings
from tests.conftest import REPO_ROOT


def repository_head() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


@pytest.mark.skipif(repository_head() is None, reason="the code is not a git checkout here")
def test_the_version_is_the_commit_of_the_code_not_of_heart_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # HEART_HOME, and the working folder, are no checkout at all
    assert code_version(TrainingSettings(), REPO_ROOT).removesuffix("-dirty") == repository_head()


def test_code_outside_a_checkout_says_the_version_the_image_was_built_from(tmp_path: Path):
    settings = TrainingSettings(code_version="3f2c1ab")
    assert code_version(settings, tmp_path) == "3f2c1ab"


def test_without_either_it_says_the_package_version(tmp_path: Path):
    assert code_version(TrainingSettings(code_version=""), tmp_path).startswith("heart-batch ")
