"""Retraining benchmark: a retrain deploys what it learnt from new rows, and nothing otherwise.

Run with `make bench-retrain`. For each seed, in a fresh HEART_HOME with its own stores:

1. train on data/heart.csv: champion v1;
2. retrain on the same data: the champion must stay (no churn);
3. score a window of 120 rows of data/heart.csv (a new file of rows already learnt) and retrain as
   monitoring would, flagging it: the champion must stay, since the distinct rows did not change
   (the rule before this one compared file checksums, and the new file counted as new data);
4. score half of each other hospital's labelled rows (one file per hospital, the halves drawn with
   the seed), so that training learns from them; retrain, flagging those files as monitoring would;
5. on the other, held-out half of each hospital: Brier score of v1 and of the champion deployed
   after the retrain; and the challenger's out-of-fold figures on heart.csv's rows against v1's.

Training uses a short search (``--trials``, logistic regression and SVC) and 5 x 2 cross-validation.

    python -m tests.benchmarks.bench_retraining [--seeds 10] [--trials 8]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.metrics import brier_score_loss

from heart_batch.contract.columns import disease_from_label
from heart_batch.contract.validation import validate_rows
from heart_batch.registry.champion import CHALLENGER, load_champion
from heart_batch.settings import Settings, quiet_tools

SEED_DATA = Path("data/heart.csv").resolve()
OTHER_HOSPITALS = Path("data/heart_other_hospitals.csv").resolve()
HOSPITALS = ("Switzerland", "VA Long Beach", "Hungary")
TARGET_GAIN = 0.30


def split_hospitals(seed: int) -> tuple[dict, dict]:
    """Each hospital's labelled rows in two halves: to score (learnt from), and held out."""
    other = pd.read_csv(OTHER_HOSPITALS, dtype=str, keep_default_na=False)
    learnt, held_out = {}, {}
    for hospital in HOSPITALS:
        rows = other[other["hospital"] == hospital].drop(columns="hospital")
        shuffled = rows.sample(frac=1, random_state=seed).reset_index(drop=True)
        half = len(shuffled) // 2
        learnt[hospital], held_out[hospital] = shuffled.iloc[:half], shuffled.iloc[half:]
    return learnt, held_out


def retrain_on_rows_already_learnt(seed: int, settings: Settings, options: dict):
    """Score a new file of 120 of heart.csv's rows and retrain flagging it, as monitoring would;
    the predictions file's name and the training's outcome."""
    # pylint: disable=import-outside-toplevel
    from flows.score import score
    from flows.train import train

    seed_rows = pd.read_csv(SEED_DATA, dtype=str, keep_default_na=False)
    seed_rows.sample(120, random_state=seed).to_csv(
        settings.input_dir / "repeated.csv", index=False
    )
    score(settle_seconds=0)
    repeated = [path.name for path in settings.output_dir.glob("predictions_repeated_*.parquet")]
    trigger = "benchmark: a window of rows already learnt"
    return repeated, train(**options, trigger=trigger, flagged_sources=repeated)


def held_out_brier(model, rows: pd.DataFrame) -> float:
    """Brier score of a model on the held-out rows that the contract accepts."""
    checked = validate_rows(rows, max_missing=Settings().max_missing_features)
    disease = disease_from_label(checked.labels)
    return float(brier_score_loss(disease, model.predict_proba(checked.features)[:, 1]))


