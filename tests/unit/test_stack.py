"""The stack's bookkeeping: pid files, stale and reused pids, ports taken by strangers."""

import json
import os
import socket
import subprocess

import psutil

from heart_batch.settings import PROJECT_ROOT, Settings
from ops.stack import Stack, settings_for_up


def write_pid_file(stack: Stack, name: str, pid: int, started: float) -> None:
    stack.pid_dir.mkdir(parents=True, exist_ok=True)
    (stack.pid_dir / f"{name}.json").write_text(json.dumps({"pid": pid, "started": started}))


def test_a_pid_file_of_an_exited_process_is_stale_and_removed(settings):
    stack = Stack(settings)
    with subprocess.Popen(["true"]) as exited:
        exited.wait()
    write_pid_file(stack, "mlflow-server", exited.pid, 0.0)
    assert stack.processes() == []
    assert not (stack.pid_dir / "mlflow-server.json").exists()


def test_down_never_signals_a_process_that_reused_a_recorded_pid(settings):
    stack = Stack(settings)
    write_pid_file(stack, "worker", os.getpid(), started=1.0)
    assert stack.down() == [f"{'worker':15} was not running"]
    assert not (stack.pid_dir / "worker.json").exists()


def test_down_with_no_pid_files_says_nothing_was_running(settings):
    assert Stack(settings).down() == ["nothing was running"]


def test_worker_environment_points_flow_runs_at_this_stack(monkeypatch):
    monkeypatch.setenv("HEART_PREFECT_PORT", "4300")
    monkeypatch.setenv("HEART_GIT_BRANCH", "release")
    stack = Stack(Settings())
    environment = stack.environment()
    assert environment["PREFECT_API_URL"] == "http://127.0.0.1:4300/api"
    assert environment["MLFLOW_TRACKING_URI"] == stack.mlflow_url
    assert environment["HEART_HOME"] == str(stack.settings.home)
    assert environment["HEART_GIT_URL"] == PROJECT_ROOT.as_uri()
    assert environment["HEART_GIT_BRANCH"] == "release"
    assert environment["HEART_ALERT_TO"] == "heart-team@localhost"


def test_a_real_smtp_server_replaces_the_mail_sink(monkeypatch):
    monkeypatch.setenv("HEART_SMTP_SERVER", "smtp.gmail.com")
    monkeypatch.setenv("HEART_GIT_BRANCH", "main")  # the tests may run outside a checkout
    stack = Stack(Settings())
    assert "mail-sink" not in [service.name for service in stack.servers()]
    assert stack.environment()["HEART_ALERT_TO"] == ""


def test_a_remote_tracking_server_is_used_instead_of_starting_one(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("HEART_GIT_BRANCH", "main")
    stack = Stack(Settings())
    assert "mlflow-server" not in [service.name for service in stack.servers()]
    assert stack.environment()["MLFLOW_TRACKING_URI"] == "http://mlflow.internal:5000"


def test_the_local_tracking_server_serves_the_configured_stores(settings):
    [server] = [service for service in Stack(settings).servers() if service.name == "mlflow-server"]
    assert server.env == {"MLFLOW_BACKEND_STORE_URI": settings.mlflow_tracking_uri}
    assert settings.artifact_location in server.command


def test_database_passwords_travel_in_the_environment_never_on_a_command_line(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("HEART_POSTGRES_URL", "postgresql://heart:s3cret@db.example:5432")
    monkeypatch.setenv("HEART_DASK_WORKERS", "2")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://heart:s3cret@db.example:5432/heart"
    services = Stack(settings).servers() + Stack(settings).workers()
    assert not any("s3cret" in " ".join(service.command) for service in services)
    environments = {service.name: service.env for service in services}
    assert environments["prefect-server"] == {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
            "postgresql+asyncpg://heart:s3cret@db.example:5432/prefect"
        ),
        # It streams the runs' logs to `prefect deployment run --watch`.
        "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
        "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
    }
    assert "s3cret" in environments["mlflow-server"]["MLFLOW_BACKEND_STORE_URI"]
    assert "s3cret" not in repr(settings)  # nor in the settings' repr, which logs may show
    assert {"dask-scheduler", "dask-worker-1", "dask-worker-2"} <= set(environments)
    assert not list(tmp_path.rglob("*.db"))


def test_several_workers_are_stopped_before_the_servers(settings):
    stack = Stack(settings.model_copy(update={"workers": 3}))
    assert [worker.name for worker in stack.workers()] == ["worker-1", "worker-2", "worker-3"]
    for name in ("postgres", "prefect-server", "worker-2", "dask-worker-1", "worker-1"):
        write_pid_file(stack, name, os.getpid(), started=1.0)
    stopped = [line.split()[0] for line in stack.down()]
    assert stopped == ["worker-1", "worker-2", "dask-worker-1", "prefect-server", "postgres"]


def test_mlflow_beyond_this_machine_accepts_its_names_and_addresses_and_no_other(monkeypatch):
    monkeypatch.setenv("HEART_BIND_HOST", "0.0.0.0")
    monkeypatch.setenv("HEART_MLFLOW_PORT", "5123")
    hosts = Stack(Settings()).mlflow_allowed_hosts()
    assert {"localhost", "127.0.0.1:5123", socket.gethostname(), f"{socket.getfqdn()}:5123"} <= set(
        hosts
    )
    interfaces = {
        address.address
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == socket.AF_INET
    }
    assert interfaces <= set(hosts)
    monkeypatch.setenv("HEART_ALLOWED_HOSTS", "mlflow.hospital.example, 10.1.2.3")
    named = Stack(Settings()).mlflow_allowed_hosts()
    assert "mlflow.hospital.example:5123" in named and "10.1.2.3" in named
    assert socket.gethostname() not in named


def test_every_service_starts_after_those_it_talks_to_and_stops_before_them(monkeypatch):
    monkeypatch.setenv("HEART_POSTGRES", "local")
    monkeypatch.setenv("HEART_DASK_WORKERS", "2")
    monkeypatch.setenv("HEART_WORKERS", "2")
    stack = Stack(Settings())
    started = [service.name for service in stack.servers() + stack.workers()]
    assert started == [
        "mail-sink",
        "postgres",
        "prefect-server",
        "mlflow-server",
        "evidently-ui",
        "dask-scheduler",
        "dask-worker-1",
        "dask-worker-2",
        "worker-1",
        "worker-2",
    ]
    for name in started:
        write_pid_file(stack, name, os.getpid(), started=1.0)
    stopped = [line.split()[0] for line in stack.down()]
    assert stopped == [
        "worker-1",
        "worker-2",
        "dask-worker-1",
        "dask-worker-2",
        *started[5::-1],
    ]


def test_asking_what_runs_writes_nothing(settings, monkeypatch):
    monkeypatch.setenv("HEART_MLFLOW_PASSWORD", "s3cret")
    monkeypatch.setenv("HEART_POSTGRES", "local")
    stack = Stack(Settings())
    stack.servers()
    rows = stack.status()
    assert {name for name, pid, _ in rows if pid is not None} == set()
    assert not settings.stack_dir.exists()


def test_make_up_gives_the_local_postgresql_server_a_password_that_every_store_url_carries(
    monkeypatch,
):
    monkeypatch.setenv("HEART_POSTGRES", "local")
    assert Settings().local_postgres.password() == ""  # reading the settings wrote nothing
    settings = settings_for_up()
    password = settings.local_postgres.password()
    assert len(password) >= 24
    assert (
        f":{password}@" in settings.database_url and f":{password}@" in settings.mlflow_tracking_uri
    )
