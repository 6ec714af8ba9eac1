"""`make up` / `make down` on a fresh HEART_HOME: real servers, a real worker, the mail sink."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import answers, api, user_shell_environment

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
    """Send a message with the credentials `make up` saved in the email block.

    In a child process: a Prefect client in this process would keep events for the stack's
    server after `make down`, and the test harness would wait for them at the end of the session.
    """
    environment = os.environ | {"PREFECT_API_URL": prefect_api}
    sent = subprocess.run(
        [sys.executable, "-c", SEND_THROUGH_BLOCK, subject],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=environment,
    )
    assert sent.returncode == 0, sent.stderr


def test_make_up_starts_everything_once_and_make_down_stops_exactly_that(tmp_path, stack_ports):
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
        deployments = api(prefect_api, "/deployments/filter", {})
        assert sorted(d["entrypoint"] for d in deployments) == [
            "flows/monitor.py:monitor",
            "flows/score.py:score",
            "flows/train.py:train",
        ]
        pools = api(prefect_api, "/work_pools/filter", {})
        assert [(pool["name"], pool["type"]) for pool in pools] == [("heart-batch", "process")]
        started = pids(stack_dir)
        expected = {"mail-sink", "prefect-server", "mlflow-server", "evidently-ui", "worker"}
        assert set(started) == expected

        second = make("up")
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.count("already running") == len(expected)
        assert pids(stack_dir) == started

        status = make("status")
        assert status.returncode == 0 and status.stdout.count("running (pid") == len(expected)

        send_through_email_block(prefect_api, "heart-batch: mail sink check")
        stored = list((stack_dir / "mail" / "new").iterdir())
        assert len(stored) == 1
        assert "Subject: heart-batch: mail sink check" in stored[0].read_text()

        processes = [psutil.Process(pid) for pid in started.values()]
        down = make("down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert down.stdout.count("stopped (pid") == len(expected)
        assert not any(process.is_running() for process in processes)
        assert not list((stack_dir / "pids").iterdir())
        assert not answers(f"{prefect_api}/health")
    finally:
        make("down")


def test_make_down_with_nothing_running_says_so(tmp_path):
    done = make("down")
    assert done.returncode == 0
    assert "nothing was running" in done.stdout
    assert not (tmp_path / ".state" / "pids").exists() or not any(
        (tmp_path / ".state" / "pids").iterdir()
    )
