"""Read an export as batches of text columns, each row with its data-row number.

Two readers, the same batches. The fast one (pyarrow, streamed) reads clean files at disk speed;
it stops at the first line it cannot read (more or fewer fields than the header, a quote never
closed, a line longer than a batch, text that is not UTF-8). The tolerant one (Python's csv module,
a few times slower) then reads the file again and turns each such line into a ``BrokenLine`` with
its physical line number, so that the rest of the file is still scored. It takes CR, LF and CRLF
line endings, gives up on no line: one longer than ``max_line_bytes`` or not decodable is a broken
line, and a quote never closed costs its own line only.

A row that repeats the header (two exports joined by ``cat``) is a header, never a patient
(``HeaderFollower``).
"""

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from heart_batch.contract.features import missing_columns, normalize_header
from heart_batch.scoring.dialect import UTF8, Dialect
from heart_batch.scoring.export import CHUNK_BYTES

RAW_TEXT_LIMIT = 500
"""Characters of a broken line kept in the rejections."""
TOLERANT_BATCH_ROWS = 16_384
_BOM = "\ufeff"


class FastReadError(Exception):
    """The fast reader met a line it cannot read; the tolerant reader takes over."""


class OtherHeaderError(Exception):
    """A row repeats the header with other columns: the rows after it cannot be read by the
    first header."""

    def __init__(self, where: str, columns: list[str]):
        super().__init__(f"{where} repeats the header with other columns")
        self.where = where
        self.columns = columns


@dataclass(frozen=True)
class BrokenLine:
    """A line that is not a row of the header's width, with why."""

    source_row: int
    line: int
    """Physical line in the file; the header is line 1."""
    problem: str
    raw_text: str

    @property
    def reason(self) -> str:
        """What is wrong, without the line's values."""
        return f"line {self.line}: {self.problem}"


def field_counts(fields: int, expected: int) -> str:
    """'3 fields, expected 14'."""
    return f"{fields} field{'' if fields == 1 else 's'}, expected {expected}"


@dataclass(frozen=True)
class RawBatch:
    """Rows as text columns named by the header, their data-row numbers, and broken lines."""

    table: pa.RecordBatch
    source_rows: np.ndarray
    broken: list[BrokenLine] = field(default_factory=list)
    lines: np.ndarray | None = None
    """Each row's physical line (the tolerant reader's; None from the fast one)."""
    headers: list[str] = field(default_factory=list)
    """Where repeated headers were skipped ("line 152", or "data row 151")."""
    notes: list[str] = field(default_factory=list)
    """What a person should know about how the file was read."""


def fast_batches(stream: BinaryIO, dialect: Dialect, batch_bytes: int) -> Iterator[RawBatch]:
    """Stream UTF-8 text with pyarrow.

    Raises:
        FastReadError: A line has the wrong number of fields, a value spans lines (or a quote is
            never closed), a line is longer than a batch, or the text is not UTF-8 (the tolerant
            reader says which line).
    """
    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(
                column_names=dialect.columns,
                skip_rows=dialect.header_line,
                block_size=batch_bytes,
                encoding="utf8",
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
            if _has_line_breaks(batch):
                raise FastReadError("a value spans lines")
            rows = np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)
            first_row += batch.num_rows
            yield RawBatch(batch, rows)
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise FastReadError(str(error)) from error


def _has_line_breaks(batch: pa.RecordBatch) -> bool:
    """Whether any value holds a line break. pyarrow reads a quote never closed in the last
    column as one value up to the end of the file, silently: such a batch goes to the tolerant
    reader, which tells a value over several lines from a quote never closed."""
    for column in batch.columns:
        data = column.buffers()[2]
        if data is not None and (b"\n" in (raw := bytes(data)) or b"\r" in raw):
            return True
    return False


