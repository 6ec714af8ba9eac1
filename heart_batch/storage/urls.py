"""PostgreSQL for every store: an existing server, or a local one from the machine's binaries.

``HEART_POSTGRES_URL=postgresql://user:password@host:port`` names an existing server;
``HEART_POSTGRES=local`` makes ``make up`` start one (Debian's ``postgresql`` package) with its
data under ``.state/postgres``, listening on 127.0.0.1 (or ``HEART_BIND_HOST``) with a generated
password (scram-sha-256) kept in ``.state/postgres/password`` (mode 0600, never in git). Either
way three databases, ours, MLflow's and the Prefect server's, are created when missing.
"""

import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

UNPRIVILEGED_USER = "postgres"
"""The server refuses to run as root: as root, it runs as this user (Debian's package has it)."""
SUPERUSER = "heart"


def store_url(server_url: str, database: str, driver: str = "psycopg") -> str:
    """The SQLAlchemy URL of ``database`` on the server of ``server_url``, with ``driver``
    (``""``: a plain libpq URL)."""
    parts = urlsplit(server_url)
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, ""))


def without_password(url: str) -> str:
    """``url`` with its password masked, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def ensure_databases(server_url: str, databases: list[str]) -> list[str]:
    """Create those of ``databases`` that do not exist yet; return the names created."""
    import psycopg  # pylint: disable=import-outside-toplevel  # only PostgreSQL users load it

    created = []
    with psycopg.connect(store_url(server_url, "postgres", ""), autocommit=True) as connection:
        for name in databases:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    return created


def stored_secret(path: Path, length: int = 32) -> str:
    """A random secret kept in ``path`` (mode 0600, readable by its owner only), made on first
    use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(length))
    return path.read_text().strip()


def binary(name: str) -> Path:
    """A PostgreSQL server program: on PATH, or in Debian's /usr/lib/postgresql/<version>/bin.

    Raises:
        FileNotFoundError: The server package is not installed; the message says how.
    """
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise FileNotFoundError(
        f"PostgreSQL's {name} is not installed: on Debian or Ubuntu run "
        "`apt-get install postgresql` (HEART_POSTGRES=local uses the machine's own server)"
    )


def as_user(user: str | None) -> dict:
    """``subprocess`` arguments that run a child as ``user`` with that user's group only (not
    root's: its group would decide access to root's folders), or nothing for ourselves."""
    if user is None:
        return {}
    account = pwd.getpwnam(user)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@dataclass(frozen=True)
class LocalPostgres:
    """A PostgreSQL server of this HEART_HOME: data in ``folder / 'data'``, one superuser."""

    folder: Path
    port: int
    host: str = "127.0.0.1"
    """Where clients reach it."""
    listen: str = "127.0.0.1"
    """Where it listens (``HEART_BIND_HOST``); from anywhere, only with the password."""

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.folder / "data"

    @property
    def password_file(self) -> Path:
        """The superuser's password, readable by its owner only."""
        return self.folder / "password"

    @property
    def run_as(self) -> str | None:
        """The user the server runs as: ``postgres`` when we are root, else ourselves."""
        return UNPRIVILEGED_USER if os.geteuid() == 0 else None

    def server_url(self) -> str:
        """``postgresql://heart:<password>@host:port``."""
        return f"postgresql://{SUPERUSER}:{quote(self.password(), safe='')}@{self.host}:{self.port}"

    def password(self) -> str:
        """The superuser's password; empty until ``create_password`` (reading writes nothing)."""
        return self.password_file.read_text().strip() if self.password_file.exists() else ""

    def create_password(self) -> str:
        """The superuser's password, generated into ``password_file`` on first use."""
        return stored_secret(self.password_file, length=24)

    def initialise(self) -> bool:
        """Create the cluster (scram-sha-256, the generated password) unless it exists.

        Returns:
            Whether a new cluster was created.
        """
        if (self.data_dir / "PG_VERSION").exists():
            return False
        self.create_password()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        password_copy = self.folder / "initdb.password"  # the server's user must read it
        shutil.copyfile(self.password_file, password_copy)
        self._hand_over(self.data_dir, password_copy)
        try:
            done = subprocess.run(
                [str(binary("initdb")), "--pgdata", str(self.data_dir), "--username", SUPERUSER]
                + ["--pwfile", str(password_copy), "--auth", "scram-sha-256"]
                + ["--encoding", "UTF8", "--no-instructions"],
                check=False,
                capture_output=True,
                text=True,
                cwd=self.folder,
                **as_user(self.run_as),
            )
        finally:
            password_copy.unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed in {self.data_dir}:\n{done.stdout}{done.stderr}")
        with (self.data_dir / "pg_hba.conf").open("a", encoding="utf-8") as rules:
            rules.write(
                "# heart-batch: other hosts, when it listens beyond 127.0.0.1, with the password\n"
                "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n"
            )
        return True

    def command(self) -> list[str]:
        """The server in the foreground, listening on ``listen:port`` only, its socket in the data
        folder (not /var/run, which needs root)."""
        return [str(binary("postgres")), "-D", str(self.data_dir), "-p", str(self.port)] + [
            "-c",
            f"listen_addresses={self.listen}",
            "-c",
            f"unix_socket_directories={self.data_dir}",
        ]

    def _hand_over(self, *paths: Path) -> None:
        """Give the server's user its files, and a way through the folders above them."""
        if self.run_as is None:
            return
        account = pwd.getpwnam(self.run_as)
        for path in paths:
            os.chown(path, account.pw_uid, account.pw_gid)
        for folder in self.data_dir.parents:
            if folder == Path("/"):
                break
            mode = folder.stat().st_mode
            if not mode & 0o001:
                os.chmod(folder, mode | 0o001)  # search only: names inside stay unlisted
