"""A local Dask cluster started with `make up`'s commands, for the tests and the benchmarks."""

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from distributed import Client

from heart_batch.settings import Settings
from ops.stack import Stack
from tests.ports import free_port


@contextlib.contextmanager
def dask_cluster(
    workers: int, log: Path, worker_options: tuple[str, ...] = ()
) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler on a free port and ``workers`` worker processes (with ``worker_options``; none:
    the workers join from elsewhere);
    yields the scheduler's address and the worker processes, and stops them all at the end."""
    port = free_port()
    settings = Settings(
        dask_workers=workers, dask_port=port, dask_address=f"tcp://127.0.0.1:{port}"
    )
    scheduler, *others = Stack(settings).dask_cluster()
    commands = [scheduler.command] + [worker.command + list(worker_options) for worker in others]
    with log.open("ab") as stream:
        processes = [
            subprocess.Popen(  # pylint: disable=consider-using-with
                command,
                env=os.environ | dict(scheduler.env),
                stdout=stream,
                stderr=subprocess.STDOUT,
            )
            for command in commands
        ]
    try:
        with Client(settings.dask_address, timeout=60) as client:
            if workers:
                client.wait_for_workers(workers, timeout=60)
        yield settings.dask_address, processes[1:]
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