def tolerant_batches(
    stream: BinaryIO,
    dialect: Dialect,
    max_line_bytes: int,
    batch_rows: int = TOLERANT_BATCH_ROWS,
) -> Iterator[RawBatch]:
    """Read UTF-8 text record by record; a record that is not a row of the header's width is a
    ``BrokenLine``, and reading goes on at the next line.

    Blank lines are skipped, as the fast reader does, so data-row numbers agree between the two.

    Raises:
        OtherHeaderError: A line repeats the header with another number of columns.
    """
    csv.field_size_limit(max(csv.field_size_limit(), max_line_bytes))
    lines = _Lines(stream, max_line_bytes)
    for _ in range(dialect.header_line - 1):  # Excel's sep= line
        next(lines, None)
    next(csv.reader(lines, delimiter=dialect.separator), None)  # the header
    lines.take()
    batch = _TolerantBatch(dialect.columns, max_line_bytes)
    while True:
        try:
            for record in csv.reader(lines, delimiter=dialect.separator):
                batch.add(record, lines)
                if batch.size >= batch_rows:
                    yield batch.take()
            break
        except csv.Error:  # a quoted field longer than the limit: a quote never closed?
            batch.add_overflow(lines)
    batch.notes += lines.notes
    yield batch.take()


class _Lines:
    """A UTF-8 stream's physical lines as text, numbered, split at CRLF, CR or LF.

    A line longer than ``max_bytes`` (never held whole) or not decodable is handed out as a blank
    line and its problem noted in ``unreadable``. Lines can be pushed back, to be read again
    after a broken record. A UTF-8 file that turns out to be cp1252 (a byte that is not UTF-8
    after ASCII lines only) is read as cp1252 from there on.
    """

    def __init__(self, stream: BinaryIO, max_bytes: int):
        self.physical = physical_lines(stream, max_bytes)
        self.max_bytes = max_bytes
        self.count = 0
        self.pushed: deque[tuple[int, str]] = deque()
        self.recorded: list[tuple[int, str]] = []
        self.unreadable: dict[int, str] = {}
        self.encoding = UTF8
        self.ascii_only = True
        self.notes: list[str] = []

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.pushed:
            number, text = self.pushed.popleft()
        else:
            data = next(self.physical)
            self.count += 1
            number, text = self.count, self._decode(self.count, data)
        self.recorded.append((number, text))
        return text

    def take(self) -> list[tuple[int, str]]:
        """The lines handed out since the last take: (number, text)."""
        recorded, self.recorded = self.recorded, []
        return recorded

    def push_back(self, recorded: list[tuple[int, str]]) -> None:
        """Hand these lines out again, before any new one."""
        self.pushed.extendleft(reversed(recorded))

    def _decode(self, number: int, data: bytes | None) -> str:
        if data is None:
            limit = _size_text(self.max_bytes)
            self.unreadable[number] = f"longer than {limit} (HEART_MAX_LINE_BYTES): not read"
            return "\n"
        if number == 1 and data.startswith(_BOM.encode()):
            data = data[len(_BOM.encode()) :]
        try:
            text = data.decode(self.encoding)
        except UnicodeDecodeError as error:
            if not self.ascii_only:
                self.unreadable[number] = (
                    f"not UTF-8 text (an undecodable byte at position {error.start + 1})"
                )
                return "\n"
            self.encoding = "cp1252"
            self.notes.append(f"read as cp1252 text from line {number} on (it is not UTF-8)")
            text = data.decode(self.encoding, errors="replace")
        if self.ascii_only and not data.isascii():
            self.ascii_only = False
        return text


def physical_lines(stream: BinaryIO, max_bytes: int) -> Iterator[bytes | None]:
    """The stream's lines with their endings (CRLF, CR or LF); None for a line longer than
    ``max_bytes``, whose bytes are skipped rather than kept."""
    line = _LineBuffer(max_bytes)
    while chunk := stream.read(CHUNK_BYTES):
        parts = chunk.splitlines(keepends=True)
        if line.ends_with_cr:  # a CR at the end of the last chunk: CRLF split in two?
            if parts[0] == b"\n":
                line.add(parts.pop(0))
            yield line.take()
        last = len(parts) - 1
        for index, part in enumerate(parts):
            ended = part.endswith(b"\n") or (index < last and part.endswith(b"\r"))
            if ended and not line.pending and len(part) <= max_bytes:
                yield part  # the common case: a whole line inside the chunk
                continue
            line.add(part)
            if ended:
                yield line.take()
    if line.pending:
        yield line.take()


