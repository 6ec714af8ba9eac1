"""How an export is written: its compression, separator, decimal mark and header.

Hospital systems and spreadsheets write CSV in several dialects: ``,`` or, in much of Europe, ``;``
with decimal commas (``2,3``), tab-separated ``.tsv``, ``|``, and gzip-compressed files. The
separator is told from the header, which must hold the contract's columns, and checked against
the first lines. Standard library only.
"""

import codecs
import csv
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from heart_batch.inbox import FileProblem
from heart_batch.schema import FEATURE_NAMES, missing_columns, normalize_header

SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
SAMPLE_BYTES = 1 << 16
SAMPLE_LINES = 20


class FileRejectedError(Exception):
    """The file as a whole cannot be scored; it belongs in quarantine."""

    def __init__(self, problem: FileProblem):
        super().__init__(problem.problem)
        self.problem = problem


@dataclass(frozen=True)
class Dialect:
    """How to read one file."""

    separator: str
    columns: list[str]
    """The header's column names, normalised (trimmed, lower-case)."""
    gzip: bool = False

    @property
    def decimal_comma(self) -> bool:
        """A comma in a number is a decimal mark unless it separates fields."""
        return self.separator != ","

    def describe(self) -> str:
        """For logs: 'separated by ';', decimal comma, gzip'."""
        parts = [f"separated by {SEPARATOR_NAMES[self.separator]}"]
        parts += ["decimal comma"] * self.decimal_comma + ["gzip"] * self.gzip
        return ", ".join(parts)


def is_gzip(path: Path) -> bool:
    """True for a ``.gz`` file name, whatever its case."""
    return path.name.lower().endswith(".gz")


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed if it is a ``.gz`` file."""
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


def detect_dialect(path: Path) -> Dialect:
    """The separator whose header holds the contract's columns.

    Raises:
        FileRejectedError: Not UTF-8 text, no header, no separator that gives the required
            columns, or a column that appears twice.
    """
    lines = _sample_lines(path)
    if not lines or not lines[0].strip():
        raise FileRejectedError(header_problem("empty file: no header line"))
    headers = {sep: _fields(lines[0], sep) for sep in SEPARATORS}
    complete = [sep for sep in SEPARATORS if not missing_columns(headers[sep])]
    if not complete:
        raise FileRejectedError(_unrecognised_header(headers))
    separator = max(complete, key=lambda sep: _consistent_lines(lines, sep, len(headers[sep])))
    columns = headers[separator]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise FileRejectedError(
            header_problem(f"columns appear twice: {', '.join(duplicated)}", found=columns)
        )
    return Dialect(separator, columns, gzip=is_gzip(path))


def header_problem(problem: str, detail: str = "", found: list[str] | None = None) -> FileProblem:
    """A problem of the whole file, with the contract's columns and the header's."""
    return FileProblem(problem, detail, expected_columns=FEATURE_NAMES, found_columns=found or [])


def _sample_lines(path: Path) -> list[str]:
    """The first lines of the file as text; a character cut at the sample's end is dropped."""
    try:
        with open_binary(path) as stream:
            sample = stream.read(SAMPLE_BYTES)
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(sample, final=False)
    except UnicodeDecodeError as error:
        raise FileRejectedError(
            header_problem("not UTF-8 text", f"undecodable byte at offset {error.start}")
        ) from error
    except (OSError, EOFError) as error:  # e.g. a .gz file that is not gzip data
        raise FileRejectedError(header_problem("unreadable file", str(error))) from error
    return text.splitlines()[:SAMPLE_LINES]


def _fields(line: str, separator: str) -> list[str]:
    return [normalize_header(name) for name in next(csv.reader([line], delimiter=separator), [])]


def _consistent_lines(lines: list[str], separator: str, width: int) -> int:
    """How many of the first data lines have as many fields as the header."""
    return sum(len(row) == width for row in csv.reader(lines[1:], delimiter=separator))


def _unrecognised_header(headers: dict[str, list[str]]) -> FileProblem:
    """The required columns no separator gives, and what the header looked like."""
    widest = max(SEPARATORS, key=lambda sep: len(headers[sep]))
    found = headers[widest]
    absent = missing_columns(found)
    problem = f"required columns missing: {', '.join(absent)}"
    if len(found) == 1:
        shown = found[0] if len(found[0]) <= 60 else found[0][:57] + "..."
        detail = f"the header is one column '{shown}'{_separator_guess(found[0])}"
    else:
        detail = (
            f"the header read with separator {SEPARATOR_NAMES[widest]} has {len(found)} columns"
        )
    return header_problem(problem, detail, found=found)


def _separator_guess(header: str) -> str:
    """A question about the most frequent punctuation of a one-column header, if any."""
    marks = [char for char in header if not (char.isalnum() or char in "_ ")]
    if not marks:
        return ""
    guess = max(set(marks), key=marks.count)
    return f": is the file separated by '{guess}'? Only ',', ';', tab and '|' are read"
