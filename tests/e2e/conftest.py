"""Helpers for the tests that start the whole system: free ports and the Prefect REST API."""

import json
import os
import time
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
    """GET (or POST ``body`` to) the Prefect REST API; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


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
