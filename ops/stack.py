"""The whole system on one machine: `make up` starts it, `make down` stops exactly that.

``up`` starts, on 127.0.0.1, a mail sink (unless ``HEART_SMTP_SERVER`` names a real server), a
Prefect server, an MLflow tracking server and the Evidently UI; then creates the work pool, the
email block and the three deployments; then starts a worker. Every process has a pid file
(``pids/<name>.json``) and a log (``logs/<name>.log``) under ``HEART_STACK_DIR``; a pid file
that names a live process (same pid, same start time) means "already running", so ``up`` twice
starts nothing twice and ``down`` never signals a stranger that reused a pid.

    python -m ops up|down|status
"""

import base64
import contextlib
import functools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil
import yaml

from heart_batch.scoring.inbox import write_private_text
from heart_batch.settings import PROJECT_ROOT, QUIET_TOOLS, Settings
from heart_batch.storage.urls import as_user, ensure_databases, store_url, stored_secret

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
LOG_STREAMING = {
    "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
    "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
}
"""The Prefect server streams each run's logs to its watchers, so that `prefect deployment run
--watch` prints them (the run's one-line outcome last), not only its events."""
LOST_RUNS_AUTOMATION = PROJECT_ROOT / "flows" / "lost_runs.yaml"
START_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 30
START_ORDER = (
    "mail-sink",
    "postgres",
    "prefect-server",
    "mlflow-server",
    "evidently-ui",
    "dask-scheduler",
    "dask-worker",
    "worker",
)
"""Every kind of service, in the order they start (each after those it talks to); they stop in
the reverse order. ``worker`` and ``dask-worker`` name several (``worker-2``, ...)."""
POSTGRES = "postgres"
PREFECT_USER = "heart"
PRIVATE_FOLDER = 0o700


class StackError(RuntimeError):
    """A service could not be started or provisioned; the message says what to do."""


