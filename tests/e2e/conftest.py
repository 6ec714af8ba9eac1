"""Helpers for the tests that start the whole system: free ports, the Prefect REST API, a
champion registered through the tracking server."""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import REPO_ROOT
from tests.ports import free_port


def user_shell_environment() -> dict[str, str]:
    """This environment as a user's shell has it: without the project's virtualenv activated
    (the tests run inside `pipenv run`, whose python3 has no pipenv)."""
    venv = str(REPO_ROOT / ".venv")
    hidden = ("VIRTUAL_ENV", "PIPENV_ACTIVE", "PYTHONHOME")
    environment = {name: value for name, value in os.environ.items() if name not in hidden}
    path = os.environ.get("PATH", "").split(os.pathsep)
    environment["PATH"] = os.pathsep.join(entry for entry in path if not entry.startswith(venv))
    return environment


def api(url: str, path: str, body: dict | None = None):
    """GET (or POST ``body`` to) the Prefect REST API; the decoded JSON answer.

    A busy server answers 503 (its database is locked for a moment) or 429: retried after 1, 2, 4
    and 8 s, as Prefect's own client does.
    """
    data = None if body is None else json.dumps(body).encode()
    for wait in (1, 2, 4, 8):
        try:
            return _request(f"{url}{path}", data)
        except urllib.error.HTTPError as error:
            if error.code not in (429, 503):
                raise
        time.sleep(wait)
    return _request(f"{url}{path}", data)


def _request(url: str, data: bytes | None):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    credentials = os.environ.get("PREFECT_API_AUTH_STRING")
    if credentials:  # the stack's Prefect server requires them (see use_stack_credentials)
        token = base64.b64encode(credentials.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


def use_stack_credentials(monkeypatch, stack) -> None:
    """Send the password of the stack's Prefect server, as `source .state/env` does: with every
    REST call of these helpers and from every child process."""
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", stack.prefect_auth)


def pause_schedules(prefect_api: str) -> None:
    """Pause every deployment's schedules, which drops their scheduled runs; runs started by hand
    still run. A test starts its runs itself: a scheduled one coming due meanwhile (the hourly
    score near the top of the hour) would take the deployment's one slot and get the test's run
    cancelled, as a CI run's was."""
    for deployment in api(prefect_api, "/deployments/filter", {}):
        api(prefect_api, f"/deployments/{deployment['id']}/pause_deployment", {})


TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_for_flow_run(prefect_api: str, flow_run_id: str, timeout: float = 600) -> dict:
    """The flow run once it has reached a terminal state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flow_run = api(prefect_api, f"/flow_runs/{flow_run_id}")
        if flow_run["state_type"] in TERMINAL:
            return flow_run
        time.sleep(2)
    raise AssertionError(f"flow run {flow_run_id} did not finish within {timeout} s")


def run_python(arguments: list[str], environment: dict) -> None:
    """Python in a child process, which must succeed. In a child: a Prefect client in this process
    would keep events for the stack's server after the stack stops, and the test harness would wait
    for them at the end of the session."""
    done = subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=environment,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]


REGISTER_A_CHAMPION = """
from mlflow import MlflowClient
from heart_batch.training.data import load_training_data
from heart_batch.registry.champion import PromotionDecision, register_candidate
from heart_batch.settings import Settings
from tests.conftest import SEED_DATA, log_logistic_model

settings = Settings()
model_uri, run_id = log_logistic_model(load_training_data(SEED_DATA))
register_candidate(
    MlflowClient(), settings.model_name, (model_uri, run_id, "test"), PromotionDecision(True, "test")
)
"""


def register_a_champion(environment: dict) -> None:
    """A small champion in the stack's registry, through its tracking server."""
    run_python(["-c", REGISTER_A_CHAMPION], environment)


def score_run(prefect_api: str, environment: dict | None = None) -> str:
    """Start a run of the score deployment (one at a time: a second one would be cancelled),
    with ``environment`` added to its job's."""
    body = {"deployments": {"name": {"any_": ["score"]}}}
    [deployment] = api(prefect_api, "/deployments/filter", body)
    job = {"job_variables": {"env": environment}} if environment else {}
    return api(prefect_api, f"/deployments/{deployment['id']}/create_flow_run", job)["id"]


def answers(url: str) -> bool:
    """True when a GET of ``url`` returns 200."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def stack_ports(monkeypatch) -> dict[str, int]:
    """Free ports for every server of the stack, set in the environment."""
    ports = {name: free_port() for name in ("prefect", "mlflow", "evidently", "mail")}
    for name, port in ports.items():
        monkeypatch.setenv(f"HEART_{name.upper()}_PORT", str(port))
    return ports
