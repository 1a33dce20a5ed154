"""The committed high-water mark of a journal (``runs.jsonl.mark``): lost data is never silent.

A journal alone cannot tell a file cut at a line boundary from one that simply ends there. So after
each durable append (and each compaction or repair) the writer records, in a small file beside it, how
far the journal's committed data reaches: its length, where its last line starts and that line's
checksum, and how many live documents it holds. Opening a journal checks the mark: a file shorter than
the mark, a last committed line that is not there any more, or fewer live documents at that offset
means committed data vanished, and the reader says so instead of silently showing fewer runs.

The mark is written *after* the journal's fsync and is itself not fsynced (no second fsync on the
write path), so after a crash it may lag behind the journal; a lagging mark still names a line that is
there, so it never raises a false alarm. A mark that is torn or unreadable is ignored. Fixed width,
overwritten in place: one ``pwrite``.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from nbtrack.store import files

_MAGIC = b"nbtrack-mark"
_WIDTH = 96
_VERSION = 1


@dataclass(frozen=True)
class Mark:
    """What the journal held after its last committed write. ``count`` is -1 when the writer did not know."""

    length: int
    line_start: int
    line_crc: bytes  # the 8 hex digits that start the last committed line
    count: int

    def encode(self) -> bytes:
        body = b"%s %d %d %d %s %d" % (_MAGIC, _VERSION, self.length, self.line_start, self.line_crc, self.count)
        return (b"%s %08x" % (body, zlib.crc32(body))).ljust(_WIDTH - 1) + b"\n"


def mark_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".mark")


def after_write(end: int, data: bytes, count: int) -> Mark | None:
    """The mark for a journal whose bytes end at ``end`` with ``data`` (whole lines) as its last write."""
    if len(data) < 10 or not data.endswith(b"\n"):
        return None
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    return Mark(end, end - len(data) + start, data[start : start + 8], count)


def read(path: Path) -> Mark | None:
    """The mark in ``path`` (see :func:`mark_path`), or None when there is none or it is not readable whole."""
    try:
        fd = files.open_regular(path)
    except OSError:
        return None
    try:
        raw = os.read(fd, _WIDTH)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = raw.split()
    if len(fields) != 7 or fields[0] != _MAGIC or fields[1] != b"%d" % _VERSION:
        return None
    body = b" ".join(fields[:6])
    try:
        if int(fields[6], 16) != zlib.crc32(body):
            return None
        return Mark(int(fields[2]), int(fields[3]), fields[4], int(fields[5]))
    except ValueError:
        return None


def write(path: Path, mark: Mark | None) -> bool:
    """Record ``mark`` in ``path`` (no fsync); None removes the mark. False when it could not be written."""
    if mark is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    try:
        fd = files.open_regular(path, os.O_WRONLY | os.O_CREAT)
    except OSError:
        return False
    try:
        os.pwrite(fd, mark.encode(), 0)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def replace(path: Path, mark: Mark | None) -> None:
    """Record ``mark`` for a journal just rewritten (compaction, repair): a new file, or no mark at all.

    If the new mark cannot be written the old one is removed, so it cannot raise a false alarm.
    """
    try:
        if mark is None:
            raise OSError("no mark")
        files.replace_durably(path, mark.encode())
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)


def missing(fd: int, size: int, mark: Mark) -> str | None:
    """Why the open journal ``fd`` of ``size`` bytes does not hold what ``mark`` says was committed, or None."""
    if size < mark.length:
        return f"the file is shorter than nbtrack last wrote it ({size:,} of {mark.length:,} bytes)"
    try:
        line = os.pread(fd, 9, mark.line_start)
        end = os.pread(fd, 1, mark.length - 1) if mark.length else b"\n"
    except OSError:
        return "the file cannot be read where nbtrack last wrote it"
    if line != mark.line_crc + b" " or end != b"\n":
        return f"the line nbtrack last committed (at byte {mark.line_start:,}) is not there any more"
    return None
