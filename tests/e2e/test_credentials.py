"""Nothing open to the network without credentials: `make up` bound beyond 127.0.0.1.

The stack listens on every address with PostgreSQL holding its stores; each server refuses a
request that carries no credentials and serves one that carries them, and provisioning and the
workers (which take theirs from the environment) work as usual.
"""

import base64
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import psutil
import psycopg
import pytest

from heart_batch.storage.urls import store_url
from ops.stack import Stack, StackError, settings_for_up
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFECT_AUTH = "heart:prefect-secret"
MLFLOW_PASSWORD = "mlflow-secret-1"


def status(
    url: str, credentials: str | None = None, body: bytes | None = None, host: str = ""
) -> int:
    """The HTTP status of a GET of ``url`` (a POST of ``body``), with basic auth when given
    credentials, and another Host header when given one."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    if host:
        request.add_header("Host", host)
    if credentials:
        request.add_header(
            "Authorization", f"Basic {base64.b64encode(credentials.encode()).decode()}"
        )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def own_address() -> str:
    """This machine's first IPv4 address that is not a loopback one, if it has any."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return ""


MLFLOW_CLIENT = """
import sys
from mlflow import MlflowClient
print(len(MlflowClient(sys.argv[1]).search_experiments()))
"""


def mlflow_client_sees_the_experiments(tracking_uri: str, password: str) -> bool:
    """An MLflow client in another process, with the admin's credentials, lists experiments."""
    environment = os.environ | {"MLFLOW_TRACKING_USERNAME": "admin"}
    environment["MLFLOW_TRACKING_PASSWORD"] = password
    done = subprocess.run(
        [sys.executable, "-c", MLFLOW_CLIENT, tracking_uri],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    return done.returncode == 0 and int(done.stdout.strip().splitlines()[-1]) >= 1


def test_the_stack_refuses_to_listen_beyond_this_machine_without_credentials(
    monkeypatch, stack_ports
):  # pylint: disable=unused-argument
    monkeypatch.setenv("HEART_BIND_HOST", "0.0.0.0")
    with pytest.raises(StackError, match="HEART_PREFECT_AUTH=user:password and HEART_MLFLOW"):
        Stack(settings_for_up()).up()


def test_each_server_refuses_a_request_without_credentials_and_serves_one_with_them(
    monkeypatch, stack_ports
):
    for name, value in {
        "HEART_BIND_HOST": "0.0.0.0",
        "HEART_PREFECT_AUTH": PREFECT_AUTH,
        "HEART_MLFLOW_PASSWORD": MLFLOW_PASSWORD,
        "HEART_POSTGRES": "local",
        "HEART_POSTGRES_PORT": str(free_port()),
        "HEART_ALLOWED_HOSTS": f"127.0.0.2,{own_address() or 'worker.example'}",
    }.items():
        monkeypatch.setenv(name, value)
    system = Stack(settings_for_up())
    try:
        report = "\n".join(system.up())
        assert "worker" in report and "deployments" in report  # provisioned with credentials

        prefect = f"http://127.0.0.1:{stack_ports['prefect']}/api/deployments/filter"
        assert status(prefect, body=b"{}") == 401
        assert status(prefect, PREFECT_AUTH, body=b"{}") == 200
        assert status(prefect, "heart:wrong", body=b"{}") == 401

        mlflow = f"http://127.0.0.1:{stack_ports['mlflow']}/api/2.0/mlflow/experiments/search"
        assert status(f"{mlflow}?max_results=1") == 401
        assert status(f"{mlflow}?max_results=1", f"admin:{MLFLOW_PASSWORD}") == 200
        assert status(f"{mlflow}?max_results=1", "admin:wrong") == 401
        # From another address of this machine, as a worker on another machine reaches it: a
        # named allowed host (HEART_ALLOWED_HOSTS), and this machine's own interface address.
        elsewhere = mlflow.replace("127.0.0.1", "127.0.0.2")
        assert status(f"{elsewhere}?max_results=1", f"admin:{MLFLOW_PASSWORD}") == 200
        assert mlflow_client_sees_the_experiments(
            f"http://127.0.0.2:{stack_ports['mlflow']}", MLFLOW_PASSWORD
        )
        interface = own_address()
        if interface:
            assert (
                status(
                    mlflow.replace("127.0.0.1", interface) + "?max_results=1",
                    f"admin:{MLFLOW_PASSWORD}",
                )
                == 200
            )
        forged = status(f"{mlflow}?max_results=1", f"admin:{MLFLOW_PASSWORD}", host="evil.example")
        assert forged == 403  # MLflow's defence against DNS rebinding stays on

        server = system.settings.local_postgres
        without = store_url(f"postgresql://heart@127.0.0.1:{server.port}", "heart", "")
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(without, connect_timeout=10).close()
        psycopg.connect(store_url(server.server_url(), "heart", ""), connect_timeout=10).close()
    finally:
        system.down()
