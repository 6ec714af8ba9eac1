"""`make up` / `make down` on a fresh HEART_HOME: real servers, two workers, a Dask cluster, the
mail sink; two score runs at once, and a run's machine lost in the middle of a file."""

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import psutil
import pytest

from heart_batch.settings import Settings
from ops.stack import Stack
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import (
    answers,
    api,
    pause_schedules,
    register_a_champion,
    run_python,
    score_run,
    use_stack_credentials,
    user_shell_environment,
    wait_for_flow_run,
)
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def make(target: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT), target],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=user_shell_environment(),
    )


def pids(stack_dir: Path) -> dict[str, int]:
    return {
        path.stem: json.loads(path.read_text())["pid"]
        for path in (stack_dir / "pids").glob("*.json")
    }


SEND_THROUGH_BLOCK = """
import sys
from email.message import EmailMessage
from prefect_email import EmailServerCredentials

message = EmailMessage()
message["Subject"], message["From"], message["To"] = sys.argv[1], "a@localhost", "b@localhost"
message.set_content("aggregate figures only")
with EmailServerCredentials.load("heart-alerts").get_server() as server:
    server.send_message(message)
"""


def send_through_email_block(prefect_api: str, subject: str) -> None:
    """Send a message with the credentials `make up` saved in the email block."""
    run_python(["-c", SEND_THROUGH_BLOCK, subject], os.environ | {"PREFECT_API_URL": prefect_api})


