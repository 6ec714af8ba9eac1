"""The README's two walkthroughs, the quick start and then `make up`, run as written, in order, in
one fresh clone of this working tree.

The commands come from README.md itself: every ```bash block right after a ``<!-- walkthrough -->``
line, in order. They run as a reader's shell session would: a ``source`` line applies to every
command after it. Each must exit 0 and print no error, no traceback and no progress bar. The clone
gets this checkout's installed ``.venv`` (a symlink) so the test measures the commands, not the
download; training is shortened and the stack's ports are free ones, through their settings (the
commands stay as written).
"""

import re
import shutil
import subprocess

import pytest

from heart_batch.settings import QUIET_TOOLS
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import user_shell_environment
from tests.ports import free_port

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
    ports = {
        f"HEART_{name}_PORT": str(free_port())
        for name in ("PREFECT", "MLFLOW", "EVIDENTLY", "MAIL")
    }
    terminal = {"COLUMNS": "200"}  # a terminal's width: Prefect's tables cut names to fit 80
    home = {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    return environment | SHORT_TRAINING | ports | terminal | home


def in_session(commands: list[str]) -> list[tuple[str, str]]:
    """Each command with the ``source`` lines before it, as a shell session runs it."""
    sourced, session = [], []
    for command in commands:
        session.append((command, "".join(f"{line}; " for line in sourced) + command))
        if command.startswith("source "):
            sourced.append(command.split("#")[0].strip())
    return session


def test_the_readme_finds_both_walkthroughs():
    commands = walkthrough_commands((REPO_ROOT / "README.md").read_text())
    bare = [command.split("#")[0].strip() for command in commands]
    assert bare[0] == "make run"
    assert bare.index("make monitor") < bare.index("make up") < bare.index("make down")
    assert any("pd.read_parquet('outputs')" in command for command in commands)


def test_both_walkthroughs_work_as_written_in_one_fresh_clone(tmp_path):
    clone = tmp_path / "heart-batch"
    fresh_clone(clone)
    environment = newcomer_environment(tmp_path)
    outputs = {}
    try:
        for command, in_shell in in_session(
            walkthrough_commands((clone / "README.md").read_text())
        ):
            outputs[command] = run_as_written(command, in_shell, clone, environment)
    finally:
        subprocess.run(["make", "-s", "down"], cwd=clone, env=environment, check=False)

    first_read = next(
        out for command, out in outputs.items() if "pd.read_parquet('outputs')" in command
    )
    assert "example_patients.csv" in first_read and "NaN" not in first_read
    monitor = outputs["make monitor"]
    assert "Retraining not triggered: this run has no Prefect server" in monitor
    assert "report: " in monitor and "Window of " in monitor
    assert list((clone / "outputs" / "_reports").glob("monitoring_*.html"))

    # The `make up` walkthrough, after the quick start in the same clone: a new export is scored
    # (not skipped as a duplicate), the monitor alarms, emails and retrains.
    scored = next(out for command, out in outputs.items() if "score-heart-risk/score" in command)
    assert "1 file scored with v1" in scored and "already scored" not in scored
    watched = next(
        out for command, out in outputs.items() if "monitor-heart-risk/monitor" in command
    )
    assert "alert emailed" in watched
    triggered = re.search(r"retraining triggered: train-heart-risk/train run ([a-z-]+)", watched)
    assert triggered, watched[-3000:]
    assert list((clone / ".state" / "mail" / "new").iterdir()), "the alert email is in the sink"
    listed = next(out for command, out in outputs.items() if "flow-run ls" in command)
    assert triggered.group(1) in listed, "the triggered training run is listed"


def run_as_written(command: str, in_shell: str, clone, environment) -> str:
    """Run one README command in its session; it must succeed quietly. Returns its output."""
    finished = subprocess.run(
        ["bash", "-c", in_shell],
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
    return output
