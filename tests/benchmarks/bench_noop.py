"""`make bench-noop`: a `make run` with nothing to do, against the path it used to take.

The hourly job and a person's `make run` usually find nothing new. `make run` now asks the input
folder first (`python -m heart_batch has-work`: no Prefect, no MLflow) and stops there; before, it
imported MLflow to ask whether a champion exists, then started the score flow and its temporary
Prefect server only to find the folder empty. Both are timed here, in the same run, on the same
empty folder (median of three).
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import user_shell_environment

REPEATS = 3
BEFORE = (
    f"{sys.executable} -m heart_batch has-champion; {sys.executable} -m flows.score",
    "has-champion, then the score flow (before)",
)
NOW = (f"make -s -C {REPO_ROOT} run", "make run (now)")


def seconds(command: str, home: Path) -> float:
    """Wall time of ``command`` in a user's shell whose HEART_HOME is ``home``; it must succeed."""
    environment = user_shell_environment() | {"HEART_HOME": str(home)}
    environment = {k: v for k, v in environment.items() if not k.startswith("PREFECT_API")}
    begin = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], cwd=REPO_ROOT, env=environment, capture_output=True, check=False
    )
    elapsed = time.perf_counter() - begin
    if done.returncode:
        raise RuntimeError(f"`{command}` failed: {done.stderr[-2000:]!r}")
    return elapsed


def main() -> None:
    """Time both paths on an empty input folder and print them with their ratio."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        (home / "input").mkdir()
        medians = {}
        for command, label in (BEFORE, NOW):
            medians[label] = statistics.median(seconds(command, home) for _ in range(REPEATS))
    print(f"{'path':45} {'median wall (s)':>16}")
    for label, value in medians.items():
        print(f"{label:45} {value:16.1f}")
    before, now = medians[BEFORE[1]], medians[NOW[1]]
    print(
        f"make run with nothing to do is {before / now:.0f}x faster ({before:.1f} s -> {now:.1f} s)"
    )


if __name__ == "__main__":
    main()
