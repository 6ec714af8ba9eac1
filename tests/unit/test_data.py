"""The seed dataset and how training reads it."""

import numpy as np
import pandas as pd
import pytest

from heart_batch.contract.columns import LABEL
from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.training.data import file_checksum, load_training_data, rows_checksum
from tests.conftest import REPO_ROOT, SEED_DATA

SEED_SHA256 = "43b0368eca2f420af11ceaada19b565db750418500ecf59f70fcf974401f17f2"


def test_the_seed_dataset_is_the_published_one():
    assert file_checksum(SEED_DATA) == SEED_SHA256


def test_training_data_drops_the_one_duplicate_and_maps_missing_codes():
    data = load_training_data(SEED_DATA)
    assert (len(data.features), data.dropped_duplicates, data.rejected) == (302, 1, 0)
    assert list(data.features.columns) == FEATURE_NAMES
    assert (
        data.features["caa"].isna().sum() == 4
    )  # caa == 4 in the export (5 rows, one a duplicate)
    assert data.features["thall"].isna().sum() == 2  # thall == 0 in the export
    assert data.checksums == {"heart.csv": SEED_SHA256}


def test_the_target_is_disease_the_inverse_of_the_dataset_label():
    data = load_training_data(SEED_DATA)
    assert data.target.sum() == 138  # rows with output == 0: angiographic disease
    assert (data.reference[LABEL] == 1 - data.target).all()


def test_a_file_without_a_contract_column_is_refused(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text(SEED_DATA.read_text().replace("chol", "cholesterol", 1))
    with pytest.raises(ValueError, match=r"lacks columns \['chol'\]"):
        load_training_data(broken)


def test_other_hospitals_export_is_pinned_and_readable_through_the_contract():
    other = REPO_ROOT / "data" / "heart_other_hospitals.csv"
    assert file_checksum(other) == (
        "7fd6296f8dcd5f347a6b73dbe0bdfc6100094d07132d3272ee48df1b2afdbdc0"
    )
    data = load_training_data(other)
    assert (len(data.features), data.dropped_duplicates, data.rejected) == (614, 2, 0)
    assert data.features["caa"].isna().mean() > 0.9  # other hospitals rarely recorded it
    assert data.target.mean() > 0.55  # and saw more disease than Cleveland (46 %)


def test_the_rows_checksum_is_the_set_of_distinct_rows():
    rows = pd.DataFrame({"age": [63.0, 41.0, np.nan], "output": [0.0, 1.0, 1.0]})
    same = pd.concat([rows.iloc[::-1], rows.iloc[:1]])  # reordered, one row repeated
    assert rows_checksum(same) == rows_checksum(rows)
    assert rows_checksum(rows.assign(output=[1.0, 1.0, 1.0])) != rows_checksum(rows)
    assert rows_checksum(rows.iloc[:2]) != rows_checksum(rows)
