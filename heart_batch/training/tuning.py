"""Hyperparameter search with hyperopt; every trial is a nested MLflow run."""

from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, tpe

from heart_batch.model.directed import DIRECTIONS
from heart_batch.model.pipeline import build_pipeline, normalize_params, search_space
from heart_batch.training.cross_validation import CvPlan, Evaluation, cross_validate
from heart_batch.training.data import TrainingData
from heart_batch.training.selection import (
    Selection,
    TrialRecord,
    one_standard_error_rule,
    rows_per_second,
    throughput_sample,
)


@dataclass(frozen=True)
class SearchResult:
    """The trial the one-standard-error rule chose, its evaluation, and the rule's figures."""

    params: dict[str, Any]
    evaluation: Evaluation
    trials: int
    selection: Selection


def tune(
    data: TrainingData,
    plan: CvPlan,
    max_evals: int,
    families: list[str],
    n_jobs: int = -1,
    directions: tuple = DIRECTIONS,
) -> SearchResult:
    """Maximise cross-validated ROC AUC over the search space, then choose by the rule.

    Each trial is also fitted on all rows and timed scoring a fixed sample (``rows_per_s``), and
    the one-standard-error rule (``training.selection``) picks the cheapest near-best trial.
    Must run inside an active MLflow run: each trial is logged as a nested run. The search is
    reproducible: hyperopt, the folds and the models all take ``plan.seed``. ``directions`` are
    the signs the models keep (``()`` frees them, to measure what they cost).
    """
    trials = Trials()
    parent = mlflow.active_run()
    if parent is None:
        raise RuntimeError("tune() logs its trials as nested runs: start an MLflow run first")
    experiment_id = parent.info.experiment_id
    sample = throughput_sample(data.features, plan.seed)

    def objective(point: dict[str, Any]) -> dict[str, Any]:
        params = normalize_params(point)
        pipeline = build_pipeline(params, plan.seed, directions)
        evaluation = cross_validate(pipeline, data.features, data.target, plan, n_jobs)
        speed = rows_per_second(pipeline.fit(data.features, data.target), sample)
        trial_name = f"trial-{len(trials.trials):03d}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=trial_name, nested=True):
            mlflow.set_tag("family", params["family"])
            mlflow.log_params(params)
            mlflow.log_metrics(evaluation.scores.as_metrics() | {"rows_per_s": speed})
        return {
            "loss": -evaluation.scores.roc_auc,
            "status": STATUS_OK,
            "params": params,
            "evaluation": evaluation,
            "rows_per_s": speed,
        }

    fmin(
        objective,
        search_space(families),
        algo=tpe.suggest,
        max_evals=max_evals,
        trials=trials,
        rstate=np.random.default_rng(plan.seed),
        show_progressbar=False,
    )
    results = [trial["result"] for trial in trials.trials]
    records = [
        TrialRecord(
            number,
            result["params"],
            result["evaluation"].scores.roc_auc,
            result["evaluation"].scores.roc_auc_std,
            result["rows_per_s"],
        )
        for number, result in enumerate(results)
    ]
    selection = one_standard_error_rule(records, plan.folds * plan.repeats)
    chosen = results[selection.chosen.number]
    return SearchResult(chosen["params"], chosen["evaluation"], len(trials), selection)
