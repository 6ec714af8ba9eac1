"""The Dockerfile, built and run for real: one scoring pass over a mounted input folder.

Needs a container engine: docker with a daemon, or podman (`.ci/run` prepares it with the shared
container-engine.sh). Without one the test is skipped, unless HEART_REQUIRE_CONTAINER_ENGINE=1
(set by `.ci/run`) turns the skip into a failure.
"""

import os
import shutil
import subprocess

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGE = "heart-batch:test"
EXAMPLE = REPO_ROOT / "data" / "examples" / "example_patients.csv"


def working_engine() -> str | None:
    for engine in ("docker", "podman"):
        if shutil.which(engine):
            probe = subprocess.run([engine, "info"], capture_output=True, check=False)
            if probe.returncode == 0:
                return engine
    return None


@pytest.fixture(scope="session")
def engine() -> str:
    found = working_engine()
    if found is None:
        message = "no container engine (docker daemon or podman)"
        if os.environ.get("HEART_REQUIRE_CONTAINER_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def image(engine) -> str:
    options = ["--pull=never", "--format", "docker"] if engine == "podman" else []
    built = subprocess.run(
        [engine, "build", *options, "-t", IMAGE, str(REPO_ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout[-5000:] + built.stderr[-5000:]
    return IMAGE


def run(engine: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [engine, "run", "--rm", "--network", "host", *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_image_runs_as_a_non_root_user_and_has_git(engine, image):
    done = run(engine, image, "sh", "-c", "id -u && git --version")
    assert done.returncode == 0, done.stderr
    uid, git = done.stdout.split("\n")[:2]
    assert uid != "0" and git.startswith("git version")


def test_the_image_scores_a_mounted_input_folder_with_a_mounted_model_store(
    engine, image, tmp_path, champion
):
    data = tmp_path / "data"
    (data / "input").mkdir(parents=True)
    shutil.copy(EXAMPLE, data / "input")
    # The container's user owns nothing on the host: let it write the mounted folders.
    subprocess.run(["chmod", "-R", "a+rwX", str(tmp_path)], check=True)
    # A SQLite model store records absolute artifact paths: mount it at the same path.
    done = run(
        engine,
        "-v", f"{tmp_path}:{tmp_path}",
        "-v", f"{data}:/data",
        "-e", f"MLFLOW_TRACKING_URI=sqlite:///{tmp_path / 'mlflow.db'}",
        "-e", "HEART_SETTLE_SECONDS=0",
        image,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [predictions] = (data / "outputs").glob("predictions_example_patients_*.parquet")
    rejected = list((data / "outputs" / "_rejected").glob("rejected_example_patients_*.parquet"))
    scored = pd.read_parquet(predictions)
    rows_out = len(scored) + sum(len(pd.read_parquet(path)) for path in rejected)
    assert rows_out == len(pd.read_csv(EXAMPLE))
    assert set(scored["model_version"]) == {champion}
    assert not (data / "input" / EXAMPLE.name).exists()
