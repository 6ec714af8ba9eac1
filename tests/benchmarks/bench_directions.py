"""`make bench-directions`: what the established directions cost, and what they fix, in one run.

The same search (hyperopt TPE, ``HEART_MAX_EVALS`` trials, the 5 x 5 cross-validation, one seed)
runs twice on data/heart.csv:

- **before**: the previous default, logistic regression, SVC and gradient boosting, free;
- **now**: logistic regression and gradient boosting held to the directions (the SVC cannot be).

For each search's chosen model it prints the cross-validated ROC AUC and Brier (out-of-fold), the
ROC AUC and Brier at each other hospital (every labelled row of data/heart_other_hospitals.csv the
contract accepts) and for each patient subgroup (women, men, three age groups; on the out-of-fold
risks), each with its 95 % bootstrap interval as the model card computes it, and the share of
those hospitals' rows whose reasons cite a value on the protective side of the reference's mean
(before: the reasons as they were computed; now: as scoring computes them).

    python -m tests.benchmarks.bench_directions [--max-evals 40]
"""

import argparse
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np

from heart_batch.contract.features import FEATURE_NAMES, FEATURES
from heart_batch.contract.subgroups import SUBGROUPS
from heart_batch.model.directed import DIRECTIONS
from heart_batch.model.explanations import compile_explainer, top_reasons
from heart_batch.model.performance import measure_performance
from heart_batch.model.pipeline import DIRECTED_FAMILIES, MODEL_FAMILIES, build_pipeline
from heart_batch.model.risk import feature_matrix
from heart_batch.settings import Settings, quiet_tools
from heart_batch.training.cross_validation import CvPlan
from heart_batch.training.data import OtherHospitals, load_other_hospitals, load_training_data
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


def measure(label: str, result, model, data, other: OtherHospitals) -> dict:
    """The figures of one chosen model."""
    matrix = feature_matrix(other.features)
    explainer = compile_explainer(model, data.reference)
    means = {column: float(np.nanmean(data.features.iloc[:, column])) for column in SIGNS}
    raw = top_reasons(explainer.contributions.candidates(matrix), matrix).to_pylist()
    shown = explainer.reasons(matrix).to_pylist()
    risk = model.predict_proba(other.features)[:, 1]
    per_hospital = {
        hospital: measure_performance(
            other.disease[other.hospital == hospital], risk[other.hospital == hospital]
        )
        for hospital in sorted(set(other.hospital))
    }
    disease, out_of_fold = data.target.to_numpy(), result.evaluation.out_of_fold_risk
    per_subgroup = {
        group.name: measure_performance(
            disease[group.members(data.features)], out_of_fold[group.members(data.features)]
        )
        for group in SUBGROUPS
    }
    return {
        "label": label,
        "family": result.params["family"],
        "cv": (result.evaluation.scores.roc_auc, result.evaluation.scores.brier),
        "groups": per_hospital | per_subgroup,
        "protective": protective_share(raw if label == "before" else shown, matrix, means),
    }


def report(figures: list[dict], seconds: float) -> None:
    """One column per search, and the differences that the targets judge."""
    before, now = figures
    print(f"\n{'':34} {'before (free)':>24} {'now (directed)':>24}")
    print(f"{'chosen family':34} {before['family']:>24} {now['family']:>24}")
    for index, name in ((0, "CV ROC AUC (out-of-fold)"), (1, "CV Brier")):
        print(f"{name:34} {before['cv'][index]:24.4f} {now['cv'][index]:24.4f}")
    for group, performance in before["groups"].items():
        ours = now["groups"][group]
        for name in ("roc_auc", "brier", "intercept"):
            print(
                f"{f'{group} ({performance.patients}) {name}':34} "
                f"{getattr(performance, name).text():>24} {getattr(ours, name).text():>24}"
            )
    print(
        f"{'rows with a protective-side reason':34} {before['protective']:24.1%} "
        f"{now['protective']:24.1%}"
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
    other = load_other_hospitals(OTHER_HOSPITALS, settings.max_missing_features)
    with tempfile.TemporaryDirectory() as folder:
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        mlflow.set_experiment("bench-directions")
        start = time.perf_counter()
        figures = [
            measure(label, *search(data, plan, args.max_evals, free), data, other)
            for label, free in (("before", True), ("now", False))
        ]
    report(figures, time.perf_counter() - start)


if __name__ == "__main__":
    main()
