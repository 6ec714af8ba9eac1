"""Read an export as batches of text columns, each row with its data-row number.

Two readers, the same batches. The fast one (pyarrow, streamed) reads clean files at disk speed;
it stops at the first line whose number of fields differs from the header's. The tolerant one
(Python's csv module, a few times slower) then reads the file again and turns each such line into
a ``BrokenLine``, with its physical line number, so that the rest of the file is still scored.
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from heart_batch.dialect import Dialect, FileRejectedError, header_problem, open_binary

RAW_TEXT_LIMIT = 500
"""Characters of a broken line kept in the rejections."""
TOLERANT_BATCH_ROWS = 16_384


class FastReadError(Exception):
    """The fast reader met a line it cannot read; the tolerant reader takes over."""


@dataclass(frozen=True)
class BrokenLine:
    """A line with the wrong number of fields (or a quote never closed)."""

    source_row: int
    line: int
    """Physical line in the file; the header is line 1."""
    fields: int
    expected: int
    raw_text: str
    unclosed_quote: bool = False
    """A quote opened on ``line`` is never closed."""

    @property
    def reason(self) -> str:
        """What is wrong, without the line's values."""
        plural = "" if self.fields == 1 else "s"
        counts = f"{self.fields} field{plural}, expected {self.expected}"
        if self.unclosed_quote:
            return f"line {self.line}: a quote opened on this line is never closed ({counts})"
        return f"line {self.line}: {counts}"


@dataclass(frozen=True)
class RawBatch:
    """Rows as text columns named by the header, their data-row numbers, and broken lines."""

    table: pa.RecordBatch
    source_rows: np.ndarray
    broken: list[BrokenLine] = field(default_factory=list)


def fast_batches(source, dialect: Dialect, batch_bytes: int) -> Iterator[RawBatch]:
    """Stream the file with pyarrow.

    Raises:
        FastReadError: A line has the wrong number of fields, a quote is never closed, or the text
            is not UTF-8 (the tolerant reader says which line).
    """
    try:
        reader = pa_csv.open_csv(
            pa.input_stream(str(source), compression="detect"),
            read_options=pa_csv.ReadOptions(
                column_names=dialect.columns, skip_rows=1, block_size=batch_bytes, encoding="utf8"
            ),
            parse_options=pa_csv.ParseOptions(delimiter=dialect.separator),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in dialect.columns},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
        first_row = 1
        for batch in reader:
            rows = np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)
            first_row += batch.num_rows
            yield RawBatch(batch, rows)
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise FastReadError(str(error)) from error


def tolerant_batches(source, dialect: Dialect, batch_rows: int = TOLERANT_BATCH_ROWS):
    """Read the file record by record; a record with the wrong number of fields is a BrokenLine.

    Blank lines are skipped, as the fast reader does, so data-row numbers agree between the two.

    Raises:
        FileRejectedError: A line is not UTF-8 text (its number is said).
    """
    width = len(dialect.columns)
    batch = _TolerantBatch(dialect.columns)
    with open_binary(source) as stream:
        lines = _RecordedLines(stream)
        reader = csv.reader(lines, delimiter=dialect.separator)
        line = 1
        try:
            next(reader, None)
            line = lines.number + 1
            for record in reader:
                raw_text, start, line = lines.take(), line, lines.number + 1
                if record:
                    batch.add(record, start, width, raw_text)
                if batch.size >= batch_rows:
                    yield batch.take()
        except csv.Error:  # a quote opened and never closed, up to the field size limit
            batch.add_unterminated(line, width)
    yield batch.take()


class _RecordedLines:
    """A binary stream's lines as UTF-8 text, numbered; keeps those read since the last take."""

    def __init__(self, stream):
        self.stream = stream
        self.number = 0
        self.since_take: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        data = next(self.stream)
        self.number += 1
        try:
            text = data.decode("utf-8-sig" if self.number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise FileRejectedError(
                header_problem("not UTF-8 text", f"undecodable byte on line {self.number}")
            ) from error
        self.since_take.append(text)
        return text

    def take(self) -> str:
        """The raw text of the record just read, without its line ending."""
        text = "".join(self.since_take).rstrip("\r\n")
        self.since_take = []
        return text


class _TolerantBatch:
    """Rows and broken lines collected until a batch is full."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.data_row = 0
        self.rows: list[list[str]] = []
        self.source_rows: list[int] = []
        self.broken: list[BrokenLine] = []

    @property
    def size(self) -> int:
        """Records collected so far."""
        return len(self.rows) + len(self.broken)

    def add(self, record: list[str], line: int, width: int, raw_text: str) -> None:
        """One record: a row when its width is the header's, otherwise a broken line.

        An odd number of quotes means a quote never closed (it swallowed the rest of the file).
        """
        self.data_row += 1
        if len(record) == width:
            self.rows.append(record)
            self.source_rows.append(self.data_row)
            return
        unclosed = raw_text.count('"') % 2 == 1
        self.broken.append(
            BrokenLine(self.data_row, line, len(record), width, raw_text[:RAW_TEXT_LIMIT], unclosed)
        )

    def add_unterminated(self, line: int, width: int) -> None:
        """The rest of the file from ``line`` is one quoted field that never ends."""
        self.data_row += 1
        self.broken.append(BrokenLine(self.data_row, line, 1, width, "", unclosed_quote=True))

    def take(self) -> RawBatch:
        """The collected records as a batch; start a new one."""
        values = list(zip(*self.rows)) if self.rows else [()] * len(self.columns)
        table = pa.RecordBatch.from_arrays(
            [pa.array([value or None for value in column], pa.string()) for column in values],
            names=self.columns,
        )
        batch = RawBatch(table, np.array(self.source_rows, dtype=np.int64), self.broken)
        self.rows, self.source_rows, self.broken = [], [], []
        return batch
