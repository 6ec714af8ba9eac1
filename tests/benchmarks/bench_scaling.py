"""Scaling benchmark: a backlog in-process against a local Dask cluster, and the ledger on
PostgreSQL under concurrent claimants.

Run with `make bench-scaling` (needs a champion: `make train`, and PostgreSQL's server binaries).
Prints figures; asserts nothing.

    python -m tests.benchmarks.bench_scaling [--files 40] [--rows 250000] [--workdir DIR]
"""

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from heart_batch.settings import Settings, quiet_tools
from heart_batch.storage.database import open_database
from heart_batch.storage.urls import ensure_databases, store_url, without_password
from tests.claimants import claim_all
from tests.dask_cluster import dask_cluster
from tests.postgres_server import postgres_server

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, pathlib; from flows.score import score; summary = score(); "
    "status = pathlib.Path('/proc/self/status').read_text(); "
    "print(json.dumps({'scored': summary.count('scored'), 'peak_rss_kb': "
    "int(next(l for l in status.splitlines() if l.startswith('VmHWM:')).split()[1])}))"
)


def make_backlog(folder: Path, files: int, rows: int, seed_csv: Path) -> list[Path]:
    """``files`` CSVs of ``rows`` seed patients each, all of different content."""
    folder.mkdir(parents=True, exist_ok=True)
    seed = pd.read_csv(seed_csv).drop(columns="output")
    paths = []
    for number in range(files):
        path = folder / f"ward{number:02d}.csv"
        if not path.exists():
            sample = seed.iloc[np.random.default_rng(number).integers(0, len(seed), rows)]
            sample = sample.reset_index(drop=True)
            sample.insert(0, "patient_id", [f"W{number:02d}-{i:07d}" for i in range(rows)])
            pa_csv.write_csv(pa.Table.from_pandas(sample, preserve_index=False), path)
        paths.append(path)
    return paths


def run_score_flow(backlog: list[Path], home: Path, environment: dict) -> tuple[float, dict]:
    """The score flow in a fresh process and HEART_HOME over hard links of ``backlog``: wall
    seconds and what the process printed (files scored, its peak RSS)."""
    shutil.rmtree(home, ignore_errors=True)
    (home / "input").mkdir(parents=True)
    for path in backlog:
        os.link(path, home / "input" / path.name)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=environment | {"HEART_HOME": str(home), "HEART_SETTLE_SECONDS": "0"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    shutil.rmtree(home, ignore_errors=True)
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def _peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def report_backlog(backlog: list[Path], small: Path, workdir: Path, rows: int) -> None:
    """The backlog and one small file, in-process and on a cluster of two workers."""
    environment = os.environ | {"MLFLOW_TRACKING_URI": Settings().mlflow_tracking_uri}
    home = workdir / "home"
    print(f"\nbacklog: {len(backlog)} files of {rows:,} rows, the score flow in a fresh process")
    alone, printed = run_score_flow(backlog, home, environment)
    print(
        f"  in-process runner           {alone:7.1f} s  {len(backlog) * rows / alone:10,.0f} "
        f"rows/s  flow process peak RSS {printed['peak_rss_kb'] / 1024:5.0f} MB"
    )
    # Without nannies, each worker process is the one that runs the tasks: its peak RSS is theirs.
    with dask_cluster(2, workdir / "dask.log", ("--no-nanny",)) as (address, workers):
        on_dask = environment | {"HEART_DASK_ADDRESS": address}
        seconds, printed = run_score_flow(backlog, home, on_dask)
        peaks = ", ".join(f"{_peak_rss_kb(worker.pid) / 1024:.0f}" for worker in workers)
        throughput = len(backlog) * rows / seconds
        print(
            f"  Dask, 2 worker processes    {seconds:7.1f} s  {throughput:10,.0f} rows/s  "
            f"flow process {printed['peak_rss_kb'] / 1024:.0f} MB, workers {peaks} MB"
        )
        print(f"  ratio Dask / in-process     {seconds / alone:7.2f}")
        small_alone = [run_score_flow([small], home, environment)[0] for _ in range(3)]
        small_dask = [run_score_flow([small], home, on_dask)[0] for _ in range(3)]
    overhead = np.median(small_dask) - np.median(small_alone)
    print(
        f"\none file of 100 rows (medians of 3): in-process {np.median(small_alone):.2f} s, "
        f"Dask {np.median(small_dask):.2f} s: Dask adds {overhead:.2f} s (target < 2 s)"
    )


def report_ledger(workdir: Path, claimants: int, files: int) -> None:
    """``claimants`` processes racing for the same ``files`` on a real PostgreSQL server."""
    hashes = [f"{number:064x}" for number in range(files)]
    folder = Path(tempfile.mkdtemp(prefix="postgres-", dir=workdir))
    with postgres_server(folder) as server:
        ensure_databases(server, ["bench"])
        url = store_url(server, "bench")
        open_database(url).dispose()
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(claimants, mp_context=spawn) as pool:
            list(pool.map(claim_all, [url] * claimants, [[]] * claimants))  # start them all
            start = time.perf_counter()
            won = list(chain(*pool.map(claim_all, [url] * claimants, [hashes] * claimants)))
            seconds = time.perf_counter() - start
    shutil.rmtree(folder, ignore_errors=True)
    attempts = claimants * files
    print(f"\nledger on PostgreSQL: {claimants} claimant processes, each trying all {files} files")
    print(
        f"  claimed {len(won)} times, {len(set(won))} distinct files "
        f"(exactly once: {sorted(won) == hashes}); {attempts} claim attempts in {seconds:.2f} s: "
        f"{attempts / seconds:,.0f} attempts/s, {files / seconds:,.0f} files claimed/s"
    )


def main() -> None:
    """Run every measurement and print a report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "heart-scale")
    args = parser.parse_args()
    quiet_tools()
    settings = Settings()
    backlog = make_backlog(args.workdir / "backlog", args.files, args.rows, settings.training_data)
    small = make_backlog(args.workdir / "small", 1, 100, settings.training_data)[0]
    print(f"{os.cpu_count()} cores; champion from {without_password(settings.mlflow_tracking_uri)}")
    report_ledger(args.workdir, claimants=8, files=500)
    report_backlog(backlog, small, args.workdir, args.rows)


if __name__ == "__main__":
    main()
