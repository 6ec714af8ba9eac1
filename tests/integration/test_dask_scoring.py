"""The score flow's files as tasks on a real Dask cluster (a scheduler and two worker processes).

Exactly once holds across processes: each task claims its file in the ledger from a Dask worker,
and a worker killed in the middle of a file leaves a claim whose process is gone, which the task's
rerun on the surviving worker takes over.
"""

import os
import signal
import threading
import time

import pandas as pd
import psutil
import pytest
from sqlalchemy import select

from flows.score import score
from heart_batch.storage.ledger import SCORED_FILES, Ledger
from tests.dask_cluster import dask_cluster
from tests.integration.test_score_flow import data_rows, seed_rows, write

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def dask_workers(monkeypatch, tmp_path):
    """A Dask scheduler and two one-thread workers, as `make up` starts them; yields the worker
    processes. The score flow finds the scheduler through HEART_DASK_ADDRESS."""
    with dask_cluster(2, tmp_path / "dask.log") as (address, workers):
        monkeypatch.setenv("HEART_DASK_ADDRESS", address)
        monkeypatch.setenv("HEART_SETTLE_SECONDS", "0")
        yield workers


def worker_pids(workers) -> set[int]:
    """The pids of the Dask worker processes (a nanny's child runs the tasks)."""
    pids = set()
    for worker in workers:
        parent = psutil.Process(worker.pid)
        pids |= {parent.pid} | {child.pid for child in parent.children(recursive=True)}
    return pids


def claimant_pids(ledger: Ledger) -> set[int]:
    return {int(record["claimed_by"].split(":")[1]) for record in ledger.scored_files()}


def test_every_file_is_scored_once_on_the_cluster(
    prefect_server, champion, dask_workers, settings
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    sources = {
        write(seed_rows(40 + i, start=7 * i), settings.input_dir / f"ward{i}.csv").name: 40 + i
        for i in range(8)
    }
    summary = score()
    assert sorted(o.source_name for o in summary.files if o.status == "scored") == sorted(sources)
    predictions = pd.read_parquet(settings.output_dir)
    assert predictions.groupby("source_file").size().to_dict() == sources
    ledger = Ledger(settings.database_url)
    assert claimant_pids(ledger) <= worker_pids(dask_workers)
    assert os.getpid() not in claimant_pids(ledger)


def test_a_dask_worker_killed_mid_file_loses_nothing(
    prefect_server, champion, dask_workers, settings
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    big = settings.input_dir / "backlog.csv"
    block = seed_rows(1000).to_csv(index=False)
    header, body = block.split("\n", 1)
    big.write_text(header + "\n" + body * 600)  # 600,000 rows: seconds to score
    rows = data_rows(big)
    killed = []

    def kill_the_worker_writing_it():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if list(settings.output_dir.glob(".predictions_backlog_*.tmp")):
                ledger = Ledger(settings.database_url)
                [record] = [r for r in ledger_records(ledger) if r["status"] == "claimed"]
                pid = int(record["claimed_by"].split(":")[1])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_worker_writing_it)
    killer.start()
    summary = score()
    killer.join()
    assert killed, "the file was scored before a worker could be killed"
    assert [o.status for o in summary.files] == ["scored"]
    predictions = pd.read_parquet(settings.output_dir)
    assert len(predictions) + rejected_rows(settings) == rows
    assert predictions["source_row"].is_unique
    leftovers = [p.name for p in settings.output_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert claimant_pids(Ledger(settings.database_url)) != set(killed)


def ledger_records(ledger: Ledger) -> list[dict]:
    with ledger.engine.connect() as connection:
        return [row._asdict() for row in connection.execute(select(SCORED_FILES))]


def rejected_rows(settings) -> int:
    return sum(
        len(pd.read_parquet(p)) for p in (settings.output_dir / "_rejected").glob("*.parquet")
    )
