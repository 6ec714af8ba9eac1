"""How an export is written (separator, decimal mark, compression), and what to say if not told."""

import gzip

import pytest

from heart_batch.scoring.dialect import FileRejectedError, detect_dialect
from heart_batch.scoring.export import Export
from tests.unit.test_schema import VALID_ROW

EUROPEAN_ROW = {**VALID_ROW, "oldpeak": "2,3"}


def dialect_of(path):
    with Export(path) as opened:
        return detect_dialect(opened)


def export(path, separator: str, row: dict, compress: bool = False, header: list | None = None):
    """A header and three copies of ``row``, joined by ``separator``."""
    lines = [separator.join(header or row), *[separator.join(row.values())] * 3]
    content = ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")
    if compress:
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "separator", "row", "described"),
    [
        ("plain.csv", ",", VALID_ROW, "separated by ','"),
        ("european.csv", ";", EUROPEAN_ROW, "separated by ';', decimal comma"),
        ("ward.tsv", "\t", EUROPEAN_ROW, "separated by tab, decimal comma"),
        ("lab.csv", "|", VALID_ROW, "separated by '|', decimal comma"),
        ("archive.csv.gz", ";", EUROPEAN_ROW, "separated by ';', decimal comma, gzip"),
        ("archive.TSV.GZ", "\t", VALID_ROW, "separated by tab, decimal comma, gzip"),
    ],
)
def test_the_separator_is_told_from_the_header(tmp_path, name, separator, row, described):
    path = export(tmp_path / name, separator, row, compress=name.lower().endswith(".gz"))
    dialect = dialect_of(path)
    assert (dialect.separator, dialect.columns) == (separator, list(VALID_ROW))
    assert dialect.describe() == described


def test_a_comma_inside_a_semicolon_header_does_not_fool_the_detection(tmp_path):
    header = [*VALID_ROW, "remark, free text"]
    path = export(tmp_path / "f.csv", ";", {**EUROPEAN_ROW, "remark": "a, b"}, header=header)
    assert dialect_of(path).separator == ";"


@pytest.mark.parametrize(
    ("header", "problem", "detail"),
    [
        (
            ":".join(VALID_ROW),
            "required columns missing: age, sex",
            "the header is one column 'age:sex:cp:trtbps:chol:fbs:restecg:thalachh:exng:oldpeak:"
            "...': is the file separated by ':'? Only ',', ';', tab and '|' are read",
        ),
        (
            ";".join(name for name in VALID_ROW if name != "chol"),
            "required columns missing: chol",
            "the header read with separator ';' has 12 columns",
        ),
        ("hello world", "required columns missing: age, sex, cp", "the header is one column"),
    ],
    ids=["colon", "semicolon-missing-chol", "prose"],
)
def test_an_unrecognised_header_says_what_was_seen(tmp_path, header, problem, detail):
    (tmp_path / "f.csv").write_text(header + "\n1\n")
    with pytest.raises(FileRejectedError) as refused:
        dialect_of(tmp_path / "f.csv")
    assert refused.value.problem.problem.startswith(problem)
    assert refused.value.problem.detail.startswith(detail)


def test_a_uci_column_name_gets_a_did_you_mean_and_is_never_mapped(tmp_path):
    header = ",".join("thalach" if name == "thalachh" else name for name in VALID_ROW)
    (tmp_path / "f.csv").write_text(header + "\n1\n")
    with pytest.raises(FileRejectedError) as refused:
        dialect_of(tmp_path / "f.csv")
    problem = refused.value.problem.problem
    assert problem.startswith("required columns missing: thalachh; the file has 'thalach'")
    assert "did you mean 'thalachh'?" in problem and "never mapped silently" in problem


def test_a_gz_name_on_plain_text_is_refused_as_unreadable(tmp_path):
    (tmp_path / "f.csv.gz").write_text(",".join(VALID_ROW) + "\n")
    with pytest.raises(FileRejectedError, match="unreadable file"):
        dialect_of(tmp_path / "f.csv.gz")