@dataclass(frozen=True)
class Service:
    """A long-running process of the stack."""

    name: str
    command: list[str]
    port: int | None = None
    port_setting: str = ""
    health_url: str | None = None
    ui_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables of this process only (secrets it alone needs)."""
    user: str | None = None
    """Run as this user (PostgreSQL refuses to run as root)."""
    credentials: str | None = None
    """user:password its health check sends (HTTP basic auth)."""


def settings_for_up() -> Settings:
    """The settings `make up` runs with: the environment's, once the local PostgreSQL server (with
    ``HEART_POSTGRES=local``) has its password, which every store's URL then carries. Reading
    the settings writes nothing; starting the stack writes the password first."""
    settings = Settings()
    local = settings.local_postgres
    if local is None or local.password():
        return settings
    local.create_password()
    return Settings()


class Stack:
    """The services of one HEART_HOME, their pid files and logs."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None):
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)
        self.pid_dir = settings.stack_dir / "pids"
        self.log_dir = settings.stack_dir / "logs"
        self.mail_dir = settings.stack_dir / "mail"
        self.prefect_password_file = settings.stack_dir / "secrets" / "prefect-password"
        self.shell_file = settings.stack_dir / "env"
        self.mlflow_auth_dir = settings.stack_dir / "mlflow-auth"

    @property
    def prefect_auth(self) -> str:
        """``user:password`` the Prefect server requires: ``HEART_PREFECT_AUTH``, or else the one
        ``up`` generated (``secrets/prefect-password``, mode 0600). On one machine too: the API
        holds the email block's SMTP password, and any local user could read an open one."""
        given = self.settings.prefect_auth.get_secret_value()
        if given or not self.prefect_password_file.exists():
            return given
        return f"{PREFECT_USER}:{self.prefect_password_file.read_text().strip()}"

    @property
    def prefect_api_url(self) -> str:
        """What every Prefect client needs as PREFECT_API_URL."""
        return f"http://{self.settings.client_host}:{self.settings.prefect_port}/api"

    @property
    def mlflow_url(self) -> str:
        """The tracking server flow runs use: a remote one named by MLFLOW_TRACKING_URI, or ours."""
        if not self.settings.tracking_store_is_database:
            return self.settings.mlflow_tracking_uri
        return f"http://{self.settings.client_host}:{self.settings.mlflow_port}"

    @property
    def uses_mail_sink(self) -> bool:
        """No SMTP server configured: alerts go to the local mail sink."""
        return not self.settings.smtp_server

    def servers(self) -> list[Service]:
        """The servers, in start order. Reads the state folder, never writes it (``up`` does)."""
        settings = self.settings
        prefect_ui = f"http://{settings.client_host}:{settings.prefect_port}"
        evidently_ui = f"http://{HOST}:{settings.evidently_port}"
        services = [
            Service(
                "prefect-server",
                [str(BIN / "prefect"), "server", "start"],
                settings.prefect_port,
                "HEART_PREFECT_PORT",
                f"{self.prefect_api_url}/health",
                prefect_ui,
                env=self._prefect_server_secrets() | LOG_STREAMING,
                credentials=self.prefect_auth or None,
            ),
            Service(
                "evidently-ui",
                [str(BIN / "evidently"), "ui", "--workspace", str(settings.evidently_workspace)]
                + ["--host", HOST, "--port", str(settings.evidently_port)],
                settings.evidently_port,
                "HEART_EVIDENTLY_PORT",
                f"{evidently_ui}/api/version",
                evidently_ui,
            ),
        ]
        if settings.tracking_store_is_database:
            tracking_server = Service(
                "mlflow-server",
                [str(BIN / "mlflow"), "server", "--host", settings.bind_host]
                + ["--port", str(settings.mlflow_port)]
                + ["--artifacts-destination", settings.artifact_location, "--workers", "1"],
                settings.mlflow_port,
                "HEART_MLFLOW_PORT",
                f"{self.mlflow_url}/health",
                self.mlflow_url,
                env={"MLFLOW_BACKEND_STORE_URI": settings.mlflow_tracking_uri},
            )
            if settings.mlflow_password.get_secret_value():
                tracking_server = self._with_basic_auth(tracking_server)
            if settings.exposed:
                hosts = ",".join(self.mlflow_allowed_hosts())
                tracking_server = replace(
                    tracking_server, command=tracking_server.command + ["--allowed-hosts", hosts]
                )
            services.append(tracking_server)
        if settings.dask_workers:
            services += self.dask_cluster()
        local = settings.local_postgres
        if local is not None:
            server = Service(
                POSTGRES, local.command(), local.port, "HEART_POSTGRES_PORT", user=local.run_as
            )
            services.append(server)
        if self.uses_mail_sink:
            sink = Service(
                "mail-sink",
                [str(BIN / "aiosmtpd"), "-n", "-l", f"{HOST}:{settings.mail_port}"]
                + ["-c", "aiosmtpd.handlers.Mailbox", str(self.mail_dir)],
                settings.mail_port,
                "HEART_MAIL_PORT",
            )
            services.append(sink)
        return sorted(services, key=_start_rank)

    def _prefect_server_secrets(self) -> dict[str, str]:
        """The Prefect server's database URL and the auth string it requires, if any."""
        settings, private = self.settings, {}
        if settings.postgres_server_url:
            private["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = store_url(
                settings.postgres_server_url, settings.prefect_database, driver="asyncpg"
            )
        if self.prefect_auth:
            private["PREFECT_SERVER_API_AUTH_STRING"] = self.prefect_auth
        return private

    def _with_basic_auth(self, tracking_server: Service) -> Service:
        """The tracking server behind MLflow's basic-auth app: its users in
        ``<stack_dir>/mlflow-auth`` (or the PostgreSQL database ``mlflow_auth``), the admin's
        password and the session key from the environment only."""
        settings, folder = self.settings, self.mlflow_auth_dir
        password = settings.mlflow_password.get_secret_value()
        session_key = folder / "session-key"
        return replace(
            tracking_server,
            command=tracking_server.command + ["--app-name", "basic-auth"],
            env={
                **tracking_server.env,
                "MLFLOW_AUTH_CONFIG_PATH": str(folder / "basic_auth.ini"),
                "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": (
                    session_key.read_text().strip() if session_key.exists() else ""
                ),
            },
            credentials=f"{settings.mlflow_username}:{password}",
        )

    def mlflow_allowed_hosts(self) -> list[str]:
        """The Host headers the MLflow server accepts when it listens beyond 127.0.0.1 (its
        defence against DNS rebinding): ``HEART_ALLOWED_HOSTS``, or this machine's names and
        interface addresses; localhost always; each with and without the port."""
        settings = self.settings
        names = [name.strip() for name in settings.allowed_hosts.split(",") if name.strip()]
        if not names:
            names = [socket.gethostname(), socket.getfqdn()] + [
                address.address.split("%")[0]
                for addresses in psutil.net_if_addrs().values()
                for address in addresses
                if address.family in (socket.AF_INET, socket.AF_INET6)
            ]
        if not settings.bind_host.startswith(("0.0.0.0", "::")):
            names.append(settings.bind_host)
        names = ["localhost", "127.0.0.1", *names]
        bracketed = [f"[{name}]" if ":" in name else name for name in dict.fromkeys(names)]
        return [form for name in bracketed for form in (name, f"{name}:{settings.mlflow_port}")]

    def dask_cluster(self) -> list[Service]:
        """A local Dask scheduler and ``HEART_DASK_WORKERS`` worker processes of one thread each
        (scoring a file uses its own threads)."""
        port = self.settings.dask_port
        code = {"PYTHONPATH": str(PROJECT_ROOT)}  # the tasks are functions of flows.score
        scheduler = Service(
            "dask-scheduler",
            [str(BIN / "dask"), "scheduler", "--host", HOST, "--port", str(port)]
            + ["--dashboard-address", ":0"],
            port,
            "HEART_DASK_PORT",
            env=code,  # it unpickles the task graph too
        )
        workers = [
            Service(
                f"dask-worker-{i}",
                [str(BIN / "dask"), "worker", self.settings.dask_address, "--nthreads", "1"]
                + ["--name", f"heart-dask-{i}", "--no-dashboard", "--host", HOST],
                env=code,
            )
            for i in range(1, self.settings.dask_workers + 1)
        ]
        return [scheduler, *workers]

    def workers(self) -> list[Service]:
        """The workers that run the deployments' flow runs (``HEART_WORKERS``): ``worker`` alone,
        or ``worker-1`` to ``worker-N``, each with its pid file and log."""
        count = self.settings.workers
        names = ["worker"] if count == 1 else [f"worker-{i}" for i in range(1, count + 1)]
        command = [str(BIN / "prefect"), "worker", "start", "--pool", self.settings.work_pool]
        return [Service(name, command + ["--name", f"heart-{name}"]) for name in names]

    def environment(self) -> dict[str, str]:
        """Environment of every process: the servers' addresses and where the state lives.

        The worker passes it on to each flow run, which runs in a fresh clone, so HEART_HOME must
        point at this stack's folders rather than at the clone.
        """
        settings = self.settings
        git_url, git_branch = self.git_source
        alert_to = settings.alert_to or ("heart-team@localhost" if self.uses_mail_sink else "")
        return (
            QUIET_TOOLS
            | self.environ
            | {
                "PREFECT_HOME": str(settings.stack_dir / "prefect"),
                "PREFECT_API_URL": self.prefect_api_url,
                "PREFECT_SERVER_API_HOST": settings.bind_host,
                "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
                "MLFLOW_TRACKING_URI": self.mlflow_url,
                "HEART_HOME": str(settings.home),
                "HEART_TRAINING_DATA": str(settings.training_data),
                "HEART_ALERT_TO": alert_to,
                "HEART_GIT_URL": git_url,
                "HEART_GIT_BRANCH": git_branch,
                "HEART_PROJECT_DIR": str(PROJECT_ROOT),
                "HEART_DASK_ADDRESS": settings.dask_address,
            }
            | self._client_credentials()
        )

    def _client_credentials(self) -> dict[str, str]:
        """What every client sends to servers that require credentials."""
        settings, credentials = self.settings, {}
        if self.prefect_auth:
            credentials["PREFECT_API_AUTH_STRING"] = self.prefect_auth
        if settings.mlflow_password.get_secret_value():
            credentials["MLFLOW_TRACKING_USERNAME"] = settings.mlflow_username
            credentials["MLFLOW_TRACKING_PASSWORD"] = settings.mlflow_password.get_secret_value()
        return credentials

    @functools.cached_property
    def git_source(self) -> tuple[str, str]:
        """Repository and branch the worker clones: by default this checkout's current branch.

        Cached: every process and provisioning command gets the environment, and it asks git.
        """
        url = self.settings.git_url or PROJECT_ROOT.as_uri()
        branch = self.settings.git_branch
        if not branch:
            found = subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--abbrev-ref", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
            )
            branch = found.stdout.strip()
            if found.returncode != 0 or branch in ("", "HEAD"):
                raise StackError("Cannot tell the checkout's branch: set HEART_GIT_BRANCH")
        return url, branch

    def up(self) -> list[str]:
        """Start what is not running, provision the Prefect server, and say where the UIs are."""
        self._prepare_private_state()
        for folder in (self.pid_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        report: list[str] = []
        self._refuse_to_expose_without_credentials()
        self._refuse_busy_ports()
        started: list[str] = []
        try:
            if self.settings.local_postgres is not None:
                self.settings.local_postgres.initialise()
            elif self.settings.postgres_server_url:
                report.append(self._create_databases())
            for service in self.servers():
                report.append(self._ensure_running(service, started))
                if service.name == POSTGRES:
                    report.append(self._create_databases())
            self._tighten_mlflow_users()
            report += self._provision()
            report += [self._ensure_running(worker, started) for worker in self.workers()]
        except BaseException:
            for name in reversed(started):
                self._stop(name)
            raise
        return report + self._addresses()

    def _prepare_private_state(self) -> None:
        """The state folder, readable by its owner only (it holds the servers' databases, the
        secrets and the mail), and the Prefect server's password when none is given."""
        stack_dir = self.settings.stack_dir
        stack_dir.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        stack_dir.chmod(PRIVATE_FOLDER)
        if not self.settings.prefect_auth.get_secret_value():
            stored_secret(self.prefect_password_file)
        if self.settings.mlflow_password.get_secret_value():
            self._write_mlflow_auth()

    def _write_mlflow_auth(self) -> None:
        """MLflow's basic-auth app: its config (users in ``<stack_dir>/mlflow-auth``, or the
        PostgreSQL database ``mlflow_auth``) and its session key, readable by their owner only."""
        settings, folder = self.settings, self.mlflow_auth_dir
        folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        folder.chmod(PRIVATE_FOLDER)  # its users' password hashes are nobody else's
        users = (
            store_url(settings.postgres_server_url, settings.mlflow_users_database)
            if settings.postgres_server_url
            else f"sqlite:///{folder / 'users.db'}"
        )
        config = folder / "basic_auth.ini"
        config.touch(mode=0o600)
        config.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = {users}\nadmin_username = {settings.mlflow_username}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        stored_secret(folder / "session-key")

    def _tighten_mlflow_users(self) -> None:
        """MLflow's users database (password hashes), made by the server: its owner's only."""
        users = self.mlflow_auth_dir / "users.db"
        if users.exists():
            users.chmod(0o600)

    def down(self) -> list[str]:
        """Stop every process a pid file names: the workers first, PostgreSQL last."""
        names = [path.stem for path in self.pid_dir.glob("*.json")]
        ordered = sorted(names, key=_stop_rank)
        return [self._stop(name) for name in ordered] or ["nothing was running"]

    def processes(self) -> list[tuple[str, psutil.Process]]:
        """The running processes this stack started, by service name."""
        names = [path.stem for path in self.pid_dir.glob("*.json")]
        found = [(name, self._process(name)) for name in sorted(names)]
        return [(name, process) for name, process in found if process is not None]

    def status(self) -> list[tuple[str, int | None, bool]]:
        """Each service: its pid if running, and whether it answers its health check."""
        rows = []
        for service in self.servers() + self.workers():
            process = self._process(service.name)
            healthy = process is not None and (
                service.port is None or (_holds(process, service.port) and self._answers(service))
            )
            rows.append((service.name, process.pid if process else None, healthy))
        return rows

    def _ensure_running(self, service: Service, started: list[str]) -> str:
        process = self._process(service.name)
        if process is not None:
            return f"{service.name:15} already running (pid {process.pid})"
        if service.port is not None and _port_taken(service.port):
            raise StackError(
                f"{service.name}: port {service.port} on {HOST} is used by another program; "
                f"stop it or choose another port with {service.port_setting}"
            )
        process = self._spawn(service)
        started.append(service.name)
        self._wait_until_ready(service, process)
        return f"{service.name:15} started (pid {process.pid})"

    def _spawn(self, service: Service) -> psutil.Process:
        log_path = self.log_dir / f"{service.name}.log"
        with log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} started ===\n".encode())
            log.flush()
            # The child outlives this process (it is a server): its pid file tracks it, not `with`.
            # pylint: disable-next=subprocess-popen-preexec-fn,consider-using-with
            child = subprocess.Popen(
                service.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment() | dict(service.env),
                cwd=self.settings.home,
                start_new_session=True,
                preexec_fn=_default_signal_handling,
                **as_user(service.user),
            )
        process = psutil.Process(child.pid)
        record = {"pid": child.pid, "started": process.create_time(), "command": service.command}
        (self.pid_dir / f"{service.name}.json").write_text(json.dumps(record))
        return process

    def _wait_until_ready(self, service: Service, process: psutil.Process) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                raise StackError(f"{service.name} exited at start:\n{self._log_tail(service.name)}")
            if service.port is None or self._answers(service):
                return
            time.sleep(0.5)
        raise StackError(
            f"{service.name} did not answer within {START_TIMEOUT_SECONDS} s:\n"
            f"{self._log_tail(service.name)}"
        )

    @staticmethod
    def _answers(service: Service) -> bool:
        if service.health_url is None:
            return service.port is not None and _port_taken(service.port)
        request = urllib.request.Request(service.health_url)
        if service.credentials:
            token = base64.b64encode(service.credentials.encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _refuse_busy_ports(self) -> None:
        """Every port another program holds, in one error, before anything starts."""
        busy = [
            f"{service.name} {service.port} ({service.port_setting})"
            for service in self.servers()
            if service.port is not None
            and self._process(service.name) is None
            and _port_taken(service.port)
        ]
        if busy:
            raise StackError(
                f"Ports on {HOST} used by other programs: {', '.join(busy)}. Stop those programs "
                "or choose other ports with the variables named (for example in your shell: "
                "export HEART_MAIL_PORT=2525)."
            )

    def _refuse_to_expose_without_credentials(self) -> None:
        settings = self.settings
        if not settings.exposed:
            return
        missing = [
            name
            for name, secret in (
                ("HEART_PREFECT_AUTH=user:password", settings.prefect_auth),
                ("HEART_MLFLOW_PASSWORD", settings.mlflow_password),
            )
            if not secret.get_secret_value()
        ]
        if missing:
            raise StackError(
                f"HEART_BIND_HOST={settings.bind_host} opens the servers to the network: set "
                f"{' and '.join(missing)} in the environment (never in a file in git)"
            )

    def _create_databases(self) -> str:
        """Our, MLflow's and Prefect's databases on the PostgreSQL server, if missing."""
        settings = self.settings
        created = ensure_databases(settings.postgres_server_url, settings.postgres_databases)
        names = ", ".join(settings.postgres_databases)
        return f"{'databases':15} {names} on PostgreSQL" + (
            f" ({', '.join(created)} created)" if created else ""
        )

    def _provision(self) -> list[str]:
        """Work pool, lost-run automation and email block (idempotent), then the deployments."""
        pool = self.settings.work_pool
        if self._run([str(BIN / "prefect"), "work-pool", "inspect", pool], check=False) != 0:
            command = [str(BIN / "prefect"), "work-pool", "create", pool, "--type", "process"]
            self._run(command, "work pool")
        [automation] = yaml.safe_load(LOST_RUNS_AUTOMATION.read_text())["automations"]
        inspect = [str(BIN / "prefect"), "automation", "inspect", automation["name"]]
        if self._run(inspect, check=False) != 0:
            create = [str(BIN / "prefect"), "automation", "create", "--from-file"]
            self._run(create + [str(LOST_RUNS_AUTOMATION)], "automation")
        self._run([sys.executable, "-m", "ops.email_block"], "email block")
        deployment_file = PROJECT_ROOT / self.settings.deployment_file
        self._run(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"]
            + ["--prefect-file", str(deployment_file)],
            "deployments",
        )
        sink = f"the mail sink ({self.mail_dir / 'new'})"
        mail = sink if self.uses_mail_sink else self.settings.smtp_server
        recipients = self.environment()["HEART_ALERT_TO"] or "nobody: set HEART_ALERT_TO"
        return [
            f"{'work pool':15} {self.settings.work_pool}",
            f"{'automation':15} {automation['name']}: a run silent for "
            f"{automation['trigger']['within']} s is marked Crashed",
            f"{'email block':15} {self.settings.email_block} -> {mail}, alerts to {recipients}",
            f"{'deployments':15} train, score, monitor from {deployment_file.name}",
        ]

    def _run(self, command: list[str], what: str = "", check: bool = True) -> int:
        """Run a provisioning command with the stack's environment; its output goes to a log."""
        done = subprocess.run(
            command,
            env=self.environment(),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=START_TIMEOUT_SECONDS,
        )
        with (self.log_dir / "provision.log").open("a") as log:
            log.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
        if check and done.returncode != 0:
            raise StackError(f"Creating the {what} failed:\n{done.stdout}{done.stderr}")
        return done.returncode

    def _addresses(self) -> list[str]:
        lines = [""] + [
            f"{service.name:15} {service.ui_url}"
            for service in self.servers()
            if service.ui_url is not None
        ]
        if self.uses_mail_sink:
            lines.append(f"{'alert emails':15} saved as files in {self.mail_dir / 'new'}")
        lines.append(f"{'logs, pid files':15} {self.settings.stack_dir}")
        self._write_shell_file()
        lines += ["", "Talk to the Prefect server from your shell (its address and password) with:"]
        lines.append(f"  source {self.shell_file}")
        return lines

    def _write_shell_file(self) -> None:
        """``env``, for ``source``: the Prefect server's address and credentials, the project's
        ``prefect`` and ``mlflow`` commands. Mode 0600: it holds the password.

        Only those two commands go on the PATH (links in ``.state/bin``), not the whole
        environment, so that the shell's ``python3`` stays the one with pipenv that ``make``
        uses: ``make down`` works from the same shell.
        """
        commands = self.settings.stack_dir / "bin"
        commands.mkdir(exist_ok=True)
        for name in ("prefect", "mlflow"):
            link = commands / name
            link.unlink(missing_ok=True)
            link.symlink_to(BIN / name)
        lines = [
            "# heart-batch: the stack `make up` started. Use: source .state/env",
            f"export PREFECT_API_URL={self.prefect_api_url}",
            f"export PREFECT_API_AUTH_STRING={shlex.quote(self.prefect_auth)}",
            f'export PATH="{commands}:$PATH"',
        ]
        write_private_text(self.shell_file, "\n".join(lines), mode=0o600)

    def _process(self, name: str) -> psutil.Process | None:
        """The live process a pid file names, or None (a stale pid file is removed)."""
        path = self.pid_dir / f"{name}.json"
        try:
            record = json.loads(path.read_text())
            process = psutil.Process(record["pid"])
            if abs(process.create_time() - record["started"]) < 0.01 and process.is_running():
                if process.status() != psutil.STATUS_ZOMBIE:
                    return process
        except FileNotFoundError:
            return None
        except (psutil.Error, ValueError, KeyError):
            pass
        path.unlink(missing_ok=True)
        return None

    def _stop(self, name: str) -> str:
        process = self._process(name)
        if process is None:
            return f"{name:15} was not running"
        if name == POSTGRES:  # a fast shutdown; the server stops its own processes
            family = [process]
            process.send_signal(signal.SIGINT)
        else:
            family = [process] + process.children(recursive=True)
            for member in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.terminate()
        _, alive = psutil.wait_procs(family, timeout=STOP_TIMEOUT_SECONDS)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=STOP_TIMEOUT_SECONDS)
        (self.pid_dir / f"{name}.json").unlink(missing_ok=True)
        return f"{name:15} stopped (pid {process.pid})"

    def _log_tail(self, name: str, lines: int = 30) -> str:
        log = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(log[-lines:]) + f"\n(full log: {self.log_dir / name}.log)"


def _start_rank(service: Service) -> int:
    return START_ORDER.index(_kind(service.name))


def _stop_rank(name: str) -> tuple[int, str]:
    """The reverse of ``START_ORDER``: workers (``worker``, ``worker-2``, ``dask-worker-1``, ...)
    first, then the servers they talk to; a name no release knows, first of all."""
    kind = _kind(name)
    return (-START_ORDER.index(kind) if kind in START_ORDER else -len(START_ORDER), name)


def _kind(name: str) -> str:
    return name.rstrip("-0123456789")


def _default_signal_handling() -> None:
    """Runs in the child before exec: a shell's background jobs ignore SIGINT, and a Prefect
    worker that inherits that needs two signals to stop; restore the default instead."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _holds(process: psutil.Process, port: int) -> bool:
    """Whether ``process`` or one of its children listens on ``port``: the server that answers
    there is ours, not another program that took the port after ours stopped."""
    try:
        family = [process, *process.children(recursive=True)]
        return any(
            connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
            for member in family
            for connection in member.net_connections(kind="inet")
        )
    except psutil.AccessDenied:  # another user's server, not readable here: trust its health
        return True
    except psutil.NoSuchProcess:
        return False


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((HOST, port)) == 0