class _LineBuffer:
    """The pieces of the line being read, kept up to ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.pieces: list[bytes] = []
        self.size = 0
        self.pending = False
        self.ends_with_cr = False

    def add(self, piece: bytes) -> None:
        """The next piece of the line (one ending with CR may still get its LF)."""
        self.size += len(piece)
        if self.size <= self.max_bytes:
            self.pieces.append(piece)
        else:
            self.pieces = []
        self.pending = True
        self.ends_with_cr = piece.endswith(b"\r")

    def take(self) -> bytes | None:
        """The line read (None when too long); start the next one."""
        line = b"".join(self.pieces) if self.size <= self.max_bytes else None
        self.pieces, self.size, self.pending, self.ends_with_cr = [], 0, False, False
        return line


def _size_text(size: int) -> str:
    """'64 MiB', '500 KiB', '100 bytes'."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} bytes"


def is_header(fields: list[str]) -> bool:
    """A record that names the contract's columns (normalised), each once: a header."""
    names = [normalize_header(value) for value in fields]
    return not missing_columns(names) and len(set(names)) == len(names)


class _TolerantBatch:
    """Rows and broken lines collected until a batch is full."""

    def __init__(self, columns: list[str], max_line_bytes: int):
        self.columns = columns
        self.width = len(columns)
        self.max_line_bytes = max_line_bytes
        self.data_row = 0
        self.rows: list[list[str]] = []
        self.source_rows: list[int] = []
        self.lines: list[int] = []
        self.broken: list[BrokenLine] = []
        self.notes: list[str] = []

    @property
    def size(self) -> int:
        """Records collected so far."""
        return len(self.rows) + len(self.broken)

    def add(self, record: list[str], lines: _Lines) -> None:
        """One record: a row when it is one of the header's width, else a broken line.

        A record over several lines that is not a row (its quote never closes, or it has the wrong
        width) breaks its first line only: the lines after it are read again.
        """
        recorded = lines.take()
        first = recorded[0][0]
        if len(recorded) == 1 and len(record) == self.width and not lines.unreadable:
            self._keep(record, first)  # the common case: one line, one row
            return
        unreadable = [number for number, _ in recorded if number in lines.unreadable]
        if not record:  # a blank line, or one handed out blank because it cannot be read
            for number in unreadable:
                self._break(number, lines.unreadable.pop(number), "")
            return
        quotes = sum(text.count('"') for _, text in recorded)
        if len(recorded) > 1 and (len(record) != self.width or quotes % 2 or unreadable):
            problem = "a quote opened on this line is never closed"
            if not quotes % 2:
                problem = (
                    f"a quoted value from this line has {field_counts(len(record), self.width)}"
                )
            self._break(first, problem, recorded[0][1])
            lines.push_back(recorded[1:])
            return
        if len(record) != self.width:
            if is_header(record):
                raise OtherHeaderError(f"line {first}", [normalize_header(v) for v in record])
            counts = field_counts(len(record), self.width)
            problem = (
                f"a quote opened on this line is never closed ({counts})" if quotes % 2 else counts
            )
            self._break(first, problem, recorded[0][1])
            return
        self._keep(record, first)

    def _keep(self, record: list[str], line: int) -> None:
        self.data_row += 1
        self.rows.append(record)
        self.source_rows.append(self.data_row)
        self.lines.append(line)

    def add_overflow(self, lines: _Lines) -> None:
        """A quoted value that ran past the line limit: its first line breaks, the rest is read
        again."""
        recorded = lines.take()
        limit = _size_text(self.max_line_bytes)
        problem = (
            f"a quoted value from this line runs past {limit} (HEART_MAX_LINE_BYTES): a quote "
            "never closed?"
        )
        self._break(recorded[0][0], problem, recorded[0][1])
        lines.push_back(recorded[1:])

    def _break(self, line: int, problem: str, raw_text: str) -> None:
        self.data_row += 1
        text = raw_text[: RAW_TEXT_LIMIT + 2].rstrip("\r\n")[:RAW_TEXT_LIMIT]
        self.broken.append(BrokenLine(self.data_row, line, problem, text))

    def take(self) -> RawBatch:
        """The collected records as a batch; start a new one."""
        values = list(zip(*self.rows)) if self.rows else [()] * len(self.columns)
        table = pa.RecordBatch.from_arrays(
            [pa.array([value or None for value in column], pa.string()) for column in values],
            names=self.columns,
        )
        batch = RawBatch(
            table,
            np.array(self.source_rows, dtype=np.int64),
            self.broken,
            lines=np.array(self.lines, dtype=np.int64),
            notes=self.notes,
        )
        self.rows, self.source_rows, self.lines, self.broken, self.notes = [], [], [], [], []
        return batch


