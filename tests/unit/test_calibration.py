"""The no-change distribution: window sizes, reproducibility, limits and the shared budget."""

import numpy as np
import pandas as pd
import pytest

from heart_batch.monitoring.no_change import (
    MISSING_SHARE,
    CalibrationCache,
    NoChange,
    calibration_size,
    monitored,
    simulate,
)


@pytest.mark.parametrize(
    ("rows", "size"),
    [(1, 1), (9, 9), (10, 10), (49, 40), (50, 50), (199, 150), (200, 200), (737, 600)]
    + [(2000, 2000), (99_999, 80_000), (100_000, 100_000)],
)
def test_a_window_is_calibrated_at_the_largest_step_not_above_its_size(rows, size):
    assert calibration_size(rows) == size


@pytest.fixture(scope="module")
def reference(training_data):
    rng = np.random.default_rng(0)
    return training_data.reference.assign(risk=rng.uniform(0, 1, len(training_data.features)))


def test_replicates_are_reproducible_under_a_seed(reference):
    first = simulate(reference, 100, 300, seed=1).statistics
    pd.testing.assert_frame_equal(first, simulate(reference, 100, 300, seed=1).statistics)
    assert not first.equals(simulate(reference, 100, 300, seed=2).statistics)
    assert list(first.columns) == [*monitored(reference), MISSING_SHARE]


def test_small_windows_are_noisier_than_large_ones(reference):
    small, large = (simulate(reference, rows, 1000, seed=1) for rows in (50, 2000))
    for column in ("age", "cp", "risk"):
        assert small.limit(column, 0.01) > 2 * large.limit(column, 0.01)


def test_huge_windows_keep_the_reference_own_sampling_error_in_their_limits(reference):
    huge, large = (simulate(reference, rows, 1000, seed=1) for rows in (100_000, 2000))
    for column in ("age", "cp", "risk"):
        assert huge.limit(column, 0.01) > 0.7 * large.limit(column, 0.01)


def test_the_limit_leaves_at_most_the_level_beyond_it():
    no_change = NoChange(100, pd.DataFrame({"x": np.arange(1000) / 1000}))
    limit = no_change.limit("x", 0.01)
    values = no_change.statistics["x"]
    assert (values > limit).mean() <= 0.01
    assert (values >= limit).mean() > 0.01


def test_independent_checks_share_the_budget_like_bonferroni():
    statistics = pd.DataFrame(np.random.default_rng(3).uniform(size=(20_000, 10)))
    statistics.columns = [f"c{k}" for k in range(10)]
    level = NoChange(100, statistics).family_level(list(statistics.columns), 0.01)
    assert 0.0008 <= level <= 0.0011


def test_identical_checks_share_it_as_one_check():
    column = np.random.default_rng(3).uniform(size=20_000)
    statistics = pd.DataFrame({f"c{k}": column for k in range(10)})
    level = NoChange(100, statistics).family_level(list(statistics.columns), 0.01)
    assert level == pytest.approx(0.01, abs=0.0005)


def test_the_share_of_replicates_with_any_alarm_stays_within_the_budget(reference):
    no_change = simulate(reference, 200, 4000, seed=5)
    columns = list(no_change.statistics.columns)
    level = no_change.family_level(columns, 0.01)
    limits = {column: no_change.limit(column, level) for column in columns}
    alarms = np.any([no_change.statistics[column] > limits[column] for column in columns], axis=0)
    assert 0 < alarms.mean() <= 0.01


def test_the_cache_keeps_one_file_per_model_version_and_size(reference, tmp_path):
    cache = CalibrationCache(tmp_path)
    first = cache.get(("heart", "1"), reference, 100, 200, 0)
    (path,) = tmp_path.iterdir()
    assert path.name == "heart-v1-n100-r200-s0.parquet"
    reread = CalibrationCache(tmp_path).get(("heart", "1"), reference, 100, 200, 0)
    pd.testing.assert_frame_equal(first.statistics, reread.statistics)
    cache.get(("heart", "2"), reference, 100, 200, 0)
    cache.get(("heart", "1"), reference, 200, 200, 0)
    assert len(list(tmp_path.iterdir())) == 3