def assert_only_its_owner_reads_the_stack(stack_dir: Path, prefect_api: str) -> None:
    """The email block (with the SMTP password) is out of other local users' reach: the Prefect
    API wants the password, and the state folder (its database, the secrets) is the owner's."""
    request = urllib.request.Request(f"{prefect_api}/block_documents/filter", data=b"{}")
    request.add_header("Content-Type", "application/json")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)  # pylint: disable=consider-using-with
    assert refused.value.code == 401
    assert stat.S_IMODE(stack_dir.stat().st_mode) == 0o700
    for secret in (stack_dir / "env", stack_dir / "secrets" / "prefect-password"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret


def drop_files(inbox: Path, first: int, count: int) -> int:
    """``count`` exports of different content; returns their data rows."""
    inbox.mkdir(parents=True, exist_ok=True)
    seed = (REPO_ROOT / "data" / "heart.csv").read_text().splitlines()
    rows = 0
    for number in range(first, first + count):
        body = [line for i, line in enumerate(seed[1:]) if i % 7 != number % 7][: 20 + number]
        (inbox / f"ward{number:02d}.csv").write_text("\n".join([seed[0], *body]) + "\n")
        rows += len(body)
    return rows


def two_score_runs_at_once(prefect_api: str, environment: dict) -> str:
    """A deployment run on a worker and an operator's `python -m flows.score` (which must
    succeed) at the same time, both on the Dask cluster: the deployment run, once it ended."""
    deployment_run = score_run(prefect_api)
    run_python(["-m", "flows.score"], environment)
    return wait_for_flow_run(prefect_api, deployment_run)


def test_make_up_starts_everything_once_and_make_down_stops_exactly_that(
    tmp_path, stack_ports, monkeypatch
):
    # Two Prefect workers and a local Dask cluster of two workers, as a production topology in
    # miniature: the files of each score run are tasks on the cluster.
    for name, value in {
        "HEART_WORKERS": "2",
        "HEART_DASK_WORKERS": "2",
        "HEART_DASK_PORT": str(free_port()),
        "HEART_SETTLE_SECONDS": "0",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    stack_dir = tmp_path / ".state"
    prefect_api = f"http://127.0.0.1:{stack_ports['prefect']}/api"
    try:
        first = make("up")
        assert first.returncode == 0, first.stdout + first.stderr
        for port in (stack_ports["prefect"], stack_ports["mlflow"], stack_ports["evidently"]):
            assert f"http://127.0.0.1:{port}" in first.stdout
        assert answers(f"{prefect_api}/health")
        assert answers(f"http://127.0.0.1:{stack_ports['mlflow']}/health")
        assert answers(f"http://127.0.0.1:{stack_ports['evidently']}/api/version")
        assert_only_its_owner_reads_the_stack(stack_dir, prefect_api)
        use_stack_credentials(monkeypatch, Stack(Settings()))
        deployments = api(prefect_api, "/deployments/filter", {})
        assert sorted(d["entrypoint"] for d in deployments) == [
            "flows/monitor.py:monitor",
            "flows/score.py:score",
            "flows/train.py:train",
        ]
        pools = api(prefect_api, "/work_pools/filter", {})
        assert [(pool["name"], pool["type"]) for pool in pools] == [("heart-batch", "process")]
        started = pids(stack_dir)
        expected = {"mail-sink", "prefect-server", "mlflow-server", "evidently-ui"}
        expected |= {"dask-scheduler", "dask-worker-1", "dask-worker-2", "worker-1", "worker-2"}
        assert set(started) == expected

        second = make("up")
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.count("already running") == len(expected)
        pause_schedules(prefect_api)
        assert pids(stack_dir) == started

        status = make("status")
        assert status.returncode == 0 and status.stdout.count("running (pid") == len(expected)

        send_through_email_block(prefect_api, "heart-batch: mail sink check")
        stored = list((stack_dir / "mail" / "new").iterdir())
        assert len(stored) == 1
        assert "Subject: heart-batch: mail sink check" in stored[0].read_text()

        processes = [psutil.Process(pid) for pid in started.values()]
        lost_worker = score_exactly_once_and_survive_a_lost_worker(tmp_path, stack_ports)

        down = make("down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert down.stdout.count("stopped (pid") == len(expected) - 1
        assert f"{lost_worker:15} was not running" in down.stdout
        assert not any(process.is_running() for process in processes)
        assert not list((stack_dir / "pids").iterdir())
        assert not answers(f"{prefect_api}/health")
    finally:
        make("down")


def score_exactly_once_and_survive_a_lost_worker(home: Path, ports: dict) -> str:
    """Two score runs at once on the Dask cluster; then a run's machine lost in the middle of a
    file (its worker and flow-run process killed with -9): the run is marked Crashed, and the next
    run, on the other worker, scores what it had claimed. The lost worker's name."""
    prefect_api = f"http://127.0.0.1:{ports['prefect']}/api"
    environment = os.environ | {
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
        "PREFECT_API_URL": prefect_api,
    }
    register_a_champion(environment)
    rows = drop_files(home / "input", 0, 30)
    dask = {"HEART_DASK_ADDRESS": f"tcp://127.0.0.1:{os.environ['HEART_DASK_PORT']}"}
    first_run = two_score_runs_at_once(prefect_api, environment | dask)
    assert first_run["state_type"] == "COMPLETED"
    assert_scored_exactly_once(home, files=30, rows=rows)

    rows += drop_files(home / "input", 30, 5) + drop_a_large_file(home / "input")
    in_process = {"HEART_DASK_ADDRESS": "", "HEART_DASK_WORKERS": "0"}  # claims in the flow run
    lost_run = score_run(prefect_api, in_process)
    wait_for_a_claim(home / "heart.db", LARGE_FILE)
    lost_worker = lose_the_machine_of(lost_run, home / ".state")
    crashed = wait_for_flow_run(prefect_api, lost_run, timeout=300)
    assert crashed["state_type"] == "CRASHED", crashed["state"]
    assert "No heartbeat" in crashed["state"]["message"]
    # The automation leaves runs that ended alone (they stopped beating long ago).
    assert api(prefect_api, f"/flow_runs/{first_run['id']}")["state_type"] == "COMPLETED"

    final = wait_for_flow_run(prefect_api, score_run(prefect_api))
    assert final["state_type"] == "COMPLETED"  # the other worker, taking the dead claim over
    assert_scored_exactly_once(home, files=36, rows=rows)
    return lost_worker


LARGE_FILE = "backlog.csv"


def drop_a_large_file(inbox: Path, copies: int = 12_000) -> int:
    """About 3.6M rows, seconds of scoring: a run is surely in the middle of it when its machine
    is lost. Returns its data rows."""
    header, *body = (REPO_ROOT / "data" / "heart.csv").read_text().splitlines()
    (inbox / LARGE_FILE).write_text(header + "\n" + ("\n".join(body) + "\n") * copies)
    return len(body) * copies


def wait_for_a_claim(ledger: Path, source_name: str, timeout: float = 300) -> None:
    """Until a run has claimed ``source_name`` in the ledger and not finished it."""
    deadline = time.monotonic() + timeout
    query = "SELECT 1 FROM scored_files WHERE source_name = ? AND status = 'claimed'"
    while time.monotonic() < deadline:
        if ledger.exists():
            with contextlib.closing(sqlite3.connect(ledger)) as connection:
                if connection.execute(query, (source_name,)).fetchone():
                    return
        time.sleep(0.1)
    raise AssertionError(f"{source_name} was not claimed within {timeout} s")


def lose_the_machine_of(flow_run: str, stack_dir: Path) -> str:
    """kill -9 the worker that runs ``flow_run``, then everything it started (the worker first,
    or it would see its child die and report the crash itself, as it does when only the flow-run
    process is lost). The worker's name."""
    for name, pid in pids(stack_dir).items():
        if name.startswith("worker"):
            worker = psutil.Process(pid)
            machine = [worker, *worker.children(recursive=True)]
            if any(runs(process, flow_run) for process in machine[1:]):
                for process in machine:
                    process.kill()
                return name
    raise AssertionError(f"no worker runs flow run {flow_run}")


def runs(process: psutil.Process, flow_run: str) -> bool:
    """True when ``process`` executes ``flow_run`` (the worker's child gets its id in the
    environment)."""
    try:
        return process.environ().get("PREFECT__FLOW_RUN_ID") == flow_run
    except psutil.Error:
        return False


def assert_scored_exactly_once(home: Path, files: int, rows: int) -> None:
    """Every file in one predictions file, every row scored or rejected once, nothing left."""
    predictions = pd.read_parquet(home / "outputs")
    rejected = home / "outputs" / "_rejected"
    rejected_rows = len(pd.read_parquet(rejected)) if rejected.exists() else 0
    assert predictions["source_file"].nunique() == files
    assert len(predictions) + rejected_rows == rows
    assert not predictions.duplicated(["source_file", "source_row"]).any()
    assert len(list((home / "outputs").glob("predictions_*.parquet"))) == files
    assert not [p for p in (home / "outputs").rglob("*") if p.name.endswith(".tmp")]
    assert not list((home / "input").glob("*.csv"))


def test_make_down_with_nothing_running_says_so(tmp_path):
    done = make("down")
    assert done.returncode == 0
    assert "nothing was running" in done.stdout
    assert not (tmp_path / ".state" / "pids").exists() or not any(
        (tmp_path / ".state" / "pids").iterdir()
    )
