"""Our drift distances are Evidently's, for one window and for counted replicates alike."""

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests.jensenshannon import jensenshannon_stat_test
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import (
    wasserstein_stat_test,
)
from evidently.legacy.core import ColumnType

from heart_batch.monitoring.drift import METHODS, column_distance, replicate_distances

RNG = np.random.default_rng(7)
REFERENCE = pd.DataFrame(
    {
        "age": RNG.normal(54, 9, 300).round(),
        "cp": RNG.choice([0.0, 1.0, 2.0, 3.0], 300, p=[0.47, 0.17, 0.29, 0.07]),
        "risk": RNG.uniform(0, 1, 300),
    }
)
WINDOW = pd.DataFrame(
    {
        "age": RNG.normal(59, 9, 80).round(),
        "cp": RNG.choice([0.0, 1.0, 2.0], 80),
        "risk": RNG.uniform(0.1, 1, 80),
    }
)


@pytest.mark.parametrize("column", ["age", "cp", "risk"])
def test_each_distance_is_evidentlys(column):
    method = METHODS[column]
    test = jensenshannon_stat_test if method == "jensenshannon" else wasserstein_stat_test
    kind = ColumnType.Categorical if method == "jensenshannon" else ColumnType.Numerical
    expected = test(REFERENCE[column], WINDOW[column], kind, None).drift_score
    assert column_distance(REFERENCE[column], WINDOW[column], method) == pytest.approx(expected)


@pytest.mark.parametrize("column", ["age", "cp", "risk"])
def test_a_distance_from_counts_equals_the_distance_of_the_rows(column):
    values = np.unique(REFERENCE[column])
    window = REFERENCE[column].sample(120, replace=True, random_state=3)
    reference_counts, window_counts = (
        np.array([[np.sum(sample == value) for value in values]])
        for sample in (REFERENCE[column], window)
    )
    from_counts = replicate_distances(values, reference_counts, window_counts, METHODS[column])
    assert from_counts[0] == pytest.approx(
        column_distance(REFERENCE[column], window, METHODS[column]), abs=1e-12
    )


def test_missing_values_are_left_out_and_an_empty_column_has_no_distance():
    with_gaps = pd.concat([WINDOW["age"], pd.Series([np.nan] * 20)], ignore_index=True)
    assert column_distance(REFERENCE["age"], with_gaps, "wasserstein") == column_distance(
        REFERENCE["age"], WINDOW["age"], "wasserstein"
    )
    with pytest.raises(ValueError, match="no observed value"):
        column_distance(REFERENCE["age"], pd.Series([np.nan] * 5), "wasserstein")


def test_a_replicate_with_no_observed_value_has_distance_zero():
    values = np.array([0.0, 1.0])
    distances = replicate_distances(
        values, np.array([[5, 5]]), np.array([[0, 0], [3, 1]]), "jensenshannon"
    )
    assert distances[0] == 0 and distances[1] > 0
