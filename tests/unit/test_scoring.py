"""Scoring one CSV: every row scored or rejected with a reason, outputs complete or absent."""

import csv
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.model.bands import BAND_NAMES, BandTargets, choose_bands
from heart_batch.model.explanations import compile_explainer
from heart_batch.model.pipeline import build_pipeline
from heart_batch.model.risk import feature_matrix
from heart_batch.scoring.dialect import FileRejectedError, detect_dialect
from heart_batch.scoring.export import Export
from heart_batch.scoring.scorer import ScoringModel, output_paths, score_file
from heart_batch.settings import ScoringSettings, TrainingSettings
from tests.unit.test_schema import VALID_ROW

HEADER = ",".join(VALID_ROW)
GOOD_LINE = ",".join(VALID_ROW.values())

TARGETS = BandTargets.from_settings(TrainingSettings())


@pytest.fixture(scope="module")
def model(training_data) -> ScoringModel:
    pipeline = build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0)
    return ScoringModel("heart", "7", pipeline.fit(training_data.features, training_data.target))


def write_csv(path, rows: list[dict], header: list[str] | None = None):
    header = header or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def score(tmp_path, source, model, **options):
    with Export(source) as export:
        return score_file(
            export, export.checksum(), "f_1", tmp_path / "out", model, ScoringSettings(**options)
        )


def dialect_of(path):
    with Export(path) as export:
        return detect_dialect(export)


@pytest.mark.parametrize(
    ("header", "columns"),
    [
        (HEADER, list(VALID_ROW)),
        (HEADER.upper().replace(",", " , "), list(VALID_ROW)),
        ("\ufeff" + HEADER + ",Patient_ID", [*VALID_ROW, "patient_id"]),
    ],
    ids=["plain", "upper-case-and-spaces", "bom-and-extra-column"],
)
def test_headers_are_normalised(tmp_path, header, columns):
    (tmp_path / "f.csv").write_text(header + "\n" + GOOD_LINE + "\n", encoding="utf-8")
    assert dialect_of(tmp_path / "f.csv").columns == columns


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file: no header line"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a text file: binary data"),
        (HEADER.replace("chol,", "").encode(), "required columns missing: chol"),
        (b"hello world\n", "required columns missing: age, sex, cp"),
        ((HEADER + ",AGE").encode(), "columns appear twice: age"),
    ],
    ids=["empty", "binary", "missing-column", "not-a-table", "duplicate-column"],
)
def test_bad_files_are_refused_with_the_problem(tmp_path, content, problem):
    (tmp_path / "f.csv").write_bytes(content)
    with pytest.raises(FileRejectedError) as refused:
        dialect_of(tmp_path / "f.csv")
    assert refused.value.problem.problem.startswith(problem)
    assert refused.value.problem.expected_columns == FEATURE_NAMES


WIDTH = len(VALID_ROW)
TOO_MANY = GOOD_LINE + ",9"
TOO_FEW = "63,1,3"


@pytest.mark.parametrize(
    ("lines", "rejected"),
    [
        ([GOOD_LINE, TOO_MANY, GOOD_LINE], {2: f"line 3: {WIDTH + 1} fields, expected {WIDTH}"}),
        ([GOOD_LINE, GOOD_LINE, TOO_FEW], {3: f"line 4: 3 fields, expected {WIDTH}"}),
        (
            [GOOD_LINE, GOOD_LINE, '"63,1'],
            {3: f"line 4: a quote opened on this line is never closed (1 field, expected {WIDTH})"},
        ),
        (
            [GOOD_LINE, "", "", TOO_FEW, GOOD_LINE],
            {2: f"line 5: 3 fields, expected {WIDTH}"},
        ),
        (
            [GOOD_LINE, TOO_FEW, GOOD_LINE.replace("233", "-5"), TOO_MANY, GOOD_LINE],
            {
                2: f"line 3: 3 fields, expected {WIDTH}",
                3: "chol=-5 outside 50 to 700 mg/dl",
                4: f"line 5: {WIDTH + 1} fields, expected {WIDTH}",
            },
        ),
    ],
    ids=["too-many", "too-few", "unterminated-quote-at-end", "blank-lines-count-as-lines", "mixed"],
)
def test_a_broken_line_is_a_rejected_row_and_the_rest_is_scored(tmp_path, model, lines, rejected):
    (tmp_path / "f.csv").write_text("\n".join([HEADER, *lines]), encoding="utf-8")
    scored = score(tmp_path, tmp_path / "f.csv", model)
    refused = pd.read_parquet(scored.rejected_path)
    assert dict(zip(refused["source_row"], refused["reason"])) == rejected
    data_rows = sum(1 for line in lines if line)
    predictions = pd.read_parquet(scored.predictions_path)
    assert sorted([*predictions["source_row"], *refused["source_row"]]) == list(
        range(1, data_rows + 1)
    )
    assert (scored.counts.total, scored.counts.rejected) == (data_rows, len(rejected))
    assert scored.counts.broken == sum(reason.startswith("line") for reason in rejected.values())


