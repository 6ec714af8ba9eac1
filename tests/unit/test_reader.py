"""Files that real hospital networks produce: every row read is a row counted, or the file is
quarantined with a report that says why; no value ever lands in another column."""

import codecs
import gzip
import io
import zlib

import pandas as pd
import pytest

from heart_batch.model.pipeline import build_pipeline
from heart_batch.scoring.dialect import FileRejectedError
from heart_batch.scoring.export import Export
from heart_batch.scoring.reader import physical_lines
from heart_batch.scoring.scorer import ScoringModel, score_file
from heart_batch.settings import ScoringSettings
from tests.unit.test_schema import VALID_ROW

COLUMNS = [*VALID_ROW, "patient_id", "notes"]
HEADER = ",".join(COLUMNS)
WIDTH = len(COLUMNS)


def row(number: int, notes: str = "", **changes) -> str:
    values = {**VALID_ROW, **changes, "patient_id": f"P{number}", "notes": notes}
    return ",".join(values[name] for name in COLUMNS)


@pytest.fixture(scope="module")
def model(training_data) -> ScoringModel:
    pipeline = build_pipeline({"family": "logistic_regression", "C": 1.0}, seed=0)
    return ScoringModel("heart", "7", pipeline.fit(training_data.features, training_data.target))


def score(path, model, **options):
    with Export(path) as export:
        return score_file(
            export, export.checksum(), "f_1", path.parent / "out", model, ScoringSettings(**options)
        )


def outputs(scored) -> tuple[pd.DataFrame, pd.DataFrame]:
    predictions = pd.read_parquet(scored.predictions_path)
    rejected = pd.read_parquet(scored.rejected_path) if scored.rejected_path else pd.DataFrame()
    return predictions, rejected


