"""A throwaway PostgreSQL server from the machine's binaries, for the tests and the benchmarks."""

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from heart_batch.storage.urls import LocalPostgres, as_user, store_url
from tests.ports import free_port


@contextlib.contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """Initialise a cluster in ``folder``, run it on a free port, yield its postgresql:// URL,
    then ask it for a fast shutdown."""
    local = LocalPostgres(folder, free_port())
    local.initialise()
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(  # pylint: disable=consider-using-with
            local.command(), stdout=log, stderr=subprocess.STDOUT, **as_user(local.run_as)
        )
    try:
        _wait_until_it_answers(local, server)
        yield local.server_url()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def _wait_until_it_answers(local: LocalPostgres, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(store_url(local.server_url(), "postgres", "")).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)
