"""The runs table: one row per run, with the columns of ``nbtrack.runs()``, built from the stored records.

Every view reads runs through this table: ``runs()`` builds it once, the panel and the server keep a
:class:`RunsTable` that follows the store incrementally. Columns are ``run_id, experiment, name, status,
start_time, end_time, duration``, then ``params.*``, ``metrics.*``, ``tags.*``, ``data.*`` (content
hashes), ``models.*`` (each model's content hash, short) and ``outputs.*`` (each output file's content hash, short,
by its path), each group sorted by name. A run recorded without an experiment belongs to
:data:`DEFAULT_EXPERIMENT`, as :class:`~nbtrack.run.Run` and ``track()`` name it.
"""

from __future__ import annotations

import json
import threading
import warnings
import weakref
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from nbtrack import values
from nbtrack.errors import NbtrackWarning
from nbtrack.query.contents import model_hash, short_hash
from nbtrack.run import effective_status, unescaped
from nbtrack.store import collector
from nbtrack.store.docs import Docs
from nbtrack.store.local import Store

if TYPE_CHECKING:
    from nbtrack.query.table_cache import SavedRows

DEFAULT_EXPERIMENT = "default"
BASE_COLUMNS = ["run_id", "experiment", "name", "status", "start_time", "end_time", "duration"]
GROUPS = ("params", "metrics", "tags", "data", "models", "outputs")
REBUILD_SHARE = 0.25  # above this share of changed runs, rebuild the frame instead of patching it


def experiment_of(doc: Mapping[str, Any]) -> str:
    """The experiment a run belongs to (:data:`DEFAULT_EXPERIMENT` when none was recorded)."""
    return str(doc.get("experiment") or DEFAULT_EXPERIMENT)


def flatten(doc: Mapping[str, Any], groups: Collection[str] | None = None) -> dict[str, Any]:
    """One run record as one row of the table (status as shown: a dead kernel's run is ``abandoned``).

    ``groups`` (e.g. ``{"params"}``): the base columns and only these groups' (a filter's narrow rows).
    Never raises because of one stored value: a value that cannot be read back is shown as its JSON text,
    with a warning naming the run and the column.
    """
    doc = unescaped(doc)  # read only: no copy
    run_id = doc["id"]
    row = {
        "run_id": run_id,
        "experiment": experiment_of(doc),
        "name": doc.get("name"),
        "status": effective_status(doc),
        "start_time": doc.get("start_time"),
        "end_time": doc.get("end_time"),
        "duration": doc.get("duration"),
    }
    for group in ("params", "metrics", "tags"):  # ~10 keys a run, 100,000 runs: kept to plain loops
        stored = doc.get(group)
        if not stored or not isinstance(stored, dict) or (groups is not None and group not in groups):
            continue
        prefix = group + "."
        for key, value in stored.items():
            column = prefix + (values.unescape_text(key) if key.startswith(values.ESCAPED) else key)
            row[column] = _cell(value, run_id, column) if isinstance(value, (dict, list)) else value
    data = doc.get("data")
    if data and isinstance(data, dict) and (groups is None or "data" in groups):
        for key, record in data.items():
            row[f"data.{key}"] = record.get("hash") if isinstance(record, dict) else None
    for group in ("models", "outputs"):  # name -> content hash, short (a model not kept has none)
        stored = doc.get(group)
        if not stored or not isinstance(stored, dict) or (groups is not None and group not in groups):
            continue
        for key, record in stored.items():
            if isinstance(record, dict):
                value = model_hash(record) if group == "models" else record.get("hash")
                row[f"{group}.{key}"] = short_hash(value)
    if not "".join([*row, *(v for v in row.values() if isinstance(v, str))]).isascii():
        # text with lone surrogates (file names from os.listdir): frames hold UTF-8 only
        row = {values.printable(k): values.printable(v) if isinstance(v, str) else v for k, v in row.items()}
    return row


def _cell(value: Any, run_id: str, column: str) -> Any:
    problems: list[str] = []
    try:
        decoded = values.decode(value, problems)
    except Exception as exc:  # decode is written never to raise; the table must not depend on that
        problems.append(f"{type(exc).__name__}: {exc}"[:200])
        decoded = values.StoredRepr(json.dumps(value, ensure_ascii=False, default=str)[:1000], values.UNREADABLE)
    if problems:
        warnings.warn(f"nbtrack: run {run_id}, {column}: {problems[0]}; shown as text", NbtrackWarning, stacklevel=2)
    return decoded


def group_of(column: str) -> str:
    """``params`` for ``params.lr``; the column itself for a base column."""
    return column.split(".", 1)[0]


def ordered_columns(columns: Iterable[str]) -> list[str]:
    """The base columns, then the grouped ones (:data:`GROUPS`: params, metrics, tags, data, models, outputs),
    each sorted by name."""
    extra = sorted(
        {c for c in columns if c not in BASE_COLUMNS and group_of(c) in GROUPS},
        key=lambda c: (GROUPS.index(group_of(c)), c),
    )
    return BASE_COLUMNS + extra


