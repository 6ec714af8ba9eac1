"""`make up`'s hand-written supervision against supervisord, on the same three servers.

Starts the mail sink, the MLflow tracking server and the Evidently UI twice, in the same run: with
``ops.stack`` (spawn, pid file, wait until the health check answers) and with supervisord (one
program per server, priorities in the same start order, then polled with the same health checks,
since supervisord knows only "the process runs"). Prints the seconds until every server answers,
the seconds to stop them, and the supervisor's own memory.

supervisord is not a dependency of heart-batch: run this with its binary on PATH,
``pip install supervisor`` in a throwaway environment, then
``SUPERVISORD=/path/to/supervisord python -m tests.benchmarks.bench_supervision``.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from heart_batch.settings import Settings, quiet_tools
from ops.stack import Service, Stack
from tests.ports import free_port

SERVERS = ("mail-sink", "mlflow-server", "evidently-ui")


def stack_in(home: Path) -> Stack:
    """A stack of its own (home, free ports) for one measurement."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("HEART_")}
    environ |= {"HEART_HOME": str(home)}
    environ |= {f"HEART_{name}_PORT": str(free_port()) for name in ("MLFLOW", "EVIDENTLY", "MAIL")}
    os.environ.clear()
    os.environ.update(environ)
    return Stack(Settings())


def chosen(stack: Stack) -> list[Service]:
    return [service for service in stack.servers() if service.name in SERVERS]


def hand_written(home: Path) -> tuple[float, float, float]:
    """Seconds to start (answering), seconds to stop, and the supervisor's RSS (none: 0)."""
    stack = stack_in(home)
    for folder in (stack.pid_dir, stack.log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    begin = time.perf_counter()
    for service in chosen(stack):
        stack._ensure_running(service, started)  # pylint: disable=protected-access
    up = time.perf_counter() - begin
    begin = time.perf_counter()
    stack.down()
    return up, time.perf_counter() - begin, 0.0


def supervised(home: Path, supervisord: str) -> tuple[float, float, float]:
    """The same with supervisord: its config, its daemon, the same health checks."""
    stack = stack_in(home)
    stack.settings.stack_dir.mkdir(parents=True)  # the mail sink's folder goes inside
    services = chosen(stack)
    environment = stack.environment()
    config = home / "supervisord.conf"
    sections = [
        f"[supervisord]\nnodaemon=false\nlogfile={home / 'supervisord.log'}\n"
        f"pidfile={home / 'supervisord.pid'}\n",
        f"[unix_http_server]\nfile={home / 'supervisor.sock'}\n",
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl=unix://{home / 'supervisor.sock'}\n",
    ]
    for priority, service in enumerate(services, start=1):
        variables = ",".join(
            f'{name}="{value}"' for name, value in (environment | dict(service.env)).items()
        )
        sections.append(
            f"[program:{service.name}]\ncommand={' '.join(service.command)}\n"
            f"priority={priority}\nstartsecs=1\nstopasgroup=true\nkillasgroup=true\n"
            f"directory={home}\nenvironment={variables}\n"
            f"stdout_logfile={home / service.name}.log\nredirect_stderr=true\n"
        )
    config.write_text("\n".join(sections))
    begin = time.perf_counter()
    subprocess.run([supervisord, "-c", str(config)], check=True)
    while not all(stack._answers(service) for service in services):  # pylint: disable=W0212
        time.sleep(0.5)
    up = time.perf_counter() - begin
    daemon = psutil.Process(int((home / "supervisord.pid").read_text()))
    rss = daemon.memory_info().rss / 2**20
    control = str(Path(supervisord).with_name("supervisorctl"))
    begin = time.perf_counter()
    subprocess.run([control, "-c", str(config), "shutdown"], check=True, capture_output=True)
    while daemon.is_running() and daemon.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.1)
    return up, time.perf_counter() - begin, rss


def main() -> None:
    """Print both measurements side by side."""
    quiet_tools()
    supervisord = os.environ.get("SUPERVISORD") or shutil.which("supervisord")
    if not supervisord:
        sys.exit("supervisord not found: set SUPERVISORD (see this module's docstring)")
    rows = []
    for name, measure in (
        ("hand-written (ops.stack)", hand_written),
        ("supervisord", lambda home: supervised(home, supervisord)),
    ):
        with tempfile.TemporaryDirectory() as home:
            rows.append((name, *measure(Path(home))))
    print(f"{len(SERVERS)} servers ({', '.join(SERVERS)}), started until each answers, stopped")
    print(f"{'supervision':26} {'up (s)':>8} {'down (s)':>9} {'supervisor RSS (MiB)':>21}")
    for name, up, down, rss in rows:
        print(f"{name:26} {up:8.1f} {down:9.1f} {rss:21.1f}")


if __name__ == "__main__":
    main()