def assert_reconciled(scored, data_rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows in = scored + rejected, each data row exactly once."""
    predictions, rejected = outputs(scored)
    assert (scored.counts.total, scored.counts.scored) == (data_rows, len(predictions))
    assert scored.counts.rejected == len(rejected)
    numbers = sorted([*predictions["source_row"], *rejected.get("source_row", [])])
    assert numbers == list(range(1, data_rows + 1))
    return predictions, rejected


def write(tmp_path, lines: list[str], name="f.csv", ending="\n", encoding="utf-8") -> object:
    path = tmp_path / name
    data = (ending.join(lines) + ending).encode(encoding)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


BROKEN = row(0) + ",surplus"


@pytest.mark.parametrize(
    ("field_bytes", "broken_at"),
    [(200 << 10, 7), (200 << 10, 150), (10 << 20, 3), (50 << 20, 120)],
    ids=["200KiB-broken-before", "200KiB-broken-after", "10MiB", "50MiB"],
)
def test_a_huge_field_and_a_broken_line_lose_no_row(tmp_path, model, field_bytes, broken_at):
    lines = [HEADER] + [row(i) for i in range(1, 201)]
    lines[100] = row(100, notes="x" * field_bytes)
    lines[broken_at] = BROKEN
    scored = score(write(tmp_path, lines), model)
    predictions, rejected = assert_reconciled(scored, 200)
    assert rejected["reason"].tolist() == [
        f"line {broken_at + 1}: {WIDTH + 1} fields, expected {WIDTH}"
    ]
    assert "P100" in set(predictions["patient_id"])


def test_a_line_beyond_the_limit_is_one_rejected_row_never_held_whole(tmp_path, model):
    lines = [HEADER] + [row(i) for i in range(1, 11)]
    lines[4] = row(4, notes="y" * (300 << 10))
    scored = score(write(tmp_path, lines), model, max_line_bytes=64 << 10)
    predictions, rejected = assert_reconciled(scored, 10)
    assert rejected["reason"].tolist() == [
        "line 5: longer than 64 KiB (HEART_MAX_LINE_BYTES): not read"
    ]
    assert len(predictions) == 9


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"], ids=["CR", "CRLF", "LF"])
def test_every_line_ending_reads_alike_even_with_a_broken_line(tmp_path, model, ending):
    lines = [HEADER] + [row(i) for i in range(1, 31)]
    lines[12] = BROKEN
    scored = score(write(tmp_path, lines, ending=ending), model)
    _, rejected = assert_reconciled(scored, 30)
    assert rejected["reason"].tolist() == [f"line 13: {WIDTH + 1} fields, expected {WIDTH}"]


def test_a_quote_never_closed_costs_its_own_line_only(tmp_path, model):
    lines = [HEADER] + [row(i) for i in range(1, 41)]
    lines[9] = row(9, notes='"an opened quote, and the rest of the line')
    scored = score(write(tmp_path, lines), model)
    _, rejected = assert_reconciled(scored, 40)
    assert rejected["reason"].tolist() == ["line 10: a quote opened on this line is never closed"]


def test_a_value_over_several_lines_in_quotes_is_still_one_row(tmp_path, model):
    lines = [HEADER, row(1, notes='"seen twice:\nonce in May,\r\nonce in June"'), row(2), BROKEN]
    scored = score(write(tmp_path, lines), model)
    predictions, rejected = assert_reconciled(scored, 3)
    assert predictions["patient_id"].tolist() == ["P1", "P2"]
    assert rejected["reason"].tolist() == [f"line 6: {WIDTH + 1} fields, expected {WIDTH}"]


def test_a_repeated_header_in_the_same_order_is_skipped_and_counted(tmp_path, model):
    lines = [HEADER] + [row(i) for i in range(1, 6)] + [HEADER.upper()] + [row(6), row(7)]
    scored = score(write(tmp_path, lines), model)
    predictions = pd.read_parquet(scored.predictions_path)
    assert (scored.counts.total, scored.counts.rejected, scored.counts.headers) == (7, 0, 1)
    assert predictions["patient_id"].tolist() == [f"P{i}" for i in range(1, 8)]
    assert predictions["source_row"].tolist() == [1, 2, 3, 4, 5, 7, 8]


@pytest.mark.parametrize("with_broken_line", [False, True], ids=["fast-reader", "tolerant-reader"])
def test_a_header_in_another_order_reads_the_rows_after_it_by_their_own_header(
    tmp_path, model, with_broken_line
):
    swapped = list(COLUMNS)
    chol, thalachh = swapped.index("chol"), swapped.index("thalachh")
    swapped[chol], swapped[thalachh] = "thalachh", "chol"
    second = []
    for i in range(11, 14):  # another system's export: its columns in its own order
        values = {**VALID_ROW, "chol": "301", "thalachh": "99", "patient_id": f"P{i}", "notes": ""}
        second.append(",".join(values[name] for name in swapped))
    lines = [HEADER] + [row(i) for i in range(1, 11)] + [",".join(swapped)] + second
    lines += [BROKEN] * with_broken_line
    scored = score(write(tmp_path, lines), model)
    predictions = pd.read_parquet(scored.predictions_path).set_index("patient_id")
    assert (predictions.loc["P12", "chol"], predictions.loc["P12", "thalachh"]) == (301, 99)
    assert (predictions.loc["P2", "chol"], predictions.loc["P2", "thalachh"]) == (233, 150)
    assert scored.counts.headers == 1
    assert "repeats the header in another column order" in scored.notes[0]


def test_a_header_with_other_columns_quarantines_the_file_naming_its_line(tmp_path, model):
    other = HEADER.replace("notes", "ward")
    lines = [HEADER, row(1), row(2), other, row(3)]
    with pytest.raises(FileRejectedError) as refused:
        score(write(tmp_path, lines), model)
    assert refused.value.problem.problem.startswith("line 4 repeats the header with other columns")
    assert not list((tmp_path / "out").rglob("*.parquet"))


@pytest.mark.parametrize("marker", ["-", ".", "n/a", "NA", "none", "#N/A", " None ", "?", "--"])
def test_the_usual_missing_markers_are_missing_values_not_errors(tmp_path, model, marker):
    lines = [HEADER, row(1, chol=marker), row(2, chol=marker, thall=marker)]
    scored = score(write(tmp_path, lines), model)
    predictions, _ = assert_reconciled(scored, 2)
    assert scored.counts.rejected == 0
    assert [list(names) for names in predictions["imputed_features"]] == [
        ["chol"],
        ["chol", "thall"],
    ]


@pytest.mark.parametrize(
    ("encoding", "bom", "described"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 text"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 text"),
        ("utf-16-le", b"", "UTF-16 text"),
        ("cp1252", b"", "cp1252 (Windows Western) text"),
        ("utf-8", codecs.BOM_UTF8, "separated by ','"),
    ],
    ids=["utf16-le-bom", "utf16-be-bom", "utf16-no-bom", "cp1252", "utf8-bom"],
)
def test_exports_in_other_encodings_are_decoded(tmp_path, model, encoding, bom, described):
    lines = [HEADER] + [row(i, notes="Zürich Müller") for i in range(1, 4)]
    path = tmp_path / "f.csv"
    path.write_bytes(bom + ("\r\n".join(lines) + "\r\n").encode(encoding))
    scored = score(path, model)
    predictions, _ = assert_reconciled(scored, 3)
    assert described in scored.dialect.describe()
    assert predictions["patient_id"].tolist() == ["P1", "P2", "P3"]


def test_excel_s_separator_line_is_read_and_said(tmp_path, model):
    lines = ["sep=;", HEADER.replace(",", ";")] + [row(i).replace(",", ";") for i in (1, 2)]
    scored = score(write(tmp_path, lines), model)
    assert_reconciled(scored, 2)
    assert scored.dialect.describe() == "separated by ';', decimal comma, Excel's sep= line"


def test_a_gzip_cut_off_mid_transfer_is_refused_as_such(tmp_path, model):
    lines = [HEADER] + [row(i) for i in range(1, 2001)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "f.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FileRejectedError) as refused:
        score(path, model)
    assert "the gzip data is cut off before its end" in refused.value.problem.problem


def gzip_bomb(path, unpacked: int, one_line: bool) -> None:
    """A gzip file of ``unpacked`` bytes: one endless line, or endless valid rows."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    piece = (b"9" * (1 << 20)) if one_line else ("\n".join([row(1)] * 25000) + "\n").encode()
    with path.open("wb") as stream:
        stream.write(compressor.compress((HEADER + "\n").encode()))
        for _ in range(unpacked // len(piece)):
            stream.write(compressor.compress(piece))
        stream.write(compressor.flush())


def test_a_gzip_bomb_stops_at_the_decompressed_limit(tmp_path, model):
    path = tmp_path / "bomb.csv.gz"
    gzip_bomb(path, 200 << 20, one_line=False)
    with pytest.raises(FileRejectedError) as refused:
        score(path, model, max_decompressed_bytes=64 << 20)
    problem = refused.value.problem.problem
    assert problem.startswith("too large: the compressed file unpacks to more than 67,108,864")
    assert "HEART_MAX_DECOMPRESSED_BYTES" in problem


def test_a_gzip_bomb_of_one_line_is_refused_by_the_line_limit(tmp_path, model):
    path = tmp_path / "bomb.csv.gz"
    gzip_bomb(path, 100 << 20, one_line=True)
    with pytest.raises(FileRejectedError) as refused:
        score(path, model, max_line_bytes=1 << 20)
    assert (
        "line 2: longer than 1 MiB (HEART_MAX_LINE_BYTES): not read" in refused.value.problem.detail
    )


class Chunks(io.RawIOBase):
    """A stream that hands out the given pieces, one per read."""

    def __init__(self, parts: list[bytes]):
        super().__init__()
        self.parts = list(parts)

    def readable(self):
        return True

    def read(self, size=-1):  # pylint: disable=unused-argument  # one piece whatever the size
        return self.parts.pop(0) if self.parts else b""


@pytest.mark.parametrize(
    "cut_after", ["\r", "\r\n", "P2"], ids=["inside-CRLF", "after-CRLF", "mid-line"]
)
def test_lines_are_the_same_however_the_stream_is_cut(cut_after):
    lines = [HEADER, row(1), row(2), BROKEN, row(4)]
    text = ("\r\n".join(lines) + "\r\n").encode()
    cut = text.index(cut_after.encode(), len(HEADER) + 5) + len(cut_after)
    physical = list(physical_lines(Chunks([text[:cut], text[cut:]]), 1 << 20))
    assert [line.decode() for line in physical] == [line + "\r\n" for line in lines]
