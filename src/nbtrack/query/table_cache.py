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
import mmap
import os
import sys
from collections.abc import Collection, Iterable
from typing import Any

import orjson

from nbtrack.query import frame_file
from nbtrack.store import checkpoint, files
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
    array ``[shape, *values]`` whose keys are ``shapes[shape]`` (the keys stored once, not in every row), in
    the saved frame's order: run ids newest first, so a run's row is found by bisection, with no index."""

    def __init__(self, ids: Any, texts: frame_file.Texts, shapes: list[tuple[str, ...]]) -> None:
        self._ids, self._texts, self._shapes = ids, texts, shapes
        self._ascending: Any = None  # the ids, oldest first, made at the first filter

    def rows(self, run_ids: list[str]) -> list[dict[str, Any] | None]:
        """The saved row of each run (None for a run the saved frame does not hold)."""
        import numpy as np

        if self._ascending is None:  # a dict of 100k ids took ~15 ms to make; this, at most ~5 ms, once
            self._ascending = _sortable(self._ids)[::-1]
        ascending, count = self._ascending, len(self._ascending)
        wanted = np.array([_key(run_id, ascending.dtype) for run_id in run_ids], dtype=ascending.dtype)
        if not count:
            return [None] * len(run_ids)
        at = (count - 1 - np.searchsorted(ascending, wanted)).tolist()
        found = [
            n if 0 <= n < count and ascending[count - 1 - n] == key else -1 for n, key in zip(at, wanted, strict=True)
        ]
        texts = iter(self._texts.at(n for n in found if n >= 0))
        return [_row(next(texts), self._shapes) if n >= 0 else None for n in found]


def _row(text: str | None, shapes: list[tuple[str, ...]]) -> dict[str, Any] | None:
    """A saved row's JSON as the row (None when it is not one: only a hostile file, its hash resealed, has that;
    the run's row is then made from its record)."""
    try:
        values = orjson.loads(text) if text is not None else None
        if type(values) is not list or not values or type(values[0]) is not int or not 0 <= values[0] < len(shapes):
            return None
        return dict(zip(shapes[values[0]], values[1:], strict=True))
    except ValueError:  # not JSON, or not as many values as keys
        return None


def _sortable(ids: Any) -> Any:
    """The ids as an array numpy orders in C: the Arrow text's own bytes, as fixed-width strings, when every
    id is ASCII and of one length (nbtrack's are 26 characters), else Python strings."""
    import numpy as np
    import pyarrow as pa

    try:
        chunks = pa.chunked_array(ids.array.__arrow_array__())
        text = chunks.combine_chunks() if chunks.num_chunks != 1 else chunks.chunk(0)
        wide = pa.types.is_large_string(text.type)
        if text.null_count == 0 and len(text) and (wide or pa.types.is_string(text.type)):
            offsets = np.frombuffer(text.buffers()[1], dtype="<i8" if wide else "<i4")
            offsets = offsets[text.offset : text.offset + len(text) + 1]
            width = int(offsets[1] - offsets[0])
            if width > 0 and (np.diff(offsets) == width).all():
                data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
                if data.max() < 128 and data.min() > 0:  # ASCII, no NUL (numpy drops trailing NULs)
                    return data.view(f"S{width}")
    except (TypeError, ValueError, AttributeError):
        pass
    return ids.to_numpy(dtype=object)


def _key(run_id: str, dtype: Any) -> Any:
    """``run_id`` as an element of an id array of ``dtype`` (None when it cannot be one: not found)."""
    if dtype.kind != "S":
        return run_id
    key = run_id.encode("utf-8", "replace")
    return key if len(key) == dtype.itemsize and run_id.isascii() and b"\0" not in key else b""


def load(store: Store, base: str, columns: Collection[str] | None = None) -> tuple[Any, SavedRows] | None:
    """The saved frame of checkpoint ``base`` (newest first; only ``columns`` when given, and ``run_id``) and
    its rows' JSON, or None when none matches."""
    try:
        fd = files.open_regular(checkpoint.frame_path_of(store.journal.path))
    except OSError:
        return None
    try:
        # Mapped, not read: reading 34 MB into fresh memory took ~13 ms, mapping and hashing it ~2.5 ms. Every
        # part kept is copied out before it is unmapped, so the short window in which another process could
        # cut the file under the mapping (nbtrack never does: it replaces or removes it) is this call.
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        return None
    finally:
        os.close(fd)  # the mapping stays valid without it
    try:
        return _parsed(memoryview(mapped), base, columns)
    finally:
        with contextlib.suppress(BufferError):  # a view still alive (none should be): unmapped when it goes
            mapped.close()


def _parsed(raw: memoryview, base: str, columns: Collection[str] | None) -> tuple[Any, SavedRows] | None:
    end = frame_file.line_end(raw, len(MAGIC))
    if raw[: len(MAGIC)] != MAGIC or end < 0:
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
    wanted = None if columns is None else {"run_id", *columns}
    parts = frame_file.decode_parts(raw[end + 1 :], wanted, texts=(ROWS,))
    if parts is None or "run_id" not in parts[0].columns:
        return None
    frame, texts = parts
    return frame, SavedRows(frame["run_id"], texts[ROWS].detached(), shapes)  # nothing left in the mapping


def save(store: Store, base: str, frame: Any, rows: list[dict[str, Any]]) -> bool:
    """Save ``frame`` (newest first) made from ``rows`` (flatten's) as the table of checkpoint ``base``; False
    when it was not (a value JSON or the frame file cannot hold exactly, a store not writable here). Never raises."""
    tmp = None
    try:
        order = sorted(range(len(rows)), key=lambda n: rows[n]["run_id"], reverse=True)  # the frame's order
        if [rows[n]["run_id"] for n in order] != frame["run_id"].tolist():
            return False
        shapes: dict[tuple[str, ...], int] = {}
        texts = _texts((rows[n] for n in order), shapes)
        if texts is None:
            return False
        encoded = frame_file.encode(frame, {ROWS: texts})
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


def _texts(rows: Iterable[dict[str, Any]], shapes: dict[tuple[str, ...], int]) -> tuple[Any, bytes] | None:
    """The rows as JSON arrays ``[shape, *values]`` that read back equal (not so: NaN, tuples, a str
    subclass...), one after the other, with their offsets; else None. ``shapes`` collects the key lists.
    One buffer, not a string a row: those left ~50 MB of fragmented memory behind in the process."""
    import numpy as np

    buffer, ends = bytearray(), [0]
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
        buffer += text
        ends.append(len(buffer))
    return np.array(ends, dtype=np.int64), bytes(buffer)
