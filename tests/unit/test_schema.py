"""The feature contract: valid values pass, impossible ones are rejected, missing codes imputed."""

import re

import numpy as np
import pandas as pd
import pytest

from heart_batch.contract.columns import LABEL, disease_from_label, label_from_disease
from heart_batch.contract.features import FEATURE_NAMES, missing_columns, normalize_header
from heart_batch.contract.validation import missing_feature_names, validate_rows
from tests.conftest import REPO_ROOT

VALID_ROW = {
    "age": "63",
    "sex": "1",
    "cp": "3",
    "trtbps": "145",
    "chol": "233",
    "fbs": "1",
    "restecg": "0",
    "thalachh": "150",
    "exng": "0",
    "oldpeak": "2.3",
    "slp": "0",
    "caa": "0",
    "thall": "1",
}


def one_row(**changes) -> pd.DataFrame:
    """A single valid row with some cells replaced."""
    return pd.DataFrame([{**VALID_ROW, **changes}])


def test_a_valid_row_is_accepted_as_numbers():
    rows = validate_rows(one_row(), max_missing=0)
    assert rows.accepted.tolist() == [True]
    assert not rows.reasons
    assert rows.features.dtypes.eq("float64").all()
    assert list(rows.features.columns) == FEATURE_NAMES
    assert rows.features.loc[0, "oldpeak"] == pytest.approx(2.3)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("age", "29"),
        ("age", " 77 "),
        ("oldpeak", "-2.6"),
        ("oldpeak", "0"),
        ("cp", "0"),
        ("cp", "3.0"),
        ("restecg", "2"),
        ("slp", "2"),
        ("caa", "3"),
        ("thall", "3"),
        ("chol", "564"),
        ("thalachh", "202"),
    ],
)
def test_values_inside_the_domain_are_accepted(column, value):
    assert validate_rows(one_row(**{column: value}), max_missing=0).accepted.all()


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("age", "300", "age=300 outside 1 to 120 years"),
        ("age", "abc", "age='abc' is not a number"),
        ("chol", "-5", "chol=-5 outside 50 to 700 mg/dl"),
        ("trtbps", "400", "trtbps=400 outside 50 to 250 mm Hg"),
        ("cp", "7", "cp=7 outside 0=asymptomatic"),
        ("cp", "1.5", "cp=1.5 outside"),
        ("sex", "M", "sex='M' is not a number"),
        ("thall", "5", "thall=5 outside 1=fixed defect, 2=normal, 3=reversible defect"),
        ("slp", "-1", "slp=-1 outside"),
        ("oldpeak", "12", "oldpeak=12 outside -5 to 10 mm"),
    ],
)
def test_impossible_values_are_rejected_with_an_actionable_reason(column, value, reason):
    rows = validate_rows(one_row(**{column: value}), max_missing=13)
    assert rows.accepted.tolist() == [False]
    assert reason in rows.reasons[0]
    assert rows.features.empty


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("caa", "4"),
        ("thall", "0"),
        ("chol", "0"),
        ("trtbps", "0"),
        ("slp", ""),
        ("chol", "?"),
        ("age", "NA"),
        ("caa", " "),
    ],
)
def test_missing_codes_and_empty_cells_become_missing(column, value):
    rows = validate_rows(one_row(**{column: value}), max_missing=1)
    assert rows.accepted.tolist() == [True]
    assert np.isnan(rows.features.loc[0, column])
    assert missing_feature_names(rows.missing_masks[0]) == [column]


def test_a_row_missing_more_features_than_allowed_is_rejected():
    rows = validate_rows(one_row(chol="", caa="4", thall="0"), max_missing=2)
    assert rows.accepted.tolist() == [False]
    assert rows.reasons == ["3 features missing (at most 2 allowed): chol, caa, thall"]


def test_every_problem_of_a_row_is_reported():
    rows = validate_rows(one_row(age="300", cp="9"), max_missing=0)
    assert rows.reasons[0].split("; ")[0].startswith("age=300")
    assert rows.reasons[0].split("; ")[1].startswith("cp=9")


def test_rows_keep_their_order_and_only_bad_rows_are_rejected():
    raw = pd.concat([one_row(), one_row(age="x"), one_row(chol="0")], ignore_index=True)
    rows = validate_rows(raw, max_missing=1)
    assert rows.accepted.tolist() == [True, False, True]
    assert len(rows.features) == 2
    assert [missing_feature_names(mask) for mask in rows.missing_masks] == [[], ["chol"]]


@pytest.mark.parametrize(("label", "expected"), [("0", 0.0), ("1", 1.0), ("", np.nan)])
def test_labels_are_read_when_present(label, expected):
    rows = validate_rows(one_row(**{LABEL: label}), max_missing=0)
    assert rows.labels.iloc[0] == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize("label", ["2", "yes"])
def test_an_invalid_label_rejects_the_row(label):
    rows = validate_rows(one_row(**{LABEL: label}), max_missing=0)
    assert rows.reasons == ["output: label must be 0 (disease) or 1 (no disease)"]


def test_numeric_input_is_validated_without_text_conversion():
    raw = one_row().astype(float)
    raw.loc[0, "caa"] = 4
    rows = validate_rows(raw, max_missing=1)
    assert missing_feature_names(rows.missing_masks[0]) == ["caa"]


@pytest.mark.parametrize(
    ("header", "normalized"), [(" Age ", "age"), ("CHOL", "chol"), ("thalachh", "thalachh")]
)
def test_headers_match_regardless_of_case_and_surrounding_spaces(header, normalized):
    assert normalize_header(header) == normalized


def test_missing_columns_lists_absent_features_in_contract_order():
    assert missing_columns([name for name in FEATURE_NAMES if name not in {"cp", "caa"}]) == [
        "cp",
        "caa",
    ]


def test_the_model_target_is_disease_which_is_label_zero():
    assert disease_from_label(pd.Series([0, 1, 0])).tolist() == [1, 0, 1]


def test_the_label_of_a_disease_flag_is_the_inverse_of_the_target():
    labels = pd.Series([0, 1, 1, 0])
    assert label_from_disease(disease_from_label(labels)).tolist() == labels.tolist()
    assert label_from_disease(np.array([1, 0])).tolist() == [0.0, 1.0]


def test_no_module_but_the_output_contract_compares_the_label_with_a_number():
    library = REPO_ROOT / "heart_batch"
    spelled = [
        str(path.relative_to(REPO_ROOT))
        for path in library.rglob("*.py")
        if path.name != "columns.py"
        and re.search(r"\[LABEL\] *[=!]= *[01]|LABEL: *\(1 -", path.read_text())
    ]
    assert spelled == []