def test_a_value_over_two_lines_counts_both_in_the_broken_line_s_number(tmp_path, model):
    lines = [HEADER + ",patient_id", GOOD_LINE + ',"A\n1"', GOOD_LINE + ",B,9", GOOD_LINE + ",C"]
    (tmp_path / "f.csv").write_text("\n".join(lines) + "\n")
    scored = score(tmp_path, tmp_path / "f.csv", model)
    assert pd.read_parquet(scored.rejected_path)["reason"].tolist() == [
        f"line 4: {WIDTH + 2} fields, expected {WIDTH + 1}"
    ]
    assert pd.read_parquet(scored.predictions_path)["patient_id"].tolist() == ["A\n1", "C"]


def test_a_broken_line_keeps_its_raw_text_capped(tmp_path, model):
    long_line = TOO_MANY + ",x" * 400
    (tmp_path / "f.csv").write_text("\n".join([HEADER, GOOD_LINE, long_line, GOOD_LINE]) + "\n")
    refused = pd.read_parquet(score(tmp_path, tmp_path / "f.csv", model).rejected_path)
    assert refused["raw_line"].iloc[0] == long_line[:500]
    assert refused[list(VALID_ROW)].isna().all(axis=None)


@pytest.mark.parametrize(
    ("broken", "good", "max_share", "quarantined"),
    [(3, 2, 0.5, True), (2, 2, 0.5, False), (1, 0, 1.0, True), (1, 99, 0.0, True)],
    ids=["more-than-half", "exactly-half", "nothing-parses", "no-broken-line-allowed"],
)
def test_a_mostly_broken_file_is_quarantined_with_its_first_broken_lines(
    tmp_path, model, broken, good, max_share, quarantined
):  # pylint: disable=too-many-arguments,too-many-positional-arguments
    lines = [TOO_FEW] * broken + [GOOD_LINE] * good
    (tmp_path / "f.csv").write_text("\n".join([HEADER, *lines]) + "\n")
    if not quarantined:
        assert score(
            tmp_path, tmp_path / "f.csv", model, max_broken_line_share=max_share
        ).counts.broken
        return
    with pytest.raises(FileRejectedError) as refused:
        score(tmp_path, tmp_path / "f.csv", model, max_broken_line_share=max_share)
    problem = refused.value.problem
    assert problem.problem.startswith(f"too many broken lines: {broken} of {broken + good} rows")
    assert f"first broken lines: line 2: 3 fields, expected {WIDTH}" in problem.detail
    assert not [path for path in (tmp_path / "out").rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    ("separator", "oldpeak", "expected"),
    [(";", "2,3", 2.3), ("\t", "2,3", 2.3), ("|", "2.3", 2.3), (",", '"2,3"', None)],
    ids=["semicolon", "tab", "pipe", "comma-keeps-comma-as-text"],
)
def test_a_decimal_comma_is_read_where_the_comma_is_not_the_separator(
    tmp_path, model, separator, oldpeak, expected
):  # pylint: disable=too-many-arguments,too-many-positional-arguments
    values = [*VALID_ROW.values()]
    values[list(VALID_ROW).index("oldpeak")] = oldpeak
    (tmp_path / "f.csv").write_text(separator.join(VALID_ROW) + "\n" + separator.join(values))
    scored = score(tmp_path, tmp_path / "f.csv", model)
    if expected is None:
        reason = pd.read_parquet(scored.rejected_path)["reason"].iloc[0]
        assert reason == "oldpeak='2,3' is not a number"
        return
    assert pd.read_parquet(scored.predictions_path)["oldpeak"].tolist() == [expected]


@pytest.mark.parametrize(("ascii_lines", "late"), [(1, False), (3000, True)], ids=["early", "late"])
def test_a_cp1252_export_is_read_as_cp1252(tmp_path, model, ascii_lines, late):
    named = GOOD_LINE + ",J\xe9r\xf4me"
    content = f"{HEADER},name\n" + f"{GOOD_LINE},Anna\n" * ascii_lines
    (tmp_path / "f.csv").write_bytes(content.encode() + named.encode("cp1252") + b"\n")
    scored = score(tmp_path, tmp_path / "f.csv", model)
    assert (scored.counts.scored, scored.counts.rejected) == (ascii_lines + 1, 0)
    names = pd.read_parquet(scored.predictions_path, columns=["source_row"])
    assert len(names) == ascii_lines + 1
    if late:  # told only where the first byte that is not UTF-8 comes, past the first 64 KiB
        assert scored.notes == [
            f"read as cp1252 text from line {ascii_lines + 2} on (it is not UTF-8)"
        ]
    else:
        assert (scored.dialect.encoding, scored.notes) == ("cp1252", [])