def build_frame(docs: Iterable[dict[str, Any]], groups: Collection[str] | None = None) -> Any:
    """The ``nbtrack.runs()`` frame of these run records, in their order (no filters); ``groups``: only
    the base columns and these groups' (see :func:`flatten`)."""
    return frame_of_rows([flatten(doc, groups) for doc in docs])


def frame_of_rows(rows: list[dict[str, Any]]) -> Any:
    """The frame of rows made by :func:`flatten` (what :func:`build_frame` does after flattening)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame = frame.reindex(columns=ordered_columns(frame.columns))
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    frame["duration"] = pd.to_numeric(frame["duration"])
    for column in frame.columns:
        if column.startswith("metrics."):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def recorded_running(doc: Mapping[str, Any]) -> bool:
    """The record says running (no status counts as running): its status shown depends on its process."""
    return doc.get("status", "running") == "running"


def newest_first(frame: Any) -> Any:
    """The rows by run id, newest first (ids sort by creation time); a no-op when already so."""
    import numpy as np

    ids = frame["run_id"].to_numpy(dtype=object)
    if len(ids) > 1 and not (ids[:-1] > ids[1:]).all():
        frame = frame.take(np.argsort(ids)[::-1])
    return frame.reset_index(drop=True)


class RunsTable:
    """All runs of a store as one frame (newest first), kept current by :meth:`update`.

    Refreshing is cheap: the store's journal replays only the lines appended since the last read, the
    records keep a log of the ids they changed (store/docs.py), so only those runs are flattened again, and
    nothing happens at all while :meth:`Store.stamp` is the same. A fresh process starts from the frame
    saved for the store's checkpoint (table_cache.py) when there is one, and saves it when there is not.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.frame: Any = None
        self.version = 0  # bumped whenever ``frame`` changes
        self.stamp: tuple[int, int, int] | None = None
        self.docs: Mapping[str, Any] = {}  # run id -> record: the store's live records (read-only)
        self._seen = 0  # how much of ``docs.log`` the frame reflects
        self._running: dict[str, str] = {}  # run id -> shown status, for runs recorded as running
        # the saved table's rows (table_cache.py): valid while a record is still the checkpoint's, so a
        # filter rebuilds its runs' frame without decoding their records
        self._rows: SavedRows | None = None
        # the only columns the frame holds (None: all): a fresh process's filter loads only what it reads
        self.columns: frozenset[str] | None = None

    @property
    def watching(self) -> bool:
        """True while some row shows a running run: its status can change with no write (its kernel dies)."""
        return bool(self._running)

    def update(self, force: bool = False, columns: Collection[str] | None = None) -> bool:
        """Catch up with the store; True when the frame changed. Costs one ``stat`` when nothing was written.

        ``columns``: the frame needs only these (and the base columns); a fresh process then loads only
        them from the saved table, when there is one. A frame so limited is completed by the next update
        that needs every column."""
        wanted = None if columns is None else frozenset(columns).union(BASE_COLUMNS)
        narrower = self.columns is not None and (wanted is None or not wanted <= self.columns)
        stamp = self.store.stamp()  # read before the records: a write in between only causes one more update
        if self.frame is not None and stamp == self.stamp and not force and not narrower:
            return False
        self.stamp = stamp
        with collector.paused():  # rows of up to every run: many objects, no cycles
            return self._catch_up(narrower, wanted)

    def _catch_up(self, narrower: bool, wanted: frozenset[str] | None) -> bool:
        docs = self.store.run_docs()
        started = narrower or not (self.frame is not None and docs is self.docs and isinstance(docs, Docs))
        if isinstance(docs, Docs) and not started and self._seen >= docs.dropped:
            with self.store.journal.guard:  # the journal's writes append to the log (and shorten it) under it
                end = docs.dropped + len(docs.log)  # positions count the entries the log dropped
                changed = set(docs.log[self._seen - docs.dropped :])
            self._seen = end
        else:
            changed = self._start(docs, wanted)  # a first read, the journal read again, or more columns needed
        for run_id, shown in self._running.items():  # a running run whose kernel died becomes "abandoned"
            record = docs.get(run_id)
            if record is not None and run_id not in changed and effective_status(record) != shown:
                changed.add(run_id)
        if changed:
            present = [run_id for run_id in changed if run_id in docs]
            self._patch(docs, present, [run_id for run_id in changed if run_id not in docs])
            for run_id in changed:
                doc = docs.get(run_id)
                if doc is not None and recorded_running(doc):
                    self._running[run_id] = effective_status(doc)
                else:
                    self._running.pop(run_id, None)
        elif not started:
            return False
        self.version += 1
        return True

    def _start(self, docs: Mapping[str, Any], columns: frozenset[str] | None = None) -> set[str]:
        """Set the frame to that of the records as the checkpoint holds them (loaded, only ``columns`` when
        given, or built and saved); returns the ids whose rows must still be made from their current record."""
        self.docs, self._rows, self.columns = docs, None, None
        with self.store.journal.guard:
            self._seen = docs.dropped + len(docs.log) if isinstance(docs, Docs) else 0
            dirty = set(docs.log) if isinstance(docs, Docs) else set()  # set or removed since the checkpoint
        if not isinstance(docs, Docs) or docs.base is None or docs.dropped:  # what changed since it is not known
            records = self._records()
            self.frame = newest_first(build_frame(records.values()))
            self._running = {r: effective_status(d) for r, d in records.items() if recorded_running(d)}
            return set()
        from nbtrack.query import table_cache  # pandas with it: not for get_run or a %%track cell

        loaded = table_cache.load(self.store, docs.base, columns)
        if loaded is None:  # decoded for the rows only, not kept: the records stay compressed in memory
            rows = [flatten(doc) for run_id, doc in docs.passing() if run_id not in dirty]
            frame = newest_first(frame_of_rows(rows))
            table_cache.save(self.store, docs.base, frame, rows)  # no saved rows here: a filter flattens again
        else:
            frame, texts = loaded
            self._rows, self.columns = texts, columns
        self.frame = frame
        # rows shown running when the frame was built: their kernel may have died since (abandoned stays so)
        self._running = dict.fromkeys(frame["run_id"][frame["status"] == "running"], "running") if len(frame) else {}
        return dirty

    def _records(self) -> dict[str, Any]:
        """A copy of every record (decoded): another thread may be adding runs while the frame is built."""
        with self.store.journal.guard:
            return self.docs.copy() if isinstance(self.docs, Docs) else dict(self.docs)

    def frame_of(self, run_ids: Iterable[str]) -> Any:
        """The frame of these runs alone, as :func:`build_frame` makes it from their current records."""
        docs, saved = self.docs, self._rows
        wanted = list(run_ids)
        kept: dict[str, dict[str, Any] | None] = {}
        if saved is not None and isinstance(docs, Docs):  # a record still the checkpoint's: its saved row holds
            unchanged = [run_id for run_id in wanted if docs.is_pending(run_id)]
            kept = dict(zip(unchanged, saved.rows(unchanged), strict=True))
        rows = []
        for run_id in wanted:
            row = kept.get(run_id)
            if row is None:
                doc = docs.get(run_id)
                if doc is None:
                    continue  # deleted since the frame was made
                row = flatten(doc)
            rows.append(row)
        return frame_of_rows(rows)

    def _patch(self, docs: Mapping[str, Any], changed: list[str], removed: list[str]) -> None:
        import pandas as pd

        frame = self.frame
        if frame is None or len(changed) + len(removed) > max(200, REBUILD_SHARE * len(docs)):
            frame = self._built(self._records().values())
        else:
            stale = set(changed) | set(removed)
            keep = frame[~frame["run_id"].isin(stale)] if stale else frame
            fresh = [docs[run_id] for run_id in sorted(changed, reverse=True)]  # newest first, as the frame
            if fresh and len(keep):
                frame = pd.concat([self._built(fresh), keep], ignore_index=True)
                ordered = ordered_columns(frame.columns)
                if list(frame.columns) != ordered:
                    frame = frame.reindex(columns=ordered)
            elif fresh:
                frame = self._built(fresh)
            else:
                frame = keep
            if stale:  # columns only the deleted or rewritten runs had
                empty = [c for c in frame.columns if c not in BASE_COLUMNS and not frame[c].notna().any()]
                if empty:
                    frame = frame.drop(columns=empty)
        self.frame = newest_first(frame)

    def _built(self, docs: Iterable[dict[str, Any]]) -> Any:
        """:func:`build_frame` of ``docs``, with only the columns this table holds."""
        frame = build_frame(docs)
        if self.columns is not None:
            frame = frame[[column for column in frame.columns if column in self.columns]]
        return frame


_shared: weakref.WeakKeyDictionary[Store, tuple[RunsTable, threading.Lock]] = weakref.WeakKeyDictionary()
_shared_guard = threading.Lock()


def current_table(store: Store, columns: Collection[str] | None = None) -> tuple[Any, RunsTable]:
    """The whole runs frame of ``store`` (newest first) as of now, and the table that keeps it; with
    ``columns``, it may hold only those and the base columns (``table.columns`` says which).

    One :class:`RunsTable` per store and process, kept between calls: a second ``runs()`` costs a ``stat``
    when nothing was written, and flattens only the runs written since otherwise. Read-only: pandas'
    copy-on-write keeps what callers derive from the frame apart from it.
    """
    with _shared_guard:
        entry = _shared.get(store)
        if entry is None:
            entry = _shared[store] = (RunsTable(store), threading.Lock())
    table, lock = entry
    with lock:
        table.update(force=table.watching, columns=columns)  # running rows: their kernel may have died since
        return table.frame, table
