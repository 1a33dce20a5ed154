"""The runs table of a store's checkpoint, saved beside it: a fresh process loads it instead of building it.

Building the ``runs()`` frame of 100,000 records (flattening each, then pandas) takes over a second, in every
new kernel. The records of a checkpoint (store/checkpoint.py) do not change until the next compaction, so
their frame is built once, by the first process that needs it, and saved as ``runs.frame``; later processes
load it (query/frame_file.py: exact dtypes, no pickle) and flatten only the runs the journal's tail changed.

The file is a cache and is never trusted beyond its key: the checkpoint's hash, this table's format and the
nbtrack and pandas versions that built it. Compaction and ``gc`` remove it with the checkpoint it belongs to
(it holds the values of runs deleted since). It is written without fsync: a torn file fails its hash and
is built again. Stores this user cannot write are read as before, without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

from nbtrack.query import frame_file
from nbtrack.store import checkpoint, files
from nbtrack.store.lines import read_all
from nbtrack.store.local import Store

MAGIC = b"nbtrack-runs-frame 1\n"
FORMAT = 1  # bumped whenever table.py's columns or dtypes change: files of another format are rebuilt
_HEADER_MAX = 4096


def key_of(base: str) -> str:
    """What a saved frame must have been built from to stand for checkpoint ``base`` here."""
    import pandas as pd

    return f"{base} table-{FORMAT} nbtrack-{_version()} pandas-{pd.__version__}"


def _version() -> str:
    # the package is imported before any of its modules; importing its name here would be an import cycle
    return str(getattr(sys.modules.get("nbtrack"), "__version__", "unknown"))


def load(store: Store, base: str) -> Any:
    """The saved frame of checkpoint ``base`` (newest first), or None when there is none that matches."""
    path = checkpoint.frame_path_of(store.journal.path)
    try:
        fd = files.open_regular(path)
    except OSError:
        return None
    try:
        raw = read_all(fd, os.fstat(fd).st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    end = raw.find(b"\n", len(MAGIC), len(MAGIC) + _HEADER_MAX)
    if not raw.startswith(MAGIC) or end < 0:
        return None
    try:
        header = json.loads(raw[len(MAGIC) : end])
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("key") != key_of(base):
        return None
    return frame_file.decode(raw[end + 1 :])


def save(store: Store, base: str, frame: Any) -> bool:
    """Save ``frame`` as the table of checkpoint ``base``; False when it was not (cannot be stored exactly,
    or the store is not writable here). Never raises."""
    tmp = None
    try:
        encoded = frame_file.encode(frame)
        if encoded is None:
            return False
        data = MAGIC + json.dumps({"key": key_of(base)}).encode() + b"\n" + encoded
        path = checkpoint.frame_path_of(store.journal.path)
        tmp = path.with_name(files.temp_name(path.name))
        files.create_new(tmp, data, durable=False)
        with store.journal.lock:  # compaction installs a new checkpoint (and removes this file) under it
            if checkpoint.current_hash(store.journal.path) != base:
                os.unlink(tmp)  # compacted meanwhile: this table is already stale
                return False
            os.replace(tmp, path)
        return True
    except Exception:  # a cache: any failure leaves the store as it was
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False
