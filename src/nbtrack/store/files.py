"""Durable file writes shared by the journal, the blobs and ``nbtrack doctor``.

A file that replaces another is written in full to a temporary file beside it, fsynced, renamed over
it and its directory fsynced, so a crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


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
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_temp(path: Path, data: bytes) -> Path:
    """Write ``data`` to a fsynced temporary file beside ``path`` (unique per process and thread)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def replace_durably(path: Path, data: bytes) -> None:
    """Make ``path`` hold exactly ``data``, atomically and durably."""
    tmp = write_temp(path, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)
