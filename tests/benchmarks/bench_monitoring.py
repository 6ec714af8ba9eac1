"""Monitoring demonstration and benchmark: what the monitor reports; time of a 100k-row window.

Run with `make bench-monitor` (needs a champion: `make train`). Uses a temporary HEART_HOME with its
own input, outputs and database, and the project's MLflow store. Alerts and retraining are off here
(no recipients, no deployment): the integration tests and `make up` exercise them.

    python -m tests.benchmarks.bench_monitoring [--rows 100000]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from heart_batch.settings import Settings

SEED = Path("data/heart.csv")
OTHER_HOSPITALS = Path("data/heart_other_hospitals.csv")


def drop(frame: pd.DataFrame, settings: Settings, name: str) -> None:
    """Put a CSV into the input folder, already settled."""
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(settings.input_dir / name, index=False)


LATEST_METRICS = """
    select metric, value, threshold, kind, violated from monitoring_metrics
    where run_id = (select max(id) from monitoring_runs) and metric not like 'feature_drift.%'
"""


def show(title: str, outcome, seconds: float, database_url: str) -> None:
    """Print what one monitoring run found, from the database it wrote."""
    print(
        f"\n{title}: {outcome.status}, {outcome.window_rows:,} rows, monitoring run {seconds:.1f} s"
    )
    with create_engine(database_url).connect() as connection:
        for metric, value, threshold, kind, violated in connection.execute(text(LATEST_METRICS)):
            limit = "<=" if kind == "max" else ">="
            verdict = "VIOLATED" if violated else "ok"
            print(f"  {metric:15s} {value:8.4f}  {limit} {threshold:<5g} {verdict}")
    print(f"  report: {outcome.report_path}")


def main() -> None:
    """Run the three windows and print their results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    project = Settings()
    home = Path(tempfile.mkdtemp(prefix="heart-monitor-"))
    os.environ |= {
        "HEART_HOME": str(home),
        "MLFLOW_TRACKING_URI": project.mlflow_tracking_uri,
        "HEART_TRAINING_DATA": str(project.training_data),
        "HEART_SETTLE_SECONDS": "0",
        "HEART_ALERT_TO": "",
        "HEART_TRAIN_DEPLOYMENT": "",
    }
    # The environment above must be set before the flows are imported.
    # pylint: disable=import-outside-toplevel
    from flows.monitor import monitor
    from flows.score import score

    settings = Settings()
    seed = pd.read_csv(SEED, dtype=str, keep_default_na=False)
    windows = [
        ("(a) 300 rows sampled from the reference (Cleveland)", seed.sample(300, random_state=1)),
        (
            "(b) 616 rows from Hungary, Switzerland, VA Long Beach",
            pd.read_csv(OTHER_HOSPITALS, dtype=str, keep_default_na=False),
        ),
        (
            f"(c) {args.rows:,} rows sampled from the reference",
            seed.iloc[np.random.default_rng(2).integers(0, len(seed), args.rows)],
        ),
    ]
    for number, (title, frame) in enumerate(windows):
        drop(frame, settings, f"window_{number}.csv")
        score()
        start = time.perf_counter()
        outcome = monitor()
        show(title, outcome, time.perf_counter() - start, settings.database_url)
    print(
        f"\nmetrics stored in {settings.database_url} (tables monitoring_runs, monitoring_metrics)"
    )


if __name__ == "__main__":
    main()
