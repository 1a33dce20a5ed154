"""The committed high-water mark of a journal: lost data is never silent.

A journal alone cannot tell a file cut at a line boundary from one that simply ends there. So after
each durable append (and each compaction or repair) the writer records how far the journal's committed
data reaches: its length, where its last line starts and that line's checksum, how many live documents
it holds, and the journal's *epoch* (a random id in its header line, new at each compaction or repair).
Opening a journal checks the mark: a file shorter than the mark, a last committed line that is not
there any more, or fewer live documents at that offset means committed data vanished, and the reader
says so instead of silently showing fewer runs.

The mark lives in the store's lock file, at byte 512 (the lock holder's note is at 0): the writer holds
that file open anyway, so recording the mark costs one ``pwrite`` and no new file in the store. It is
written *after* the journal's fsync and is not fsynced itself (no second fsync on the write path), so
after a crash it may lag behind the journal; a lagging mark still names a line that is there, so it
never raises a false alarm. A mark whose epoch differs from the journal's header describes another
version of the journal (a compaction interrupted before it moved the mark on) and is ignored; a torn or
unreadable mark is ignored too. Readers read the mark *before* they look at the journal's size, so an
append that lands in between can only make the journal longer than its mark.
"""

from __future__ import annotations

import os
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path

from nbtrack.store import files
from nbtrack.store.lines import decode_line

OFFSET = 512
_MAGIC = b"nbtrack-mark"
_WIDTH = 128
_VERSION = 2
NO_EPOCH = b"-"


@dataclass(frozen=True)
class Mark:
    """What the journal held after its last committed write. ``count`` is -1 when the writer did not know."""

    length: int
    line_start: int
    line_crc: bytes  # the 8 hex digits that start the last committed line
    count: int
    epoch: bytes = NO_EPOCH  # the journal header's epoch

    def encode(self) -> bytes:
        body = b"%s %d %d %d %s %d %s" % (
            _MAGIC,
            _VERSION,
            self.length,
            self.line_start,
            self.line_crc,
            self.count,
            self.epoch,
        )
        return (b"%s %08x" % (body, zlib.crc32(body))).ljust(_WIDTH - 1) + b"\n"


def new_epoch() -> str:
    return secrets.token_hex(8)


def after_write(end: int, data: bytes, count: int, epoch: bytes) -> Mark | None:
    """The mark for a journal whose bytes end at ``end`` with ``data`` (whole lines) as its last write."""
    if len(data) < 10 or not data.endswith(b"\n"):
        return None
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    return Mark(end, end - len(data) + start, data[start : start + 8], count, epoch)


def decode(raw: bytes) -> Mark | None:
    fields = raw.split()
    if len(fields) != 8 or fields[0] != _MAGIC or fields[1] != b"%d" % _VERSION:
        return None
    body = b" ".join(fields[:7])
    try:
        if int(fields[7], 16) != zlib.crc32(body):
            return None
        return Mark(int(fields[2]), int(fields[3]), fields[4], int(fields[5]), fields[6])
    except ValueError:
        return None


def read(lock_path: Path) -> Mark | None:
    """The mark kept in the lock file ``lock_path``, or None when there is none or it is not readable whole."""
    try:
        fd = files.open_regular(lock_path)
    except OSError:
        return None
    try:
        return read_fd(fd)
    finally:
        os.close(fd)


def read_fd(fd: int) -> Mark | None:
    try:
        return decode(os.pread(fd, _WIDTH, OFFSET))
    except OSError:
        return None


def write_fd(fd: int, mark: Mark | None) -> bool:
    """Record ``mark`` in the open lock file (no fsync); None clears it. False when it could not be written."""
    try:
        os.pwrite(fd, mark.encode() if mark is not None else b" " * (_WIDTH - 1) + b"\n", OFFSET)
        return True
    except OSError:
        return False


def epoch_of(fd: int) -> bytes | None:
    """The epoch in the header line of the open journal ``fd``: None when the header is not readable."""
    try:
        return epoch_of_line(os.pread(fd, 256, 0))
    except OSError:
        return None


def epoch_of_path(path: Path) -> bytes | None:
    """:func:`epoch_of` the journal at ``path`` (opened as files.py says; an error propagates)."""
    fd = files.open_regular(path)
    try:
        return epoch_of(fd)
    finally:
        os.close(fd)


def epoch_of_line(data: bytes) -> bytes | None:
    """The epoch in the header line that starts ``data``: None when it is not a readable header."""
    first = data.split(b"\n", 1)
    payload = decode_line(first[0]) if len(first) == 2 else None
    if payload is None or payload.get("op") != "header":
        return None
    epoch = payload.get("epoch")
    return epoch.encode() if isinstance(epoch, str) and epoch.isalnum() else NO_EPOCH


def applies(fd: int, mark: Mark | None) -> Mark | None:
    """``mark`` if it describes the open journal ``fd`` (same epoch, or a header too damaged to tell), else None."""
    if mark is None:
        return None
    epoch = epoch_of(fd)
    return mark if epoch is None or epoch == mark.epoch else None


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
