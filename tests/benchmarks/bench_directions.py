"""`make bench-directions`: what the established directions cost, and what they fix, in one run.

The same search (hyperopt TPE, ``HEART_MAX_EVALS`` trials, the 5 x 5 cross-validation, one seed)
runs twice on data/heart.csv:

- **before**: the previous default, logistic regression, SVC and gradient boosting, free;
- **now**: logistic regression and gradient boosting held to the directions (the SVC cannot be).

For each search's chosen model it prints the cross-validated ROC AUC and Brier (out-of-fold), the
ROC AUC and Brier at each other hospital (every labelled row of data/heart_other_hospitals.csv the
contract accepts), and the share of those hospitals' rows whose reasons cite a value on the
protective side of the reference's mean (before: the reasons as they were computed; now: as
scoring computes them).

    python -m tests.benchmarks.bench_directions [--max-evals 40]
"""

import argparse
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from heart_batch.contract.columns import disease_from_label
from heart_batch.contract.features import FEATURE_NAMES, FEATURES
from heart_batch.contract.validation import validate_rows
from heart_batch.model.directed import DIRECTIONS
from heart_batch.model.explanations import compile_explainer, top_reasons
from heart_batch.model.pipeline import DIRECTED_FAMILIES, MODEL_FAMILIES, build_pipeline
from heart_batch.settings import Settings, quiet_tools
from heart_batch.training.cross_validation import CvPlan
from heart_batch.training.data import load_training_data
from heart_batch.training.tuning import tune

OTHER_HOSPITALS = Path("data/heart_other_hospitals.csv").resolve()
AUC_TOLERANCE = 0.005
SIGNS = {
    column: (1 if feature.direction == "up" else -1)
    for column, feature in enumerate(FEATURES)
    if feature.direction
}


def search(data, plan: CvPlan, max_evals: int, free: bool):
    """The chosen trial of one search and its model fitted on every row."""
    families, directions = (
        (list(MODEL_FAMILIES), ()) if free else (list(DIRECTED_FAMILIES), DIRECTIONS)
    )
    with mlflow.start_run(run_name="before" if free else "now"):
        result = tune(data, plan, max_evals, families, directions=directions)
    model = build_pipeline(result.params, plan.seed, directions).fit(data.features, data.target)
    return result, model


def protective_share(reasons: list, matrix: np.ndarray, means: dict[int, float]) -> float:
    """Share of rows with a reason on the protective side of a directed feature's mean."""
    names = {name: column for column, name in enumerate(FEATURE_NAMES)}
    flagged = 0
    for row, row_reasons in zip(matrix, reasons):
        flagged += any(
            names[reason["feature"]] in SIGNS
            and SIGNS[names[reason["feature"]]]
            * (row[names[reason["feature"]]] - means[names[reason["feature"]]])
            <= 0
            for reason in row_reasons
        )
    return flagged / len(matrix)


def measure(label: str, result, model, data, other) -> dict:
    """The figures of one chosen model."""
    rows, hospitals = other
    explainer = compile_explainer(model, data.reference)
    means = {column: float(np.nanmean(data.features.iloc[:, column])) for column in SIGNS}
    raw = top_reasons(explainer.contributions.candidates(rows.matrix), rows.matrix).to_pylist()
    shown = explainer.reasons(rows.matrix).to_pylist()
    disease = disease_from_label(rows.labels).to_numpy()
    risk = model.predict_proba(rows.features)[:, 1]
    per_hospital = {
        hospital: (
            roc_auc_score(disease[hospitals == hospital], risk[hospitals == hospital]),
            brier_score_loss(disease[hospitals == hospital], risk[hospitals == hospital]),
        )
        for hospital in sorted(set(hospitals))
    }
    return {
        "label": label,
        "family": result.params["family"],
        "cv": (result.evaluation.scores.roc_auc, result.evaluation.scores.brier),
        "hospitals": per_hospital,
        "protective": protective_share(raw if label == "before" else shown, rows.matrix, means),
    }


def report(figures: list[dict], seconds: float) -> None:
    """One column per search, and the differences that the targets judge."""
    before, now = figures
    print(f"\n{'':34} {'before (free)':>22} {'now (directed)':>22}")
    print(f"{'chosen family':34} {before['family']:>22} {now['family']:>22}")
    for index, name in ((0, "CV ROC AUC (out-of-fold)"), (1, "CV Brier")):
        print(f"{name:34} {before['cv'][index]:22.4f} {now['cv'][index]:22.4f}")
    for hospital in before["hospitals"]:
        for index, name in ((0, "ROC AUC"), (1, "Brier")):
            print(
                f"{hospital + ' ' + name:34} {before['hospitals'][hospital][index]:22.4f} "
                f"{now['hospitals'][hospital][index]:22.4f}"
            )
    print(
        f"{'rows with a protective-side reason':34} {before['protective']:22.1%} "
        f"{now['protective']:22.1%}"
    )
    loss = before["cv"][0] - now["cv"][0]
    verdict = "met" if loss <= AUC_TOLERANCE else "NOT met"
    print(
        f"\nCV ROC AUC cost of the directions: {loss:+.4f} (tolerance {AUC_TOLERANCE}: {verdict})"
    )
    print(f"Brier change: {now['cv'][1] - before['cv'][1]:+.4f}; both searches in {seconds:.0f} s")


def main() -> None:
    """Run both searches in one process and report them side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-evals", type=int, default=Settings().max_evals)
    args = parser.parse_args()
    quiet_tools()
    settings = Settings()
    data = load_training_data(settings.training_data)
    plan = CvPlan.from_settings(settings)
    raw = pd.read_csv(OTHER_HOSPITALS, dtype=str, keep_default_na=False)
    rows = validate_rows(raw.drop(columns="hospital"), max_missing=settings.max_missing_features)
    labelled = rows.labels.notna().to_numpy()
    assert labelled.all(), "every other hospital's row carries its label"
    hospitals = raw["hospital"].to_numpy()[rows.accepted]
    with tempfile.TemporaryDirectory() as folder:
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        mlflow.set_experiment("bench-directions")
        start = time.perf_counter()
        figures = [
            measure(label, *search(data, plan, args.max_evals, free), data, (rows, hospitals))
            for label, free in (("before", True), ("now", False))
        ]
    report(figures, time.perf_counter() - start)


if __name__ == "__main__":
    main()
