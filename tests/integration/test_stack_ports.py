"""`make up` and `make status` against ports other programs hold."""

import contextlib
import json
import socket
import subprocess
import sys
import time

import psutil
import pytest

from ops.stack import Stack, StackError, settings_for_up

LISTEN = (
    "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); "
    "s.listen(); time.sleep(60)"
)


@contextlib.contextmanager
def strangers(count: int):
    """Sockets another program holds: their ports."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for stranger in sockets:
            stranger.bind(("127.0.0.1", 0))
            stranger.listen()
        yield [stranger.getsockname()[1] for stranger in sockets]


def test_every_busy_port_is_named_at_once_and_nothing_starts(monkeypatch):
    with strangers(2) as (prefect, mlflow):
        monkeypatch.setenv("HEART_PREFECT_PORT", str(prefect))
        monkeypatch.setenv("HEART_MLFLOW_PORT", str(mlflow))
        stack = Stack(settings_for_up())
        with pytest.raises(StackError) as refused:
            stack.up()
    message = str(refused.value)
    assert f"prefect-server {prefect} (HEART_PREFECT_PORT)" in message
    assert f"mlflow-server {mlflow} (HEART_MLFLOW_PORT)" in message
    assert stack.processes() == []
    assert not (stack.log_dir / "mail-sink.log").exists()


def record(stack: Stack, name: str, process: subprocess.Popen) -> None:
    """A pid file, as `make up` writes it, for a process started here."""
    stack.pid_dir.mkdir(parents=True, exist_ok=True)
    started = psutil.Process(process.pid).create_time()
    (stack.pid_dir / f"{name}.json").write_text(
        json.dumps({"pid": process.pid, "started": started})
    )


def mail_sink_status(stack: Stack) -> tuple[int | None, bool]:
    [(pid, healthy)] = [(pid, ok) for name, pid, ok in stack.status() if name == "mail-sink"]
    return pid, healthy


def listening(pid: int, port: int) -> bool:
    return any(c.laddr.port == port for c in psutil.Process(pid).net_connections())


def test_status_counts_a_server_healthy_only_when_its_own_process_holds_the_port():
    stack = Stack(settings_for_up())
    port = stack.settings.mail_port
    with subprocess.Popen([sys.executable, "-c", LISTEN, str(port)]) as ours:
        try:
            record(stack, "mail-sink", ours)
            deadline = time.monotonic() + 30
            while not listening(ours.pid, port) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert mail_sink_status(stack) == (ours.pid, True)
        finally:
            ours.kill()
    idle_command = [sys.executable, "-c", "import time; time.sleep(60)"]
    with socket.socket() as stranger, subprocess.Popen(idle_command) as idle:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("127.0.0.1", port))
        stranger.listen()
        try:
            record(stack, "mail-sink", idle)  # our process runs, another program answers
            assert mail_sink_status(stack) == (idle.pid, False)
        finally:
            idle.kill()
