"""The promotion gate: fitted models compete on the data we have now, pooled and per source."""

import numpy as np
import pandas as pd
import pytest

from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.model.pipeline import build_pipeline
from heart_batch.registry.champion import CHALLENGER, CHAMPION
from heart_batch.settings import TrainingSettings
from heart_batch.training.promotion import (
    INCUMBENT,
    NEW,
    REFRESH,
    Contender,
    Figures,
    contender,
    decide,
    decision_table,
    incumbent_risk,
)
from heart_batch.training.data import TrainingData

SWISS = "predictions_switzerland_0a1b2c3d4e5f.parquet"


def figures(roc_auc: float, brier: float, swiss_brier: float | None = None) -> tuple:
    by_source = {} if swiss_brier is None else {SWISS: Figures(0.8, swiss_brier, 60)}
    return Figures(roc_auc, brier, 400), by_source


def contenders(**named) -> dict[str, Contender]:
    return {name: Contender(name, *values) for name, values in named.items()}


TOLERANCES = TrainingSettings(min_auc_gain=0.0, max_auc_loss=0.005, max_brier_increase=0.01)


@pytest.mark.parametrize(
    ("named", "same_data", "flagged", "challenger", "promote", "reason"),
    [
        (  # the search found nothing better, but the champion's configuration learnt new rows
            {
                NEW: figures(0.880, 0.140),
                REFRESH: figures(0.890, 0.130),
                INCUMBENT: figures(0.889, 0.135),
            },
            False,
            [],
            REFRESH,
            True,
            "higher pooled ROC AUC",
        ),
        (
            {
                NEW: figures(0.910, 0.120),
                REFRESH: figures(0.890, 0.130),
                INCUMBENT: figures(0.889, 0.135),
            },
            False,
            [],
            NEW,
            True,
            "higher pooled ROC AUC",
        ),
        (
            {
                NEW: figures(0.870, 0.150),
                REFRESH: figures(0.875, 0.150),
                INCUMBENT: figures(0.889, 0.135),
            },
            False,
            [],
            REFRESH,
            False,
            "ROC AUC worse beyond tolerance",
        ),
        (
            {
                NEW: figures(0.889, 0.160),
                REFRESH: figures(0.889, 0.160),
                INCUMBENT: figures(0.889, 0.135),
            },
            False,
            [],
            REFRESH,
            False,
            "Brier worse beyond tolerance",
        ),
        (  # a tie on unchanged data: no churn
            {
                NEW: figures(0.889, 0.135),
                REFRESH: figures(0.889, 0.135),
                INCUMBENT: figures(0.889, 0.135),
            },
            True,
            [],
            REFRESH,
            False,
            "no better on unchanged data",
        ),
        (  # the same tie with new rows: the model that has seen them serves
            {
                NEW: figures(0.887, 0.138),
                REFRESH: figures(0.889, 0.135),
                INCUMBENT: figures(0.889, 0.135),
            },
            False,
            [],
            REFRESH,
            True,
            "fitted on the rows that came since",
        ),
        (  # a flagged source gets better while the pooled figures hold
            {
                NEW: figures(0.886, 0.136, swiss_brier=0.15),
                REFRESH: figures(0.885, 0.137, swiss_brier=0.18),
                INCUMBENT: figures(0.889, 0.135, swiss_brier=0.30),
            },
            True,
            [SWISS],
            NEW,
            True,
            f"better Brier on flagged {SWISS} (0.300 -> 0.150)",
        ),
    ],
    ids=["refresh-wins", "new-wins", "incumbent-wins", "brier-worse", "tie-same-data"]
    + ["tie-new-rows", "flagged-source-improved"],
)
def test_the_gate(named, same_data, flagged, challenger, promote, reason):
    table = contenders(**named)
    decision = decide(
        [table[NEW], table[REFRESH]], table[INCUMBENT], same_data, flagged, TOLERANCES
    )
    assert (decision.challenger, decision.promote) == (challenger, promote)
    assert reason in decision.reason
    assert decision.alias == (CHAMPION if promote else CHALLENGER)


def test_an_improved_source_that_was_not_flagged_does_not_decide():
    table = contenders(
        new=figures(0.886, 0.136, swiss_brier=0.15),
        incumbent=figures(0.889, 0.135, swiss_brier=0.30),
    )
    decision = decide([table[NEW]], table[INCUMBENT], True, [], TOLERANCES)
    assert not decision.promote


def test_the_first_model_is_promoted():
    (new,) = contenders(new=figures(0.8, 0.2)).values()
    decision = decide([new], None, False, [], TOLERANCES)
    assert decision.promote and "no champion yet" in decision.reason