def test_a_byte_that_is_not_utf8_after_utf8_text_breaks_its_line_only(tmp_path, model):
    content = f"{HEADER},name\n{GOOD_LINE},J\u00e9r\u00f4me\n".encode() + (
        f"{GOOD_LINE},J".encode() + b"\xe9\n" + f"{GOOD_LINE},Anna\n".encode()
    )
    (tmp_path / "f.csv").write_bytes(content)
    scored = score(tmp_path, tmp_path / "f.csv", model)
    assert (scored.counts.scored, scored.counts.broken) == (2, 1)
    assert pd.read_parquet(scored.rejected_path)["reason"].tolist() == [
        f"line 3: not UTF-8 text (an undecodable byte at position {len(GOOD_LINE) + 3})"
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"age": "300"}, "age=300 outside 1 to 120 years"),
        ({"chol": "-5"}, "chol=-5 outside 50 to 700 mg/dl"),
        ({"cp": "9"}, "cp=9 outside 0=asymptomatic"),
        ({"thalachh": "fast"}, "thalachh='fast' is not a number"),
        ({"chol": "", "caa": "4", "thall": "0", "slp": "", "fbs": ""}, "5 features missing"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason_and_raw_values(tmp_path, model, changes, reason):
    source = write_csv(tmp_path / "f.csv", [VALID_ROW, {**VALID_ROW, **changes}, VALID_ROW])
    scored = score(tmp_path, source, model)
    assert (scored.counts.total, scored.counts.scored, scored.counts.rejected) == (3, 2, 1)
    rejected = pd.read_parquet(scored.rejected_path)
    assert rejected["source_row"].tolist() == [2]
    assert rejected["reason"].iloc[0].startswith(reason)
    for column, value in changes.items():
        assert rejected[column].iloc[0] == (value or None)
    assert pd.read_parquet(scored.predictions_path)["source_row"].tolist() == [1, 3]


def test_predictions_carry_features_imputations_risk_and_model(tmp_path, model):
    rows = [
        {**VALID_ROW, "patient_id": "A-1", "output": "0"},
        {**VALID_ROW, "patient_id": "A-2", "caa": "4", "chol": "0", "output": ""},
    ]
    scored = score(tmp_path, write_csv(tmp_path / "f.csv", rows), model)
    assert scored.rejected_path is None
    assert not output_paths(tmp_path / "out", "f_1")[1].exists()
    table = pq.read_table(scored.predictions_path)
    assert table.schema.field("imputed_features").type == pa.list_(pa.string())
    assert str(table.schema.field("scored_at").type) == "timestamp[us, tz=UTC]"
    frame = table.to_pandas()
    assert frame["patient_id"].tolist() == ["A-1", "A-2"]
    assert [list(names) for names in frame["imputed_features"]] == [[], ["chol", "caa"]]
    assert frame["output"].tolist()[0] == 0 and pd.isna(frame["output"].tolist()[1])
    assert frame["risk"].between(0, 1).all()
    assert set(frame["model_name"]) == {"heart"} and set(frame["model_version"]) == {"7"}
    assert frame.loc[1, ["chol", "caa"]].isna().all()
    assert scored.counts.imputed == 1


def test_rows_keep_their_numbers_across_many_small_batches(
    tmp_path, model, training_data, monkeypatch
):
    monkeypatch.setattr("heart_batch.scoring.scorer.ROW_GROUP_ROWS", 100)
    raw = pd.read_csv("data/heart.csv", dtype=str)
    raw.loc[[10, 150, 290], "age"] = "999"
    raw.to_csv(tmp_path / "f.csv", index=False)
    scored = score(tmp_path, tmp_path / "f.csv", model, batch_bytes=2048, scoring_threads=2)
    predictions = pd.read_parquet(scored.predictions_path)
    metadata = pq.ParquetFile(scored.predictions_path).metadata
    row_groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert row_groups == [100, 100, 100]
    assert pd.read_parquet(scored.rejected_path)["source_row"].tolist() == [11, 151, 291]
    expected_rows = [row for row in range(1, 304) if row not in {11, 151, 291}]
    assert predictions["source_row"].tolist() == expected_rows
    whole = model.pipeline.predict_proba(training_data.features.iloc[:1])[:, 1][0]
    assert predictions["risk"].iloc[0] == pytest.approx(whole)


def test_a_header_only_file_gives_an_empty_predictions_file(tmp_path, model):
    (tmp_path / "f.csv").write_text(HEADER + "\n")
    scored = score(tmp_path, tmp_path / "f.csv", model)
    assert scored.counts.total == 0
    assert pq.read_table(scored.predictions_path).num_rows == 0


def test_leftovers_of_a_killed_run_are_removed(tmp_path, model):
    (tmp_path / "out").mkdir()
    leftover = tmp_path / "out" / ".predictions_f_1.parquet.0badc0de.tmp"
    leftover.write_bytes(b"PAR1 partial")
    score(tmp_path, write_csv(tmp_path / "f.csv", [VALID_ROW]), model)
    assert not leftover.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["predictions_f_1.parquet"]


PINNED_COLUMNS = [
    ("source_file", "string"),
    ("source_row", "int64"),
    ("patient_id", "string"),
    *[(name, "double") for name in FEATURE_NAMES],
    ("imputed_features", "list<element: string>"),
    ("risk", "double"),
    ("risk_band", "dictionary<values=string, indices=int8, ordered=0>"),
    (
        "reasons",
        "list<element: struct<feature: dictionary<values=string, indices=int8, ordered=0>, "
        "label: dictionary<values=string, indices=int16, ordered=0>, value: double, "
        "contribution: float>>",
    ),
    ("reasons_note", "string"),
    ("output", "int8"),
    ("model_name", "string"),
    ("model_version", "string"),
    ("scored_at", "timestamp[us, tz=UTC]"),
]


@pytest.fixture(scope="module")
def explained_model(model, training_data) -> ScoringModel:
    """The same model with the reasons and bands of its reference (the training rows)."""
    risk = model.risk(feature_matrix(training_data.features))
    return ScoringModel(
        model.name,
        model.version,
        model.pipeline,
        explainer=compile_explainer(model.pipeline, training_data.reference),
        bands=choose_bands(risk, training_data.target.to_numpy(), TARGETS),
    )


def test_every_row_gets_its_band_and_reasons_in_the_pinned_schema(tmp_path, explained_model):
    rows = [
        {**VALID_ROW, "patient_id": "A-1"},
        {**VALID_ROW, "patient_id": "A-2", "caa": "4", "chol": "0", "thall": "0"},
    ]
    scored = score(tmp_path, write_csv(tmp_path / "f.csv", rows), explained_model)
    table = pq.read_table(scored.predictions_path)
    assert [(field.name, str(field.type)) for field in table.schema] == PINNED_COLUMNS
    frame = table.to_pandas()
    bands = explained_model.bands
    expected_bands = [BAND_NAMES[code] for code in bands.codes(frame["risk"].to_numpy())]
    assert frame["risk_band"].astype(str).tolist() == expected_bands
    first, second = (list(reasons) for reasons in frame["reasons"])
    assert first and not {"chol", "caa", "thall"} & {reason["feature"] for reason in second}
    assert pd.isna(frame.loc[0, "reasons_note"])
    assert frame.loc[1, "reasons_note"] == (
        "not measured, so never a reason (imputed): cholesterol, "
        "vessels coloured by fluoroscopy, thallium stress test"
    )


def test_without_reference_data_the_band_and_reasons_are_null(tmp_path, model):
    scored = score(tmp_path, write_csv(tmp_path / "f.csv", [VALID_ROW]), model)
    frame = pd.read_parquet(scored.predictions_path)
    assert frame[["risk_band", "reasons", "reasons_note"]].isna().all().all()


def test_the_predictions_file_explains_its_columns_codes_and_model(tmp_path, explained_model):
    scored = score(tmp_path, write_csv(tmp_path / "f.csv", [VALID_ROW]), explained_model)
    schema = pq.read_schema(scored.predictions_path)
    described = {field.name: field.metadata or {} for field in schema}
    assert all(b"description" in metadata for metadata in described.values())
    assert json.loads(described["cp"][b"codes"])["0"] == "asymptomatic"
    assert json.loads(described["output"][b"codes"]) == {"1": "no disease", "0": "disease"}
    assert b"1 = NO disease" in described["output"][b"description"]
    assert b"opposite direction to output" in described["risk"][b"description"]
    own = schema.metadata
    assert own[b"heart_batch.model_version"] == b"7"
    bands = json.loads(own[b"heart_batch.bands"])
    assert bands["low_below"] == explained_model.bands.low_below
    assert pd.read_parquet(tmp_path / "out")["risk"].notna().all()  # the folder reads as before
