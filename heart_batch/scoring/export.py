"""One export as dropped: opened once, read as one immutable version, archived byte for byte.

A file in the input folder may still grow (a copy past the settle time), be replaced (a corrected
export saved over it) or be a link to somewhere else. So an export is opened once, without
following links, and every read goes through that descriptor: its SHA-256 claims it in the ledger,
the readers read it, and before outputs are kept, the bytes read are checked to be exactly the
version that was hashed (same inode, size, modification time and hash). What moves to
``processed/`` is that inode, or a copy of its bytes when the path now holds another file.

Standard library only, so an hourly run that finds nothing new stays light.
"""

import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)  # a link is refused, never followed
    | getattr(os, "O_NONBLOCK", 0)  # a named pipe is refused, never waited on
    | getattr(os, "O_CLOEXEC", 0)
)


class NotAFileError(OSError):
    """The path is not a regular file (a link, a folder, a pipe): it is never read."""


class InputReadError(OSError):
    """The input file could not be read (an I/O error of its disk, for example)."""


class ExportChangedError(Exception):
    """The file changed while it was read: what was read is not one version of it."""


class DecompressedTooLargeError(Exception):
    """A compressed export unpacks to more than the limit (HEART_MAX_DECOMPRESSED_BYTES)."""

    def __init__(self, limit: int):
        super().__init__(f"unpacks to more than {limit:,} bytes")
        self.limit = limit


class CorruptCompressionError(Exception):
    """The compressed data is cut off or is not gzip data."""


@dataclass(frozen=True)
class FileVersion:
    """What identifies one version of a file: its inode, size and modification time. (Not its
    change time: renaming or unlinking the path changes that, not the content.)"""

    device: int
    inode: int
    size: int
    modified_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> "FileVersion":
        """The version a ``stat`` result describes."""
        return cls(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)

    def is_same_file(self, status: os.stat_result) -> bool:
        """True when ``status`` is of the same inode (whatever its content now)."""
        return (status.st_dev, status.st_ino) == (self.device, self.inode)

    def change_since(self, now: "FileVersion") -> str:
        """How the file changed since this version, in words ("" when it did not)."""
        if now.size != self.size:
            return size_change(self.size, now.size)
        return "was rewritten in place" if now != self else ""


def size_change(before: int, after: int) -> str:
    """A change of size in words: "grew from 10 to 20 bytes"."""
    verb = "grew" if after > before else "was cut"
    return f"{verb} from {before:,} to {after:,} bytes"


def describe_not_a_file(mode: int) -> str:
    """What a non-regular file is, in words."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class HashingReader(io.RawIOBase):
    """Reads a file descriptor from offset 0 (its own offset: ``pread``), hashing every byte."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd
        self.offset = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            count = os.preadv(self.fd, [buffer], self.offset)
        except OSError as error:
            raise InputReadError(error.errno, error.strerror, str(error.filename or "")) from error
        if count:
            self.digest.update(memoryview(buffer)[:count])
            self.offset += count
        return count

    def drain(self) -> None:
        """Read (and hash) what the reader above did not read, up to the end of the file."""
        while self.read(CHUNK_BYTES):
            pass


class LimitedReader(io.RawIOBase):
    """A decompressed stream that refuses to unpack more than ``limit`` bytes, and names
    corrupt or cut-off compressed data as such."""

    def __init__(self, stream, limit: int):
        super().__init__()
        self.stream = stream
        self.limit = limit
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            count = self.stream.readinto(buffer)
        except EOFError as error:
            raise CorruptCompressionError(
                "the gzip data is cut off before its end (was the transfer interrupted?)"
            ) from error
        except (gzip.BadGzipFile, zlib.error) as error:
            raise CorruptCompressionError(f"not valid gzip data ({error})") from error
        self.total += count
        if self.total > self.limit:
            raise DecompressedTooLargeError(self.limit)
        return count


class Export:
    """An input file opened once (never through a link); every read reads this version.

    Raises (on construction):
        NotAFileError: The path is a link, a folder or another non-regular file.
        OSError: It cannot be opened (for example ``PermissionError``, ``FileNotFoundError``).
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            self.fd = os.open(path, _OPEN_FLAGS)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise NotAFileError(errno.ELOOP, "a symbolic link", str(path)) from error
            raise
        status = os.fstat(self.fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(self.fd)
            raise NotAFileError(errno.EINVAL, describe_not_a_file(status.st_mode), str(path))
        self.version = FileVersion.of(status)

    def close(self) -> None:
        """Close the descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Export":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def checksum(self) -> str:
        """SHA-256 of the version opened.

        Raises:
            ExportChangedError: The file grew or shrank while it was hashed.
        """
        reader = self.raw()
        reader.drain()
        self._check_size(reader)
        return reader.digest.hexdigest()

    def raw(self) -> HashingReader:
        """A new reader of the file's bytes from the start, hashing what it reads."""
        return HashingReader(self.fd)

    def verify(self, reader: HashingReader, content_hash: str) -> None:
        """Check that what ``reader`` read (to the end) is the version that was hashed.

        Raises:
            ExportChangedError: It grew, shrank or was rewritten meanwhile.
        """
        reader.drain()
        self._check_size(reader)
        change = self.version.change_since(FileVersion.of(os.fstat(self.fd)))
        if not change and reader.digest.hexdigest() != content_hash:
            change = "was rewritten in place"
        if change:
            raise ExportChangedError(f"it {change} while it was being read")

    def _check_size(self, reader: HashingReader) -> None:
        if reader.offset != self.version.size:
            change = size_change(self.version.size, reader.offset)
            raise ExportChangedError(f"it {change} while it was being read")

    def still_at_path(self) -> bool:
        """True when the input path still names the inode that was opened."""
        try:
            return self.version.is_same_file(os.lstat(self.path))
        except FileNotFoundError:
            return False

    def move_to(self, target: Path) -> Path:
        """Move this version to ``target`` (a free path): the inode itself when the input path
        still holds it, otherwise a copy of its bytes, leaving whatever the path holds now.

        Returns:
            Where the version now is.
        """
        if self.still_at_path():
            os.replace(self.path, target)
            moved = os.lstat(target)
            if self.version.is_same_file(moved):
                return target
            # The path was replaced between the check and the move: give the newcomer back.
            _restore(target, self.path)
        self._copy_to(target)
        return target

    def _copy_to(self, target: Path) -> None:
        temporary = target.with_name(f".{target.name}.part")
        with open(temporary, "wb") as copy:
            shutil.copyfileobj(self.raw(), copy, CHUNK_BYTES)
        os.replace(temporary, target)


def _restore(moved: Path, original: Path) -> None:
    """Put a file moved by mistake back to its path, or beside it when the path is taken."""
    target, suffix = original, 1
    while target.exists():
        target = original.with_name(f"{original.name}.{suffix}")
        suffix += 1
    os.replace(moved, target)
