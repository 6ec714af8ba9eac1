"""The README's quick start, run as written on a fresh clone of this working tree.

The commands come from README.md itself: every ```bash block right after a ``<!-- walkthrough -->``
line, in order. Each must exit 0 and print no error, no traceback and no progress bar. The clone
gets this checkout's installed ``.venv`` (a symlink) so the test measures the commands, not the
download; training is shortened through its settings (the commands stay as written).
"""

import re
import shutil
import subprocess

import pytest

from heart_batch.settings import QUIET_TOOLS
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import user_shell_environment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WALKTHROUGH = re.compile(r"^<!-- walkthrough -->\n```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
NOISE = re.compile(r"Traceback|ERROR|Errno|Exception|Downloading artifacts|it/s\]")
SHORT_TRAINING = {"HEART_MAX_EVALS": "4", "HEART_CV_REPEATS": "1"}


def walkthrough_commands(readme: str) -> list[str]:
    """The walkthrough's commands, a backslash-continued line joined to the next."""
    commands = []
    for block in WALKTHROUGH.findall(readme):
        commands += [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    return commands


def fresh_clone(target) -> None:
    """A clone of this repository with the working tree's files (committed or not) on top."""
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(target)], check=True)
    listed = subprocess.run(
        [
            "git",
            "-C",
            str(REPO_ROOT),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO_ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, target / name)
    (target / ".venv").symlink_to(REPO_ROOT / ".venv")


def newcomer_environment(tmp_path) -> dict[str, str]:
    """A user's shell: no HEART_*, MLflow, Prefect or quiet-tool settings, a Prefect home of its
    own, and the shortened training."""
    dropped = ("HEART_", "MLFLOW_", "PREFECT_", *QUIET_TOOLS)
    environment = {
        name: value
        for name, value in user_shell_environment().items()
        if not name.startswith(dropped)
    }
    return environment | SHORT_TRAINING | {"PREFECT_HOME": str(tmp_path / "prefect-home")}


def test_the_readme_finds_its_walkthrough():
    commands = walkthrough_commands((REPO_ROOT / "README.md").read_text())
    assert commands[0] == "make run"
    assert "make monitor" in commands
    assert any("pd.read_parquet('outputs')" in command for command in commands)


def test_every_quick_start_command_works_as_written_on_a_fresh_clone(tmp_path):
    clone = tmp_path / "heart-batch"
    fresh_clone(clone)
    environment = newcomer_environment(tmp_path)
    outputs = {}
    for command in walkthrough_commands((clone / "README.md").read_text()):
        finished = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=environment,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = finished.stdout + finished.stderr
        assert finished.returncode == 0, f"`{command}` failed:\n{output[-4000:]}"
        noise = NOISE.search(output)
        assert noise is None, f"`{command}` printed {noise.group()!r}:\n{output[-4000:]}"
        outputs[command] = output

    first_read = next(
        out for command, out in outputs.items() if "pd.read_parquet('outputs')" in command
    )
    assert "example_patients.csv" in first_read and "NaN" not in first_read
    monitor = outputs["make monitor"]
    assert "Retraining not triggered: this run has no Prefect server" in monitor
    assert list((clone / "outputs" / "_reports").glob("monitoring_*.html"))