def rows_of(disease: list[int], sources: list[str], sex: list[int], age: list[float]):
    """Training data of the given rows (other features missing)."""
    features = pd.DataFrame(np.nan, index=range(len(disease)), columns=FEATURE_NAMES)
    features["sex"], features["age"] = sex, age
    return TrainingData(
        features=features,
        target=pd.Series(disease),
        sources={},
        row_sources=pd.Series(sources),
        checksums={},
        rows_checksum="",
        dropped_duplicates=0,
        rejected=0,
    )


def test_figures_per_source_and_per_subgroup_need_enough_rows_of_both_classes():
    data = rows_of(
        disease=[0, 1] * 20 + [1] * 40,
        sources=["heart.csv"] * 40 + ["all_healthy.parquet"] * 40,
        sex=[0] * 40 + [1] * 40,
        age=[45.0] * 60 + [55.0] * 20,
    )
    risk = np.linspace(0.1, 0.9, 80)
    result = contender(NEW, data, risk, min_rows=30)
    assert set(result.by_source) == {"heart.csv"}
    assert set(result.by_subgroup) == {"women", "under 50"}  # men: one class; 50 to 60: 20 rows
    assert result.by_subgroup["under 50"].rows == 60
    assert result.pooled.rows == 80
    small = contender(NEW, data, risk, min_rows=50)
    assert not small.by_source and set(small.by_subgroup) == {"under 50"}


def test_a_challenger_worse_for_women_is_refused_even_when_better_pooled():
    women = {"women": Figures(0.85, 0.120, 96), "men": Figures(0.88, 0.13, 206)}
    worse = {"women": Figures(0.84, 0.150, 96), "men": Figures(0.90, 0.12, 206)}
    new = Contender(NEW, Figures(0.905, 0.125, 302), {}, worse)
    incumbent = Contender(INCUMBENT, Figures(0.890, 0.128, 302), {}, women)
    decision = decide([new], incumbent, False, [], TOLERANCES)
    assert not decision.promote
    assert "worse for women: Brier 0.120 -> 0.150 (+0.030, tolerance 0.02)" in decision.reason
    within = {**worse, "women": Figures(0.84, 0.135, 96)}
    tolerated = Contender(NEW, Figures(0.905, 0.125, 302), {}, within)
    assert decide([tolerated], incumbent, False, [], TOLERANCES).promote


def test_a_subgroup_losing_roc_auc_beyond_its_tolerance_is_named_with_the_loss():
    incumbent = Contender(
        INCUMBENT, Figures(0.89, 0.13, 302), {}, {"over 60": Figures(0.86, 0.15, 80)}
    )
    new = Contender(NEW, Figures(0.90, 0.13, 302), {}, {"over 60": Figures(0.80, 0.15, 80)})
    decision = decide([new], incumbent, False, [], TOLERANCES)
    assert not decision.promote
    assert "over 60: ROC AUC 0.860 -> 0.800 (-0.060, tolerance 0.03)" in decision.reason


def test_the_incumbent_is_judged_out_of_fold_where_it_learnt_and_by_prediction_elsewhere(
    training_data,
):
    model = build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0)
    model.fit(training_data.features, training_data.target)
    reference = training_data.reference.assign(oof_risk=np.linspace(0.01, 0.99, 302))
    new_rows = training_data.features.head(5).assign(age=30.0)  # not in the reference
    features = pd.concat([training_data.features, new_rows], ignore_index=True)
    disease = pd.concat([training_data.target, pd.Series([1] * 5)], ignore_index=True)
    risk = incumbent_risk(model, reference, features, disease)
    assert risk[:302] == pytest.approx(reference["oof_risk"].to_numpy())
    assert risk[302:] == pytest.approx(model.predict_proba(new_rows)[:, 1])


def test_the_table_shows_every_contender_pooled_and_per_source():
    table = decision_table(
        list(
            contenders(
                new=figures(0.886, 0.136, swiss_brier=0.15),
                incumbent=figures(0.889, 0.135, swiss_brier=0.30),
            ).values()
        )
    )
    assert f"| contender | pooled (400) | {SWISS} (60) |" in table
    assert "| incumbent | AUC 0.889, Brier 0.135 | AUC 0.800, Brier 0.300 |" in table


def test_the_table_shows_the_subgroups_with_their_rows():
    table = decision_table(
        [
            Contender(NEW, Figures(0.9, 0.12, 302), {}, {"women": Figures(0.85, 0.15, 96)}),
            Contender(INCUMBENT, Figures(0.9, 0.12, 302), {}, {}),
        ]
    )
    assert "| contender | women (96) |" in table
    assert "| new | AUC 0.850, Brier 0.150 |" in table and "| incumbent | - |" in table
