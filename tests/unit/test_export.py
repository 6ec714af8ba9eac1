"""One export as one immutable version: opened once, never through a link, checked after reading,
archived byte for byte."""

import os

import pytest

from heart_batch.scoring.export import Export, ExportChangedError, NotAFileError


def test_what_was_read_is_checked_against_the_version_hashed(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with Export(path) as export:
        content_hash = export.checksum()
        reader = export.raw()
        assert reader.read() == b"a,b\n1,2\n"
        export.verify(reader, content_hash)  # unchanged: no error


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            lambda p: p.open("ab").write(b"3,4\n"),
            "it grew from 8 to 12 bytes while it was being read",
        ),
        (lambda p: os.truncate(p, 4), "it was cut from 8 to 4 bytes while it was being read"),
        (
            lambda p: p.open("r+b").write(b"x,y\n"),
            "it was rewritten in place while it was being read",
        ),
    ],
    ids=["grown", "truncated", "rewritten"],
)
def test_a_file_changed_in_place_during_the_read_is_detected(tmp_path, change, said):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with Export(path) as export:
        content_hash = export.checksum()
        reader = export.raw()
        reader.read(4)
        change(path)
        with pytest.raises(ExportChangedError, match=said):
            export.verify(reader, content_hash)


def test_a_file_replaced_during_the_read_is_read_as_it_was_and_archived_as_read(tmp_path):
    path, corrected = tmp_path / "f.csv", tmp_path / "corrected.tmp"
    path.write_bytes(b"first version\n")
    corrected.write_bytes(b"corrected version\n")
    with Export(path) as export:
        content_hash = export.checksum()
        os.replace(corrected, path)  # a corrected export saved over it
        reader = export.raw()
        assert reader.read() == b"first version\n"
        export.verify(reader, content_hash)
        assert not export.still_at_path()
        archived = export.move_to(tmp_path / "processed.csv")
    assert archived.read_bytes() == b"first version\n"
    assert path.read_bytes() == b"corrected version\n"  # left for the next run


def test_an_unchanged_file_moves_as_its_own_inode(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"rows\n")
    inode = path.stat().st_ino
    with Export(path) as export:
        target = export.move_to(tmp_path / "archived.csv")
    assert (target.stat().st_ino, path.exists()) == (inode, False)


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo"])
def test_anything_but_a_regular_file_is_refused_without_reading_it(tmp_path, kind):
    secret = tmp_path / "secret.txt"
    secret.write_text("HEART_SMTP_PASSWORD=hunter2\n")
    path = tmp_path / "f.csv"
    if kind == "symlink":
        path.symlink_to(secret)
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)  # opening it for reading must not wait for a writer
    with pytest.raises(NotAFileError) as refused:
        Export(path)
    assert refused.value.strerror == {"symlink": "a symbolic link", "directory": "a directory"}.get(
        kind, "a named pipe"
    )
