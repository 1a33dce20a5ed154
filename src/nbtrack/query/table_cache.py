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
import os
import sys
from typing import Any

import orjson

from nbtrack.query import frame_file
from nbtrack.store import checkpoint, files
from nbtrack.store.lines import read_file
from nbtrack.store.local import Store

MAGIC = b"nbtrack-runs-frame 1\n"
FORMAT = 1  # bumped whenever table.py's columns or dtypes change: files of another format are rebuilt


def key_of(base: str) -> str:
    """What a saved frame must have been built from to stand for checkpoint ``base`` here."""
    import pandas as pd

    return f"{base} table-{FORMAT} nbtrack-{_version()} pandas-{pd.__version__}"


def _version() -> str:
    # the package is imported before any of its modules; importing its name here would be an import cycle
    return str(getattr(sys.modules.get("nbtrack"), "__version__", "unknown"))


ROWS = "\x00rows"  # the saved frame's column of each run's flattened row as JSON (popped on load)


class SavedRows:
    """The rows :func:`~nbtrack.query.table.flatten` made of the checkpoint's records, as saved: each a JSON
    array ``[shape, *values]`` whose keys are ``shapes[shape]`` (the keys stored once, not in every row)."""

    def __init__(self, ids: Any, texts: Any, shapes: list[tuple[str, ...]]) -> None:
        self._ids, self._texts, self._shapes = ids, texts, shapes
        self._index: dict[str, int] | None = None  # run id -> row, made at the first filter

    def rows(self, run_ids: list[str]) -> list[dict[str, Any] | None]:
        """The saved row of each run (None for a run the saved frame does not hold)."""
        if self._index is None:  # a dict: a pandas Index of 100k Arrow strings took ~4x as long to make
            self._index = {run_id: n for n, run_id in enumerate(self._ids.tolist())}
        at = [self._index.get(run_id, -1) for run_id in run_ids]
        texts = iter(self._texts.take([n for n in at if n >= 0]).tolist())
        out: list[dict[str, Any] | None] = []
        for n in at:
            if n < 0:
                out.append(None)
                continue
            values = orjson.loads(next(texts))
            out.append(dict(zip(self._shapes[values[0]], values[1:], strict=True)))
        return out


def load(store: Store, base: str) -> tuple[Any, SavedRows] | None:
    """The saved frame of checkpoint ``base`` (newest first) and its rows' JSON, or None when none matches."""
    raw = read_file(checkpoint.frame_path_of(store.journal.path))
    end = raw.find(b"\n", len(MAGIC)) if raw is not None else -1
    if raw is None or not raw.startswith(MAGIC) or end < 0:
        return None
    try:
        header = orjson.loads(raw[len(MAGIC) : end])
        if not isinstance(header, dict) or header.get("key") != key_of(base):
            return None
        shapes = [tuple(shape) for shape in header["shapes"]]
        if not all(type(key) is str for shape in shapes for key in shape):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    frame = frame_file.decode(raw[end + 1 :])
    if frame is None or ROWS not in frame.columns:
        return None
    texts = frame.pop(ROWS)
    return frame, SavedRows(frame["run_id"].to_numpy(), texts, shapes)


def save(store: Store, base: str, frame: Any, rows: list[dict[str, Any]]) -> bool:
    """Save ``frame`` (newest first) made from ``rows`` (flatten's) as the table of checkpoint ``base``; False
    when it was not (a value JSON or the frame file cannot hold exactly, a store not writable here). Never raises."""
    tmp = None
    try:
        shapes: dict[tuple[str, ...], int] = {}
        texts = _texts(rows, shapes)
        if texts is None:
            return False
        by_id = dict(zip([row["run_id"] for row in rows], texts, strict=True))
        encoded = frame_file.encode(frame.assign(**{ROWS: [by_id[run_id] for run_id in frame["run_id"]]}))
        if encoded is None:
            return False
        header = {"key": key_of(base), "shapes": [list(shape) for shape in shapes]}
        data = MAGIC + orjson.dumps(header) + b"\n" + encoded
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


def _texts(rows: list[dict[str, Any]], shapes: dict[tuple[str, ...], int]) -> list[str] | None:
    """Each row as the JSON ``[shape, *values]`` that reads back equal (not so: NaN, tuples, a str
    subclass...), else None; ``shapes`` collects the key lists."""
    texts = []
    for row in rows:
        shape = shapes.setdefault(tuple(row), len(shapes))
        try:
            text = orjson.dumps([shape, *row.values()])
        except TypeError:
            return None
        back = orjson.loads(text)[1:]
        values = list(row.values())
        if back != values or any(type(b) is not type(v) for b, v in zip(back, values, strict=True)):
            return None
        texts.append(text.decode())
    return texts
