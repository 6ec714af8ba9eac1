"""Helpers for the tests that start the whole system: free ports and the Prefect REST API."""

import json
import urllib.request

import pytest

from tests.conftest import free_port


def api(url: str, path: str, body: dict | None = None):
    """GET (or POST ``body`` to) the Prefect REST API; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


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
