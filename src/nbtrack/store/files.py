"""Safe, durable file operations shared by the journal, the blobs, the lock and ``nbtrack doctor``.

A store may sit in a folder other local users can write (a shared project folder, a team store), so
nbtrack never writes through a name someone else could have prepared:

- a new file is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` under an unpredictable name (:func:`temp_name`),
  so a symlink or file planted at that name makes the create fail instead of writing elsewhere;
- an existing file is opened with ``O_NOFOLLOW|O_NONBLOCK`` and must be a regular file
  (:func:`open_regular`): a symlink, a FIFO or a device at a store file name is refused, never followed
  and never waited on;
- a file that replaces another is written in full to such a temporary file beside it, fsynced, renamed
  over it (a rename replaces the name, never what a symlink there points at) and its directory fsynced,
  so a crash leaves either the old file or the new one, never half of one. A failed write removes its
  temporary file, so a full disk is not filled further by what could not be saved.

Errors are ``OSError`` (a refused name is :class:`UnsafeFileError`, also an ``NbtrackError``); the store turns
them into messages saying what was and was not saved.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from nbtrack.errors import NbtrackError

NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class UnsafeFileError(NbtrackError, OSError):
    """A store file name holds something nbtrack does not write through (a link, a FIFO, another user's file).

    An ``OSError`` (with ``errno`` and ``filename``) so the store's write paths handle it like any failed
    write, and an ``NbtrackError`` so ``except NbtrackError`` catches it like everything nbtrack raises.
    """


_fsyncs = 0


def fsync(fd: int) -> None:
    """Wait for the disk to hold ``fd``'s data: every durable wait of the store goes through here, so it is counted."""
    global _fsyncs
    _fsyncs += 1
    os.fsync(fd)


def fsync_count() -> int:
    """How many durable waits (fsyncs of files and folders) this process made: tests assert one per run."""
    return _fsyncs


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable; a no-op where directories cannot be fsynced."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(name: str) -> str:
    """A hidden name beside ``name`` that no other user can predict: ``.<name>.<16 hex>.tmp``."""
    return f".{name}.{secrets.token_hex(8)}.tmp"


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644, *, own: bool = False) -> int:
    """Open ``path`` without following a symlink or blocking on a FIFO; it must be a regular file.

    ``own`` also refuses a file that belongs to another user (for files only this user appends to).
    """
    return open_regular_stat(path, flags, mode, own=own)[0]


def open_regular_stat(
    path: Path, flags: int = os.O_RDONLY, mode: int = 0o644, *, own: bool = False
) -> tuple[int, os.stat_result]:
    """:func:`open_regular`, also returning the file's ``fstat`` (one system call fewer for callers that need it)."""
    fd = os.open(path, flags | NOFOLLOW, mode)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(errno.EINVAL, "not a regular file; nbtrack does not read or write it", str(path))
        if own and hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise UnsafeFileError(errno.EPERM, "belongs to another user; nbtrack does not append to it", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def create_new(path: Path, data: bytes, *, durable: bool = True, dir_fd: int | None = None) -> None:
    """Create ``path`` holding ``data``; fails if anything (a file, a symlink) already has that name.

    A failed write removes what it created.
    """
    fd = os.open(path, NEW_FILE, 0o644, dir_fd=dir_fd)
    try:
        write_all(fd, data)
        if durable:
            fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path, dir_fd=dir_fd)
        raise
    os.close(fd)


def create_unique(path: Path, data: bytes) -> Path:
    """Create ``path``, or ``path-<random>`` when that name is taken; returns the name used."""
    try:
        create_new(path, data)
        return path
    except FileExistsError:
        other = path.with_name(f"{path.name}-{secrets.token_hex(4)}")
        create_new(other, data)
        return other


def replace_at(dir_fd: int, name: str, data: bytes) -> None:
    """Make ``name`` in the open directory ``dir_fd`` hold exactly ``data``, atomically and durably."""
    tmp = temp_name(name)
    create_new(Path(tmp), data, dir_fd=dir_fd)
    try:
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    with contextlib.suppress(OSError):
        fsync(dir_fd)


def replace_durably(path: Path, data: bytes) -> None:
    """Make ``path`` hold exactly ``data``, atomically and durably (what was there is replaced, not followed)."""
    dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        replace_at(dir_fd, path.name, data)
    finally:
        os.close(dir_fd)


def write_temp(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new fsynced temporary file beside ``path``, under an unpredictable name."""
    tmp = path.with_name(temp_name(path.name))
    create_new(tmp, data)
    return tmp


def is_temp_name(name: str) -> bool:
    """True for temporary names nbtrack makes and older versions made (``.<name>.<pid>.tmp``): for doctor."""
    return name.startswith(".") and name.endswith(".tmp")
