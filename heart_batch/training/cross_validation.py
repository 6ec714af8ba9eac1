"""Repeated stratified cross-validation on fixed folds: the evaluation every model is judged by."""

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline

from heart_batch.settings import TrainingSettings


@dataclass(frozen=True)
class CvPlan:
    """Which folds: the same plan on the same data gives the same folds."""

    folds: int
    repeats: int
    seed: int

    @classmethod
    def from_settings(cls, settings: TrainingSettings) -> "CvPlan":
        """The plan the HEART_CV_* settings and HEART_SEED give."""
        return cls(settings.cv_folds, settings.cv_repeats, settings.seed)

    def splits(self, target: pd.Series) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train, test) row positions of every fold of every repeat."""
        splitter = RepeatedStratifiedKFold(
            n_splits=self.folds, n_repeats=self.repeats, random_state=self.seed
        )
        return list(splitter.split(np.zeros(len(target)), target))


@dataclass(frozen=True)
class CvScores:
    """Cross-validated figures: mean over all folds (and the spread of ROC AUC)."""

    roc_auc: float
    roc_auc_std: float
    brier: float
    accuracy: float

    def as_metrics(self, prefix: str = "cv_") -> dict[str, float]:
        """Flat metric names for MLflow."""
        return {f"{prefix}{name}": value for name, value in asdict(self).items()}


@dataclass(frozen=True)
class Evaluation:
    """Scores plus the out-of-fold risk of every row, averaged over repeats (for plots)."""

    scores: CvScores
    out_of_fold_risk: np.ndarray


def _fit_and_predict(model: Pipeline, features, target, train, test) -> np.ndarray:
    fitted = clone(model).fit(features.iloc[train], target.iloc[train])
    return fitted.predict_proba(features.iloc[test])[:, 1]


def cross_validate(
    model: Pipeline, features: pd.DataFrame, target: pd.Series, plan: CvPlan, n_jobs: int = -1
) -> Evaluation:
    """Fit a fresh copy of ``model`` on each fold of ``plan`` and score it on the held-out rows."""
    splits = plan.splits(target)
    risks = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_predict)(model, features, target, train, test) for train, test in splits
    )
    truth = [target.to_numpy()[test] for _, test in splits]
    aucs = [roc_auc_score(y, risk) for y, risk in zip(truth, risks)]
    scores = CvScores(
        roc_auc=float(np.mean(aucs)),
        roc_auc_std=float(np.std(aucs)),
        brier=float(np.mean([brier_score_loss(y, risk) for y, risk in zip(truth, risks)])),
        accuracy=float(np.mean([accuracy_score(y, risk >= 0.5) for y, risk in zip(truth, risks)])),
    )
    out_of_fold = np.zeros(len(target))
    for (_, test), risk in zip(splits, risks):
        out_of_fold[test] += risk / plan.repeats
    return Evaluation(scores=scores, out_of_fold_risk=out_of_fold)
