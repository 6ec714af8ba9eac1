"""How an export is written: its compression, encoding, separator, decimal mark and header.

Hospital systems and spreadsheets write CSV in several dialects: ``,`` or, in much of Europe, ``;``
with decimal commas (``2,3``), tab-separated ``.tsv``, ``|``, gzip-compressed files, UTF-8 with or
without a BOM, "Unicode text" (UTF-16) and Windows' cp1252 from older spreadsheets, and Excel's
``sep=;`` first line. The encoding is told from a BOM or the first bytes, the separator from the
header, which must hold the contract's columns, and checked against the first lines. Readers get
the text as UTF-8 whatever the file's encoding. Standard library only.
"""

import codecs
import csv
import gzip
import io
import re
from dataclasses import dataclass
from difflib import get_close_matches
from typing import BinaryIO

from heart_batch.contract.features import FEATURE_NAMES, missing_columns, normalize_header
from heart_batch.scoring.export import Export, HashingReader, LimitedReader
from heart_batch.scoring.inbox import FileProblem

SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
SAMPLE_BYTES = 1 << 16
SAMPLE_LINES = 20
UTF8 = "utf-8"
ENCODING_NAMES = {
    UTF8: "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "cp1252": "cp1252 (Windows Western)",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SEPARATOR_HINT = re.compile(r'^\s*"?sep=(.)"?\s*$', re.IGNORECASE)
"""Excel's first line naming the separator: ``sep=;``."""
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c\x1a")


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
    encoding: str = UTF8
    """The file's text encoding (the readers get it as UTF-8)."""
    separator_line: bool = False
    """Excel's ``sep=`` line comes before the header."""

    @property
    def decimal_comma(self) -> bool:
        """A comma in a number is a decimal mark unless it separates fields."""
        return self.separator != ","

    @property
    def header_line(self) -> int:
        """The header's line in the file (1, or 2 after a ``sep=`` line)."""
        return 2 if self.separator_line else 1

    def describe(self) -> str:
        """For logs: 'separated by ';', decimal comma, gzip'."""
        name = SEPARATOR_NAMES.get(self.separator, f"'{self.separator}'")
        parts = [f"separated by {name}"]
        parts += ["decimal comma"] * self.decimal_comma + ["gzip"] * self.gzip
        parts += [f"{ENCODING_NAMES[self.encoding]} text"] * (self.encoding != UTF8)
        parts += ["Excel's sep= line"] * self.separator_line
        return ", ".join(parts)


def is_gzip(name: str) -> bool:
    """True for a ``.gz`` file name, whatever its case."""
    return name.lower().endswith(".gz")


@dataclass
class TextStream:
    """An export's text as UTF-8 bytes, and the reader of its raw bytes (hashing them)."""

    raw: HashingReader
    stream: BinaryIO


def open_text(export: Export, encoding: str, max_decompressed: int) -> TextStream:
    """The export's text as UTF-8: decompressed (at most ``max_decompressed`` bytes) when it is a
    ``.gz`` file, decoded from ``encoding``."""
    raw = export.raw()
    stream: BinaryIO = raw  # type: ignore[assignment]  # a file-like reader, not an io class
    if is_gzip(export.path.name):
        stream = LimitedReader(  # type: ignore[assignment]
            gzip.GzipFile(fileobj=raw, mode="rb"), max_decompressed
        )
    if encoding != UTF8:
        stream = Utf8Transcoder(stream, encoding)  # type: ignore[assignment]
    return TextStream(raw, stream)


class Utf8Transcoder(io.RawIOBase):
    """Another encoding's text as UTF-8 bytes; a byte the encoding lacks becomes U+FFFD."""

    def __init__(self, stream: BinaryIO, encoding: str):
        super().__init__()
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            data = self.stream.read(len(buffer))
            self.pending = self.decoder.decode(data, final=not data).encode(UTF8)
            if not data:
                break
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


def detect_dialect(export: Export, max_decompressed: int = 1 << 31) -> Dialect:
    """The encoding, and the separator whose header holds the contract's columns.

    Raises:
        FileRejectedError: Not text, no header, no separator that gives the required columns,
            or a column that appears twice.
    """
    sample = _sample(export, max_decompressed)
    encoding = detect_encoding(sample)
    lines = _decode_sample(sample, encoding).splitlines()[:SAMPLE_LINES]
    hint = _SEPARATOR_HINT.match(lines[0]) if lines else None
    if hint:
        lines = lines[1:]
    if not lines or not lines[0].strip():
        raise FileRejectedError(header_problem("empty file: no header line"))
    separators = (hint.group(1),) if hint else SEPARATORS
    headers = {sep: _fields(lines[0], sep) for sep in separators}
    complete = [sep for sep in separators if not missing_columns(headers[sep])]
    if not complete:
        raise FileRejectedError(_unrecognised_header(headers))
    separator = max(complete, key=lambda sep: _consistent_lines(lines, sep, len(headers[sep])))
    columns = headers[separator]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise FileRejectedError(
            header_problem(f"columns appear twice: {', '.join(duplicated)}", found=columns)
        )
    return Dialect(
        separator,
        columns,
        gzip=is_gzip(export.path.name),
        encoding=UTF8 if encoding == "utf-8-sig" else encoding,
        separator_line=bool(hint),
    )


def detect_encoding(sample: bytes) -> str:
    """The codec of a file's first bytes: a BOM's, UTF-16 by its zero bytes, UTF-8 (even with a
    stray byte, when other characters are UTF-8), else cp1252.

    Raises:
        FileRejectedError: Binary data (zero bytes or control characters), not text.
    """
    for bom, codec in _BOMS:
        if sample.startswith(bom):
            return codec
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    controls = sum(byte < 32 and byte not in _TEXT_CONTROLS for byte in sample[:4096])
    if 0 in sample or controls * 20 > min(len(sample), 4096):
        raise FileRejectedError(
            header_problem(
                "not a text file: binary data (an image, a spreadsheet or an archive?)",
                "export it as CSV text (UTF-8, UTF-16 or cp1252)",
            )
        )
    try:
        codecs.getincrementaldecoder(UTF8)().decode(sample, final=False)
    except UnicodeDecodeError:
        # UTF-8 with a stray byte (its bad lines are rejected one by one), or cp1252 throughout.
        text = codecs.getincrementaldecoder(UTF8)(errors="replace").decode(sample, final=False)
        return UTF8 if any(char > "\x7f" and char != "\ufffd" for char in text) else "cp1252"
    return UTF8


def _utf16_without_bom(sample: bytes) -> str:
    """UTF-16's byte order when the sample is mostly ASCII in UTF-16 (every other byte zero)."""
    even, odd = sample[0::2], sample[1::2]
    if len(odd) < 2:
        return ""
    for zeros, letters, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros.count(0) >= 0.9 * len(zeros) and letters.count(0) <= 0.1 * len(letters):
            return codec
    return ""


def header_problem(problem: str, detail: str = "", found: list[str] | None = None) -> FileProblem:
    """A problem of the whole file, with the contract's columns and the header's."""
    return FileProblem(problem, detail, expected_columns=FEATURE_NAMES, found_columns=found or [])


def _sample(export: Export, max_decompressed: int) -> bytes:
    """The first bytes of the file, decompressed."""
    stream = open_text(export, UTF8, max_decompressed).stream
    try:
        return stream.read(SAMPLE_BYTES)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # CorruptCompressionError, DecompressedTooLargeError or an OSError of the file: it is
        # the file's problem, said in words.
        raise FileRejectedError(header_problem(f"unreadable file: {error}")) from error


def _decode_sample(sample: bytes, encoding: str) -> str:
    """The sample as text; a character cut at the sample's end is dropped."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(sample, final=False)


def _fields(line: str, separator: str) -> list[str]:
    return [normalize_header(name) for name in next(csv.reader([line], delimiter=separator), [])]


def _consistent_lines(lines: list[str], separator: str, width: int) -> int:
    """How many of the first data lines have as many fields as the header."""
    return sum(len(row) == width for row in csv.reader(lines[1:], delimiter=separator))


def _unrecognised_header(headers: dict[str, list[str]]) -> FileProblem:
    """The required columns no separator gives, and what the header looked like (never its
    values: a first line of numbers is data, not a header)."""
    widest = max(headers, key=lambda sep: len(headers[sep]))
    found = headers[widest]
    absent = missing_columns(found)
    problem = f"required columns missing: {', '.join(absent)}"
    if _looks_like_data(found):
        detail = (
            "the first line holds numbers, not column names: the file has no header line "
            f"(expected a first line naming the columns: {', '.join(FEATURE_NAMES)})"
        )
        return header_problem(problem, detail)
    if len(found) == 1:
        shown = found[0] if len(found[0]) <= 60 else found[0][:57] + "..."
        detail = f"the header is one column '{shown}'{_separator_guess(found[0])}"
    else:
        name = SEPARATOR_NAMES.get(widest, f"'{widest}'")
        detail = f"the header read with separator {name} has {len(found)} columns"
        problem += _near_misses(found)
    return header_problem(problem, detail, found=found)


def _looks_like_data(fields: list[str]) -> bool:
    """Most fields are numbers: a data row where the header should be."""
    numbers = sum(bool(re.fullmatch(r"-?\d+([.,]\d+)?", field.strip())) for field in fields)
    return numbers * 2 > len(fields)


def _near_misses(found: list[str]) -> str:
    """'Did you mean' for a missing column spelled nearly as a found one."""
    guesses = []
    for name in missing_columns(found):
        close = get_close_matches(name, [f for f in found if f not in FEATURE_NAMES], 1, 0.8)
        if close:
            guesses.append(f"'{close[0]}': did you mean '{name}'?")
    if not guesses:
        return ""
    return (
        f"; the file has {'; '.join(guesses)} Names are never mapped silently: UCI's original "
        "data uses other names and other codes than this contract (see the feature contract)"
    )


def _separator_guess(header: str) -> str:
    """A question about the most frequent punctuation of a one-column header, if any."""
    marks = [char for char in header if not (char.isalnum() or char in "_ ")]
    if not marks:
        return ""
    guess = max(set(marks), key=marks.count)
    return f": is the file separated by '{guess}'? Only ',', ';', tab and '|' are read"