class HeaderFollower:
    """Rows that repeat the header are headers, never patients.

    Two exports joined by ``cat`` repeat the header mid-file. One in the header's column order is
    skipped and counted. One with the same columns in another order switches the rows after it
    to their own header: each value goes to the column its header names. One with other columns
    raises ``OtherHeaderError`` (the file is quarantined, naming the line). Batches come out with
    the first header's columns, in order.
    """

    def __init__(self, columns: list[str]):
        self.first = list(columns)
        self.order = list(columns)
        """The header in force: the physical order of the columns of the rows read now."""
        self.names = pa.array(sorted(set(columns)), pa.string())

    def follow(self, batches: Iterator[RawBatch]) -> Iterator[RawBatch]:
        """The batches, headers removed and columns in the first header's order."""
        for batch in batches:
            yield self._follow(batch)

    def _follow(self, batch: RawBatch) -> RawBatch:
        headers = self._header_rows(batch.table)
        if not headers and self.order == self.first:
            return batch
        segments, start, skipped = [], 0, []
        for index, names in headers:
            where = _position(batch, index)
            if sorted(names) != sorted(self.first):
                raise OtherHeaderError(where, names)
            segments.append(self._in_first_order(batch.table, start, index))
            start = index + 1
            skipped.append(where)
            if names != self.order:
                batch.notes.append(
                    f"{where} repeats the header in another column order; the rows after it are "
                    "read by their own header"
                )
                self.order = names
        segments.append(self._in_first_order(batch.table, start, batch.table.num_rows))
        rows = [index for index, _ in headers]
        return RawBatch(
            _concatenate(segments, batch.table.schema),
            np.delete(batch.source_rows, rows),
            batch.broken,
            None if batch.lines is None else np.delete(batch.lines, rows),
            headers=batch.headers + skipped,
            notes=batch.notes,
        )

    def _header_rows(self, table: pa.RecordBatch) -> list[tuple[int, list[str]]]:
        """The rows that are headers, and the column names each gives (normalised)."""
        # pyarrow.compute's functions are generated at import, unseen by pylint.
        # pylint: disable=no-member
        first = pc.utf8_lower(pc.utf8_trim_whitespace(table.column(0)))
        maybe = pc.fill_null(pc.is_in(first, value_set=self.names), False)
        headers = []
        for index in np.flatnonzero(maybe.to_numpy(zero_copy_only=False)):
            fields = [column[index].as_py() or "" for column in table.columns]
            if is_header(fields):
                headers.append((int(index), [normalize_header(value) for value in fields]))
        return headers

    def _in_first_order(self, table: pa.RecordBatch, start: int, stop: int) -> list[pa.Array]:
        """Rows ``start`` to ``stop`` as columns in the first header's order."""
        return [
            table.column(self.order.index(name)).slice(start, stop - start) for name in self.first
        ]


def _concatenate(segments: list[list[pa.Array]], schema: pa.Schema) -> pa.RecordBatch:
    columns = [pa.concat_arrays([segment[i] for segment in segments]) for i in range(len(schema))]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _position(batch: RawBatch, index: int) -> str:
    """A row's place in the file: its line when known, else its data row."""
    if batch.lines is not None:
        return f"line {batch.lines[index]}"
    return f"data row {batch.source_rows[index]}"
