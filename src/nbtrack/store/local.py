"""The local store: run records as TinyDB documents over a crash-safe journal, large things as blobs.

Layout of a store directory (``.nbtrack/`` by default; details in docs/store.md)::

    runs.jsonl          run records, one checksummed JSON line per changed document (see journal.py)
    lock                the inter-process write lock (lock.py), and the committed mark of runs.jsonl (mark.py)
    objects/ab/cdef...  content-addressed blobs written on their own, and large ones (blobs.py)
    objects/packs/      the small blobs runs wrote, moved there from runs.jsonl by compaction (packs.py)
    push/<hash>.jsonl   what was pushed to which tracking server, one file per server (remote/state.py)

Every read and write of run records goes through the TinyDB table ``Store.table`` (tinydb_table.py), so
``store.table.search(Query().params.lr < 0.1)`` and ``nbtrack.runs(where=Query()...)`` see what the
rest of nbtrack sees.

Updates stay consistent while a run runs: a run's owner writes its record with :meth:`Store.put_run`;
tags set meanwhile by anyone (:meth:`Store.tag_run`) are merged into the owner's later records, and a
run deleted while it ran (:meth:`Store.delete_run` leaves a tombstone) is not written back: the
owner's ``put_run`` raises :class:`RunDeletedError` instead.

The store folder is created ``0o700``: records, histories and snapshots can hold secrets, and the
folder is the gate (files inside follow the umask, so a store its owner deliberately opens with
``chmod`` works for a group).

One durable wait per run: while a run of this process is open (:meth:`Store.open_run`, called by the
run's lifecycle), the small blobs it writes (up to :data:`INLINE_MAX` bytes: series, history, cell
sources, package list) are appended to ``runs.jsonl`` as blob lines without an fsync, before the record
that refers to them; the run's final durable ``put_run`` fsyncs the journal, which makes them durable
together. A reader sees a blob line before any record naming it (same file, earlier bytes). Blobs
written outside a run, and large ones, are files fsynced on their own as before.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from nbtrack import ids
from nbtrack.errors import AmbiguousRunIdError, MissingBlobError, RunDeletedError, RunNotFoundError, StoreWriteError
from nbtrack.store.blobs import BlobStore
from nbtrack.store.journal import RUNS_TABLE, Journal
from nbtrack.store.lines import TOMB, blob_entry, last_entry_since
from nbtrack.store.lock import FileLock
from nbtrack.store.packs import PackSet, digest_of
from nbtrack.store.tinydb_table import JournalDB, JournalStorage, JournalTable

RUNS = RUNS_TABLE
INLINE_MAX = 1 << 20  # bytes: a blob a run writes up to this size travels in the journal, then in a pack
__all__ = [
    "INLINE_MAX",
    "RUNS",
    "AmbiguousRunIdError",
    "RunNotFoundError",
    "Store",
    "default_store_path",
    "get_store",
    "referenced_blobs",
    "set_store",
]


def referenced_blobs(doc: dict[str, Any]) -> list[str]:
    """The content files a run record refers to directly (a history's cell sources are listed in it)."""
    refs = [doc.get("history"), doc.get("series"), doc.get("code_blob")]
    refs.append((doc.get("snapshot") or {}).get("blob"))
    refs.append((doc.get("env") or {}).get("packages"))
    refs.extend(r.get("profile_blob") for r in (doc.get("data") or {}).values() if isinstance(r, dict))
    refs.extend(m.get("blob") for m in (doc.get("models") or {}).values() if isinstance(m, dict))
    refs.extend(r.get("blob") for r in (doc.get("artifacts") or {}).values() if isinstance(r, dict))
    refs.extend(r.get("kept") for r in (doc.get("outputs") or {}).values() if isinstance(r, dict))
    return [r for r in refs if isinstance(r, str)]


class Store:
    """One store directory. Use :func:`get_store` to share one instance per directory in a process."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.objects = self.root / "objects"
        self.lock = FileLock(self.root / "lock")
        self.journal = Journal(self.root / "runs.jsonl", self.lock)
        self.db = JournalDB(storage=JournalStorage, journal=self.journal, prepare=self.ensure)
        self.table = cast(JournalTable, self.db.table(RUNS))
        self.blobs = BlobStore(self.objects)
        self.packs = PackSet(self.objects / "packs")
        self.journal.packs = self.packs
        self._open: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()  # run id -> its owner
        self._written: dict[str, dict[str, Any]] = {}  # running run id -> tags of the record this process last wrote
        self._outside: dict[str, dict[str, Any]] = {}  # run id -> tags others set while it ran
        self._touched: set[str] = set()  # runs this process tagged or deleted besides writing them
        self._since: dict[str, tuple[int, int, int]] = {}  # running run id -> (dev, ino, end) of its last write

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def ensure(self) -> None:
        """Create the directory on first write (reading a store that does not exist yet is fine)."""
        if self.objects.is_dir():
            return
        try:
            if not self.root.is_dir():
                self.root.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(self.root, 0o700)
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.objects, 0o755)
        except OSError as exc:
            raise StoreWriteError(
                exc.errno or errno.EIO,
                f"nbtrack could not create the store folder {self.root} ({exc.strerror or exc}); nothing was saved",
            ) from exc

    # run records: the documents of self.table --------------------------------------------------

    def put_run(self, doc: dict[str, Any], durable: bool = True) -> None:
        """Write a run record as its owner; ``durable=False`` skips the fsync (for records a later write supersedes).

        Tags set on the run by others since this process last wrote it are merged in (theirs win for
        the same key); if the run was deleted meanwhile, nothing is written and :class:`RunDeletedError`
        says so. :class:`StoreWriteError` when the store cannot be written (nothing of this record is kept).
        """
        run_id = doc["id"]
        if not ids.is_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        self.ensure()
        with self.lock:
            if run_id in self._written and (run_id in self._touched or self.journal.others_wrote()):
                self._collect(run_id)
            theirs = self._outside.get(run_id)
            if theirs:
                doc = {**doc, "tags": {**(doc.get("tags") or {}), **theirs}}
            self.table.put(run_id, doc, durable=durable)
            if doc.get("status") == "running":  # the owner writes again: remember what it wrote, and where
                self._written[run_id] = dict(doc.get("tags") or {})
                with contextlib.suppress(OSError):
                    st = os.stat(self.journal.path)  # under the lock: the end of the line just written
                    self._since[run_id] = (st.st_dev, st.st_ino, st.st_size)
            else:  # its final record: nothing left to merge into
                self._written.pop(run_id, None)
                self._outside.pop(run_id, None)
                self._since.pop(run_id, None)
                if durable:
                    self._open.pop(run_id, None)

    def open_run(self, run_id: str, owner: Any) -> None:
        """``owner`` (the run's lifecycle object) writes run ``run_id``: until its final durable record (or
        until ``owner`` is gone), small blobs go into the journal and become durable with that record."""
        self._open[run_id] = owner

    def _collect(self, run_id: str) -> None:
        """Note what others changed since this process last wrote the run (under the lock); refuse a deleted run.

        Whatever anyone wrote about the run since lies after this process's last line of it in the same
        file: only those bytes are read (a writer that never read the store does not load it to write).
        When another file is in place since (compaction, repair) the whole store is read instead.
        """
        self._touched.discard(run_id)
        since = self._since.get(run_id)
        known, body = last_entry_since(self.journal.path, since, RUNS, run_id) if since else (False, None)
        if known:
            if body is None:
                return  # nobody wrote about it since
            deleted = body.startswith(b'{"op":"del"')
            current = None if deleted else json.loads(body).get("doc")
            tombstoned = deleted and body.endswith(TOMB)
        else:
            current = self.table.documents().get(run_id)
            tombstoned = run_id in self.journal.tombstones.get(RUNS, ())
        if current is None:
            if tombstoned:
                raise RunDeletedError(f"run {run_id} was deleted while it ran; its final record was not saved")
            return  # vanished without a tombstone (lost data, reported on read): written back
        written = self._written[run_id]
        changed = {k: v for k, v in (current.get("tags") or {}).items() if written.get(k, _UNSET) != v}
        if changed:
            self._outside.setdefault(run_id, {}).update(changed)

    def tag_run(self, run_id: str, tags: dict[str, Any]) -> str:
        """Set tags on a recorded run (also a running one: its owner's later records keep them); returns its id."""
        self.ensure()
        with self.lock:
            full = self.resolve(run_id)
            doc = dict(self.table.documents()[full])
            doc["tags"] = {**(doc.get("tags") or {}), **tags}
            self.table.put(full, doc)
            self._touched.add(full)
        return full

    def delete_run(self, run_id: str) -> None:
        """Delete a run's record. A run still running leaves a tombstone, so its owner does not write it back."""
        self.ensure()
        with self.lock:
            doc = self.table.documents().get(run_id)
            if doc is None:
                return
            self.table.delete(run_id, tombstone=doc.get("status") == "running")
            self._touched.add(run_id)

    def run_docs(self) -> Mapping[str, dict[str, Any]]:
        """All run records by id, current as of now, without copies. Treat as read-only."""
        return self.table.documents()

    def get_doc(self, run_id: str) -> dict[str, Any]:
        doc = self.table.get(doc_id=self.resolve(run_id))  # type: ignore[call-overload]  # str ids, as above
        if doc is None:
            raise RunNotFoundError(f"no run {run_id!r} in {self.root}")
        return doc

    def resolve(self, run_id: str) -> str:
        """The full id for an id or an unambiguous prefix of one."""
        text = str(run_id).strip().lower()
        if not ids.is_id_prefix(text):
            raise RunNotFoundError(f"{str(run_id)[:80]!r} is not a run id (26 characters of 0-9 and a-z)")
        docs = self.run_docs()
        if text in docs:
            return text
        with self.journal.guard:  # the index moves with the journal's state (index.py): a binary search
            matches = self.journal.index.with_prefix(text, 11)
        if not matches:
            raise RunNotFoundError(f"no run {text!r} in {self.root}")
        if len(matches) > 1:
            many = f"{len(matches)}" if len(matches) <= 10 else "more than 10"
            raise AmbiguousRunIdError(f"run id prefix {text!r} matches {many} runs; give more characters")
        return matches[0]

    def previous_run_of(self, cell_key: str) -> str | None:
        """The newest run recorded for a cell (``cell_key`` as stored in the records), from the index."""
        docs = self.run_docs()
        with self.journal.guard:
            return self.journal.index.latest_of_cell(cell_key, docs)

    def stamp(self) -> tuple[int, int, int]:
        """Cheap modification stamp of the run records (changes whenever a run is written)."""
        try:
            st = os.stat(self.journal.path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    # content-addressed blobs (blobs.py) --------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """Store a content file; :class:`StoreWriteError` when it cannot be saved (nothing of it is left).

        While a run is open (:meth:`open_run`) a small one is a journal line made durable by the run's
        final record; otherwise a file of its own, durable when this returns.
        """
        self.ensure()
        if not self._open or len(data) > INLINE_MAX:
            return self.blobs.put(data)
        digest = digest_of(data)
        if self.blobs.has(digest):
            return digest
        with self.lock:
            if self._written and self.journal.others_wrote():  # this append hides theirs from put_run's check:
                self._touched.update(self._written)  # its next put_run looks at what they changed
            if self.journal.identity is not None:  # incremental; never a full load just to skip a duplicate line
                self.journal.refresh()
            if digest not in self.journal.inline and not self.packs.has(digest) and not self.blobs.exists(digest):
                self.journal.append([blob_entry(digest, data, time.time())], durable=False)
        self.blobs.remember(digest)
        return digest

    def has_blob(self, digest: str) -> bool:
        """True when this process wrote or saw the blob (cheap: no file system call)."""
        return self.blobs.has(digest)

    def small_blob(self, digest: str) -> bytes | None:
        """A blob held in the journal or a pack (checked against its hash), else None."""
        self.journal.refresh()
        data = self.journal.read_inline(digest)
        if data is None and digest in self.journal.inline:  # compacted since: it moved to a pack
            self.journal.refresh()
            data = self.journal.read_inline(digest)
        return data if data is not None else self.packs.get(digest)

    def blob_exists(self, digest: str) -> bool:
        """True when the store holds the blob: in the journal, a pack or a file of its own."""
        return digest in self.small_blobs() or self.blobs.exists(digest)

    def small_blobs(self) -> set[str]:
        """The hashes of every blob held in the journal or in a pack, as of now."""
        self.journal.refresh()
        return set(self.journal.inline) | set(self.packs.entries())

    def get_blob(self, digest: str) -> bytes:
        """A content file's bytes; :class:`MissingBlobError` naming the file and the runs that refer to it."""
        self.blobs.path(digest)  # ValueError for anything that is not a hash
        data = self.small_blob(digest)
        if data is not None:
            return data
        try:
            return self.blobs.get(digest)
        except MissingBlobError as exc:
            users = sorted(run_id for run_id, doc in self.run_docs().items() if digest in referenced_blobs(doc))
            whose = f"run(s) {', '.join(users[:10])} refer to it" if users else "no run record refers to it directly"
            raise MissingBlobError(errno.ENOENT, f"{exc} ({whose}); `nbtrack doctor` lists what is missing") from exc

    def put_json(self, obj: Any) -> str:
        return self.put_blob(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())

    def get_json(self, digest: str) -> Any:
        return json.loads(self.get_blob(digest))


_UNSET = object()
_stores: dict[Path, Store] = {}
_stores_guard = threading.Lock()
_default: Path | None = None


def default_store_path() -> Path:
    if _default is not None:
        return _default
    env = os.environ.get("NBTRACK_DIR")
    return Path(env).expanduser().absolute() if env else Path.cwd() / ".nbtrack"


def get_store(path: str | os.PathLike[str] | Store | None = None) -> Store:
    """The shared :class:`Store` for ``path`` (default: ``NBTRACK_DIR`` or ``./.nbtrack``)."""
    if isinstance(path, Store):
        return path
    root = Path(path).expanduser().absolute() if path is not None else default_store_path()
    with _stores_guard:
        store = _stores.get(root)
        if store is None:
            store = _stores[root] = Store(root)
        return store


def set_store(path: str | os.PathLike[str] | None) -> Store | None:
    """Make ``path`` the default store of this process (None: back to ``NBTRACK_DIR`` / ``./.nbtrack``)."""
    global _default
    _default = Path(path).expanduser().absolute() if path is not None else None
    return get_store() if path is not None else None
