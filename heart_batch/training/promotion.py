"""Which model serves after a retraining: fitted models compete on the data we have now.

Three contenders, each judged on every current labelled row by a risk it was *not* fitted on:

- ``new``: the search's best configuration, by its cross-validated (out-of-fold) risk;
- ``refresh``: the champion's configuration refitted on the current data, likewise;
- ``incumbent``: the champion as deployed: its out-of-fold risk from its own training on the rows
  it was trained on (its reference), its prediction on the rows that came since. On unchanged data
  the champion and its refresh are the same model, judged once, on the folds of ``new``.

The same rows, the same metrics (ROC AUC and Brier of those risks, pooled and per source), so the
comparison is fair: no contender is scored on rows it learnt. The challenger (the better of new and
refresh by pooled ROC AUC; a tie goes to the refresh) replaces the incumbent unless it is worse
beyond the tolerances; when it is not better, only unchanged data keeps the incumbent.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from heart_batch.contract.columns import LABEL, OUT_OF_FOLD_RISK, label_from_disease
from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.registry.champion import PromotionDecision
from heart_batch.settings import TrainingSettings

NEW, REFRESH, INCUMBENT = "new", "refresh", "incumbent"


@dataclass(frozen=True)
class Figures:
    """ROC AUC and Brier score of out-of-sample risks on some labelled rows."""

    roc_auc: float
    brier: float
    rows: int


@dataclass(frozen=True)
class Contender:
    """One model's figures on the current data: all rows pooled, and per source."""

    name: str
    pooled: Figures
    by_source: dict[str, Figures]


@dataclass(frozen=True)
class Decision(PromotionDecision):
    """What the gate decided about which challenger, and why, in one sentence."""

    challenger: str = NEW


def measure(disease: np.ndarray, risk: np.ndarray) -> Figures | None:
    """Figures of some rows; None when they hold one class only."""
    if len(np.unique(disease)) < 2:
        return None
    return Figures(
        float(roc_auc_score(disease, risk)), float(brier_score_loss(disease, risk)), len(disease)
    )


def contender(
    name: str, disease: pd.Series, sources: pd.Series, risk: np.ndarray, min_source_rows: int
) -> Contender:
    """A contender's figures from its out-of-sample risk of every current row."""
    truth = disease.to_numpy()
    by_source = {}
    for source in sources.unique():
        rows = (sources == source).to_numpy()
        figures = measure(truth[rows], risk[rows]) if rows.sum() >= min_source_rows else None
        if figures is not None:
            by_source[str(source)] = figures
    pooled = measure(truth, risk)
    if pooled is None:
        raise ValueError("the current data hold patients of one class only: nothing to judge")
    return Contender(name, pooled, by_source)


def incumbent_risk(model, reference: pd.DataFrame, features: pd.DataFrame, disease: pd.Series):
    """The deployed champion's out-of-sample risk of every current row.

    Rows it was trained on get the out-of-fold risk logged in its reference; the rows that came
    since get its prediction.
    """
    seen = reference[[*FEATURE_NAMES, LABEL, OUT_OF_FOLD_RISK]].rename(
        columns={OUT_OF_FOLD_RISK: "_oof"}
    )
    rows = features.assign(**{LABEL: label_from_disease(disease)})
    merged = rows.merge(seen.drop_duplicates([*FEATURE_NAMES, LABEL]), how="left")
    risk = merged["_oof"].to_numpy(dtype=float, copy=True)
    unseen = np.isnan(risk)
    if unseen.any():
        risk[unseen] = model.predict_proba(features[unseen])[:, 1]
    return risk


def decide(
    challengers: list[Contender],
    incumbent: Contender | None,
    same_data: bool,
    flagged_sources: list[str],
    tolerances: TrainingSettings,
) -> Decision:
    """Choose the challenger and decide whether it replaces the incumbent.

    Args:
        challengers: The refitted contenders (``new``, and ``refresh`` when there is a champion).
        incumbent: The deployed champion's figures, or None when there is no champion yet.
        same_data: The current data are exactly the data the champion was trained on.
        flagged_sources: Sources that monitoring found drifting (the retraining's trigger).
        tolerances: How much worse the challenger may be.
    """
    challenger = max(challengers, key=lambda c: (c.pooled.roc_auc, c.name == REFRESH))
    if incumbent is None:
        return Decision(True, "no champion yet: the first model becomes champion", challenger.name)
    ours, theirs = challenger.pooled, incumbent.pooled
    improved = _improved_sources(challenger, incumbent, flagged_sources)
    auc_gain, brier_increase = ours.roc_auc - theirs.roc_auc, ours.brier - theirs.brier
    rules = [  # (holds, promote, why): the first rule that holds decides
        (auc_gain < -tolerances.max_auc_loss, False, "ROC AUC worse beyond tolerance"),
        (brier_increase > tolerances.max_brier_increase, False, "Brier worse beyond tolerance"),
        (auc_gain > tolerances.min_auc_gain, True, "higher pooled ROC AUC"),
        (bool(improved), True, f"better Brier on flagged {', '.join(improved)}"),
        (not same_data, True, "fitted on the rows that came since the champion was trained"),
        (True, False, "no better on unchanged data"),
    ]
    promote, why = next((promote, why) for holds, promote, why in rules if holds)
    figures = (
        f"{challenger.name}: ROC AUC {ours.roc_auc:.4f}, Brier {ours.brier:.4f}; "
        f"incumbent: {theirs.roc_auc:.4f}, {theirs.brier:.4f}"
    )
    return Decision(promote, f"{why} ({figures})", challenger.name)


def _improved_sources(challenger: Contender, incumbent: Contender, flagged: list[str]) -> list:
    return [
        f"{source} ({incumbent.by_source[source].brier:.3f} -> "
        f"{challenger.by_source[source].brier:.3f})"
        for source in flagged
        if source in challenger.by_source
        and source in incumbent.by_source
        and challenger.by_source[source].brier < incumbent.by_source[source].brier
    ]


def decision_table(contenders: list[Contender]) -> str:
    """Markdown table of the contenders, pooled then per source."""
    sources = sorted({source for c in contenders for source in c.by_source})
    header = "| contender | rows | " + " | ".join(["pooled", *sources]) + " |"
    lines = [header, "|" + "---|" * (len(sources) + 3)]
    for candidate in contenders:
        cells = [_cell(candidate.pooled)]
        cells += [_cell(candidate.by_source.get(source)) for source in sources]
        lines.append(f"| {candidate.name} | {candidate.pooled.rows} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(figures: Figures | None) -> str:
    if figures is None:
        return "-"
    return f"AUC {figures.roc_auc:.3f}, Brier {figures.brier:.3f}"
