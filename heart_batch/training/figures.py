"""Diagnostic figures of a model's out-of-fold risks (plain Figures: no pyplot, no GUI backend)."""

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

from heart_batch.contract.subgroups import SUBGROUPS


def calibration_figure(disease: np.ndarray, risk: np.ndarray, bins: int = 10) -> Figure:
    """Observed disease rate against predicted risk, per quantile bin."""
    observed, predicted = calibration_curve(disease, risk, n_bins=bins, strategy="quantile")
    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axes.plot(predicted, observed, marker="o", label="model (out-of-fold)")
    axes.set(xlabel="predicted risk", ylabel="observed disease rate", title="Calibration")
    axes.legend(loc="upper left")
    return figure


def roc_figure(disease: np.ndarray, risk: np.ndarray) -> Figure:
    """ROC curve of the out-of-fold risks."""
    false_positive_rate, true_positive_rate, _ = roc_curve(disease, risk)
    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.plot(
        false_positive_rate,
        true_positive_rate,
        label=f"out-of-fold ROC AUC {roc_auc_score(disease, risk):.3f}",
    )
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    axes.legend(loc="lower right")
    return figure


def card_calibration_figure(data, risk: np.ndarray, bins: int = 5) -> Figure:
    """The model card's calibration plot: observed rate against predicted risk overall, by sex
    (left) and by age group (right), per quantile bin; ``data`` is the ``TrainingData``."""
    disease = data.target.to_numpy()
    figure = Figure(figsize=(10, 5), layout="constrained")
    panels = {"sex": figure.add_subplot(1, 2, 1), "age": figure.add_subplot(1, 2, 2)}
    for feature, axes in panels.items():
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
        observed, predicted = calibration_curve(disease, risk, n_bins=2 * bins, strategy="quantile")
        axes.plot(predicted, observed, marker="o", color="black", label="all patients")
        for group in (g for g in SUBGROUPS if g.feature == feature):
            members = group.members(data.features)
            if len(np.unique(disease[members])) < 2:
                continue
            observed, predicted = calibration_curve(
                disease[members], risk[members], n_bins=bins, strategy="quantile"
            )
            axes.plot(predicted, observed, marker=".", label=f"{group.name} ({members.sum()})")
        axes.set(
            xlabel="predicted risk (out-of-fold)",
            ylabel="observed disease rate",
            title=f"Calibration by {feature}",
        )
        axes.legend(loc="upper left")
    return figure
