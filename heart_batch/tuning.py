"""Hyperparameter search with hyperopt; every trial is a nested MLflow run."""

from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, tpe

from heart_batch.data import TrainingData
from heart_batch.evaluation import CvPlan, Evaluation, cross_validate
from heart_batch.model import build_pipeline, normalize_params, search_space


@dataclass(frozen=True)
class SearchResult:
    """The best point of a search and its cross-validated evaluation."""

    params: dict[str, Any]
    evaluation: Evaluation
    trials: int


def tune(
    data: TrainingData,
    plan: CvPlan,
    max_evals: int,
    families: list[str],
    n_jobs: int = -1,
) -> SearchResult:
    """Minimise negative cross-validated ROC AUC over the search space.

    Must run inside an active MLflow run: each trial is logged as a nested run. The search is
    reproducible: hyperopt, the folds and the models all take ``plan.seed``.
    """
    trials = Trials()
    experiment_id = mlflow.active_run().info.experiment_id

    def objective(point: dict[str, Any]) -> dict[str, Any]:
        params = normalize_params(point)
        evaluation = cross_validate(
            build_pipeline(params, plan.seed), data.features, data.target, plan, n_jobs
        )
        trial_name = f"trial-{len(trials.trials):03d}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=trial_name, nested=True):
            mlflow.set_tag("family", params["family"])
            mlflow.log_params(params)
            mlflow.log_metrics(evaluation.scores.as_metrics())
        return {
            "loss": -evaluation.scores.roc_auc,
            "status": STATUS_OK,
            "params": params,
            "evaluation": evaluation,
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
    best = trials.best_trial["result"]
    return SearchResult(params=best["params"], evaluation=best["evaluation"], trials=len(trials))
