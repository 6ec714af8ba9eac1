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
beyond the tolerances, pooled or for one patient subgroup (``contract.subgroups``: women, men, three
age groups); when it is not better, only unchanged data keeps the incumbent.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from heart_batch.contract.subgroups import SUBGROUPS
from heart_batch.registry.champion import PromotionDecision
from heart_batch.settings import TrainingSettings
from heart_batch.training.data import TrainingData, out_of_sample_risk

NEW, REFRESH, INCUMBENT = "new", "refresh", "incumbent"


@dataclass(frozen=True)
class Figures:
    """ROC AUC and Brier score of out-of-sample risks on some labelled rows."""

    roc_auc: float
    brier: float
    rows: int


@dataclass(frozen=True)
class Contender:
    """One model's figures on the current data: all rows pooled, per source and per subgroup."""

    name: str
    pooled: Figures
    by_source: dict[str, Figures]
    by_subgroup: dict[str, Figures] = field(default_factory=dict)


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


def contender(name: str, data: TrainingData, risk: np.ndarray, min_rows: int) -> Contender:
    """A contender's figures from its out-of-sample risk of every current row; a source or a
    subgroup has figures of its own from ``min_rows`` rows of both classes on."""
    truth = data.target.to_numpy()
    pooled = measure(truth, risk)
    if pooled is None:
        raise ValueError("the current data hold patients of one class only: nothing to judge")
    sources = data.row_sources.to_numpy()
    groups = {str(source): sources == source for source in data.row_sources.unique()}
    members = {group.name: group.members(data.features) for group in SUBGROUPS}
    return Contender(
        name,
        pooled,
        _measure_groups(truth, risk, groups, min_rows),
        _measure_groups(truth, risk, members, min_rows),
    )


def _measure_groups(truth, risk, groups: dict[str, np.ndarray], min_rows: int):
    figures = {
        name: measure(truth[rows], risk[rows]) if rows.sum() >= min_rows else None
        for name, rows in groups.items()
    }
    return {name: values for name, values in figures.items() if values is not None}


def incumbent_risk(model, reference: pd.DataFrame, features: pd.DataFrame, disease: pd.Series):
    """The deployed champion's out-of-sample risk of every current row.

    Rows it was trained on get the out-of-fold risk logged in its reference; the rows that came
    since get its prediction.
    """
    return out_of_sample_risk(model, reference, features, disease)[0]


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
    worse_for = worse_subgroups(challenger, incumbent, tolerances)
    rules = [  # (holds, promote, why): the first rule that holds decides
        (auc_gain < -tolerances.max_auc_loss, False, "ROC AUC worse beyond tolerance"),
        (brier_increase > tolerances.max_brier_increase, False, "Brier worse beyond tolerance"),
        (bool(worse_for), False, f"worse for {'; '.join(worse_for)}"),
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


def worse_subgroups(
    challenger: Contender, incumbent: Contender, tolerances: TrainingSettings
) -> list[str]:
    """Each subgroup for which the challenger is worse than the incumbent beyond the subgroup
    tolerances, with the figures: ``women: Brier 0.121 -> 0.150 (+0.029, tolerance 0.02)``."""
    worse = []
    for name, ours in challenger.by_subgroup.items():
        theirs = incumbent.by_subgroup.get(name)
        if theirs is None:
            continue
        auc_loss, brier_increase = theirs.roc_auc - ours.roc_auc, ours.brier - theirs.brier
        if auc_loss > tolerances.max_subgroup_auc_loss:
            worse.append(
                f"{name}: ROC AUC {theirs.roc_auc:.3f} -> {ours.roc_auc:.3f} "
                f"(-{auc_loss:.3f}, tolerance {tolerances.max_subgroup_auc_loss:g})"
            )
        elif brier_increase > tolerances.max_subgroup_brier_increase:
            worse.append(
                f"{name}: Brier {theirs.brier:.3f} -> {ours.brier:.3f} "
                f"(+{brier_increase:.3f}, tolerance {tolerances.max_subgroup_brier_increase:g})"
            )
    return worse


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
    """Markdown tables of the contenders: pooled then per source, and per subgroup."""
    sources = sorted({source for c in contenders for source in c.by_source})
    subgroups = [g.name for g in SUBGROUPS if any(g.name in c.by_subgroup for c in contenders)]
    tables = [
        _table(contenders, ["pooled", *sources], lambda c: {"pooled": c.pooled} | c.by_source)
    ]
    if subgroups:
        tables.append(_table(contenders, subgroups, lambda c: c.by_subgroup))
    return "\n\n".join(tables)


def _table(contenders: list[Contender], columns: list[str], figures) -> str:
    """One row per contender, one column per group (headed by its rows, the same for all)."""
    rows = {
        column: next(figures(c)[column].rows for c in contenders if column in figures(c))
        for column in columns
    }
    headers = [f"{column} ({rows[column]})" for column in columns]
    lines = ["| contender | " + " | ".join(headers) + " |", "|" + "---|" * (len(columns) + 1)]
    for candidate in contenders:
        cells = [_cell(figures(candidate).get(column)) for column in columns]
        lines.append(f"| {candidate.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(figures: Figures | None) -> str:
    if figures is None:
        return "-"
    return f"AUC {figures.roc_auc:.3f}, Brier {figures.brier:.3f}"
