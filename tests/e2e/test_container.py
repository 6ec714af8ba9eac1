"""The Dockerfile, built and run for real: as a Prefect worker that takes the champion from the
tracking server over HTTP, and as a Dask worker that scores a run's files.

Needs a container engine: docker with a daemon, or podman (`.ci/run` prepares it with the shared
container-engine.sh). Without one the test is skipped, unless HEART_REQUIRE_CONTAINER_ENGINE=1
(set by `.ci/run`) turns the skip into a failure.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client
from mlflow import MlflowClient

from flows.score import score
from heart_batch.storage.ledger import Ledger
from ops.stack import Stack, settings_for_up
from tests.conftest import REPO_ROOT
from tests.dask_cluster import dask_cluster
from tests.e2e.conftest import (
    pause_schedules,
    register_a_champion,
    score_run,
    use_stack_credentials,
    wait_for_flow_run,
)

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


def writable_by_the_container(folder: Path) -> None:
    """The container's user owns nothing on the host: let it write the mounted folder."""
    subprocess.run(["chmod", "-R", "a+rwX", str(folder)], check=True)


def rows_reconcile(outputs: Path, source: Path, version: str) -> None:
    """Every row of ``source`` scored by ``version`` or rejected, and the source archived."""
    [predictions] = outputs.glob(f"predictions_{source.stem}_*.parquet")
    rejected = list((outputs / "_rejected").glob(f"rejected_{source.stem}_*.parquet"))
    scored = pd.read_parquet(predictions)
    assert len(scored) + sum(len(pd.read_parquet(path)) for path in rejected) == len(
        pd.read_csv(source)
    )
    assert set(scored["model_version"]) == {version}


def test_the_image_as_a_prefect_worker_loads_the_champion_over_http(
    engine, image, tmp_path, stack_ports, monkeypatch
):
    """Machine A runs the servers (`HEART_WORKERS=0 make up`); the image is a worker on
    machine B: it clones the project through prefect.yaml and takes the champion from the
    tracking server's artifact proxy, with no path shared with machine A but its data folder."""
    monkeypatch.setenv("HEART_WORKERS", "0")
    system = Stack(settings_for_up())
    prefect_api = f"http://127.0.0.1:{stack_ports['prefect']}/api"
    tracking = f"http://127.0.0.1:{stack_ports['mlflow']}"
    try:
        system.up()
        use_stack_credentials(monkeypatch, system)
        pause_schedules(prefect_api)
        register_a_champion(os.environ | {"MLFLOW_TRACKING_URI": tracking})
        data = tmp_path / "machine-b"
        (data / "input").mkdir(parents=True)
        shutil.copy(EXAMPLE, data / "input")
        writable_by_the_container(data)
        trust_every_repository = tmp_path / "gitconfig"
        trust_every_repository.write_text("[safe]\n\tdirectory = *\n")
        flow_run = score_run(prefect_api, {"HEART_SETTLE_SECONDS": "0"})
        done = run(
            engine,
            "-v", f"{data}:/data",
            # The deployments clone this checkout (file://, its path stored when deploying).
            "-v", f"{REPO_ROOT}:{REPO_ROOT}:ro",
            "-e", f"PREFECT_API_URL={prefect_api}",
            "-e", f"PREFECT_API_AUTH_STRING={system.prefect_auth}",
            "-e", f"MLFLOW_TRACKING_URI={tracking}",
            # The mounted repository belongs to another user: let git read it.
            "-v", f"{trust_every_repository}:/tmp/gitconfig:ro",
            "-e", "GIT_CONFIG_GLOBAL=/tmp/gitconfig",
            image,
            "prefect", "worker", "start", "--pool", "heart-batch", "--run-once",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        final = wait_for_flow_run(prefect_api, flow_run)
        assert final["state_type"] == "COMPLETED", done.stdout[-5000:] + done.stderr[-5000:]
        [version] = [v.version for v in MlflowClient(tracking).search_model_versions()]
        rows_reconcile(data / "outputs", EXAMPLE, version)
        assert not (data / "input" / EXAMPLE.name).exists()
    finally:
        system.down()


def test_the_image_as_a_dask_worker_scores_the_files_of_a_run(
    engine, image, tmp_path, prefect_server, champion, settings, monkeypatch
):  # pylint: disable=unused-argument
    """A Dask worker in the image joins a scheduler here; the score flow's file tasks run in it,
    on input and output folders mounted at the same paths (a shared filesystem)."""
    settings.input_dir.mkdir()
    shutil.copy(EXAMPLE, settings.input_dir)
    writable_by_the_container(tmp_path)
    monkeypatch.setenv("HEART_SETTLE_SECONDS", "0")
    with dask_cluster(0, tmp_path / "dask.log") as (address, _):
        monkeypatch.setenv("HEART_DASK_ADDRESS", address)
        started = subprocess.run(
            [engine, "run", "--rm", "-d", "--network", "host", "--hostname", "image-dask",
             "-v", f"{tmp_path}:{tmp_path}", image,
             "dask", "worker", address, "--nthreads", "1", "--no-dashboard"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        container = started.stdout.strip()
        try:
            with Client(address, timeout=60) as client:
                client.wait_for_workers(1, timeout=120)
            summary = score()
        finally:
            subprocess.run([engine, "stop", container], capture_output=True, check=False)
    assert [outcome.status for outcome in summary.files] == ["scored"]
    rows_reconcile(settings.output_dir, EXAMPLE, champion)
    [record] = Ledger(settings.database_url).scored_files()
    assert record["claimed_by"].startswith("image-dask:")  # claimed inside the container