def one_seed(seed: int, trials: int) -> dict:
    """The four trainings of one seed and the figures they lead to."""
    # pylint: disable=import-outside-toplevel,too-many-locals  # one seed's story, in order
    from flows.score import score
    from flows.train import train

    os.environ["HEART_HOME"] = tempfile.mkdtemp(prefix=f"heart-retrain-{seed}-")
    options = {"max_evals": trials, "seed": seed, "families": ["logistic_regression", "svc"]}
    first = train(**options)
    unchanged = train(**options)
    settings = Settings()
    settings.input_dir.mkdir(parents=True)
    repeated, duplicates = retrain_on_rows_already_learnt(seed, settings, options)
    learnt, held_out = split_hospitals(seed)
    for hospital, rows in learnt.items():
        rows.to_csv(settings.input_dir / f"{hospital.replace(' ', '_')}.csv", index=False)
    score(settle_seconds=0)
    flagged = sorted(
        path.name
        for path in settings.output_dir.glob("predictions_*.parquet")
        if path.name not in repeated
    )
    retrained = train(**options, trigger="benchmark: new labelled rows", flagged_sources=flagged)

    client = MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    old = mlflow.sklearn.load_model(f"models:/{settings.model_name}/{first.version}")
    deployed = load_champion(client, settings.model_name)
    run = client.get_run(retrained.run_id).data
    challenger = "refresh" if "refitted" in run.tags["challenger"] else "new"
    return {
        "seed": seed,
        "unchanged keeps v1": unchanged.alias == CHALLENGER,
        "duplicates keep v1": duplicates.alias == CHALLENGER,
        "old rule saw new data": _file_checksums(client, duplicates.run_id)
        != _file_checksums(client, first.run_id),
        "deployed": f"v{deployed.version}",
        "challenger": challenger,
        **{
            hospital: (held_out_brier(old, rows), held_out_brier(deployed.model, rows))
            for hospital, rows in held_out.items()
        },
        **{
            f"heart.csv {metric}": (
                run.metrics[f"gate.incumbent.heart.csv.{metric}"],
                run.metrics[f"gate.{challenger}.heart.csv.{metric}"],
            )
            for metric in ("roc_auc", "brier")
        },
        "reason": retrained.reason,
    }


def _file_checksums(client: MlflowClient, run_id: str) -> dict[str, str]:
    """The source files' checksums a run recorded: what the gate compared before."""
    tags = client.get_run(run_id).data.tags
    return {key: value for key, value in tags.items() if key.startswith("data_sha256.")}


def report(results: list[dict]) -> None:
    """Per seed, then the targets."""
    print(
        "\nseed  unchanged  deployed  challenger  "
        + "  ".join(f"{h[:11]:>22s}" for h in HOSPITALS)
        + "   heart.csv AUC (oof)   heart.csv Brier"
    )
    for row in results:
        cells = "  ".join(
            f"{row[h][0]:.3f} -> {row[h][1]:.3f} {1 - row[h][1] / row[h][0]:+5.0%}".rjust(22)
            for h in HOSPITALS
        )
        auc, brier = row["heart.csv roc_auc"], row["heart.csv brier"]
        print(
            f"{row['seed']:>4}  {'kept' if row['unchanged keeps v1'] else 'CHURN':>9}  "
            f"{row['deployed']:>8}  {row['challenger']:>10}  {cells}   "
            f"{auc[0]:.3f} -> {auc[1]:.3f}        {brier[0]:.3f} -> {brier[1]:.3f}"
        )
    print("\n(Brier on the held-out half: v1 -> deployed after the retrain, and the improvement)")
    for hospital in HOSPITALS:
        gains = [1 - row[hospital][1] / row[hospital][0] for row in results]
        met = sum(gain >= TARGET_GAIN for gain in gains)
        print(
            f"{hospital}: improvement {np.median(gains):.0%} median, {min(gains):.0%} worst; "
            f">= {TARGET_GAIN:.0%} in {met} of {len(results)} seeds"
        )
    kept = sum(row["unchanged keeps v1"] for row in results)
    print(f"unchanged data keeps the champion in {kept} of {len(results)} seeds")
    kept = sum(row["duplicates keep v1"] for row in results)
    old = sum(row["old rule saw new data"] for row in results)
    print(
        f"a window of rows already learnt keeps the champion in {kept} of {len(results)} seeds "
        f"(target: all); the rule before (file checksums) saw new data in {old} of them"
    )
    for row in results:
        print(f"  seed {row['seed']}: {row['reason']}")


def main() -> None:
    """Run every seed in one process (one temporary Prefect API), then report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    quiet_tools()
    os.environ |= {
        "HEART_TRAINING_DATA": str(SEED_DATA),
        "HEART_CV_REPEATS": "2",
        "HEART_SETTLE_SECONDS": "0",
    }
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    results = [one_seed(seed, args.trials) for seed in range(args.seeds)]
    report(results)
    print(f"\n{args.seeds} seeds in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
