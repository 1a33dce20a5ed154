"""The local store: run records as TinyDB documents over a crash-safe journal, large things as blobs.

Layout of a store directory (``.nbtrack/`` by default; details in docs/store.md)::

    runs.jsonl          run records, one checksummed JSON line per changed document (see journal.py)
    lock                the inter-process write lock (see lock.py)
    objects/ab/cdef...  content-addressed blobs: notebook snapshots, histories, series, package lists (blobs.py)
    push/<hash>.jsonl   what was pushed to which tracking server, one file per server (remote/state.py)

Every read and write of run records goes through the TinyDB table ``Store.table`` (tinydb_table.py), so
``store.table.search(Query().params.lr < 0.1)`` and ``nbtrack.runs(where=Query()...)`` see what the
rest of nbtrack sees.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, cast

from nbtrack import ids
from nbtrack.errors import AmbiguousRunIdError, RunNotFoundError
from nbtrack.store.blobs import BlobStore
from nbtrack.store.journal import RUNS_TABLE, Journal
from nbtrack.store.lock import FileLock
from nbtrack.store.tinydb_table import JournalDB, JournalStorage, JournalTable

RUNS = RUNS_TABLE
__all__ = ["RUNS", "AmbiguousRunIdError", "RunNotFoundError", "Store", "default_store_path", "get_store", "set_store"]


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

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def ensure(self) -> None:
        """Create the directory on first write (reading a store that does not exist yet is fine)."""
        if not self.objects.is_dir():
            self.objects.mkdir(parents=True, exist_ok=True)

    # run records: the documents of self.table --------------------------------------------------

    def put_run(self, doc: dict[str, Any], durable: bool = True) -> None:
        """Write a run record; ``durable=False`` skips the fsync (for records a later write supersedes)."""
        run_id = doc["id"]
        if not ids.is_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        self.table.put(run_id, doc, durable=durable)

    def delete_run(self, run_id: str) -> None:
        self.table.remove(doc_ids=[run_id])  # type: ignore[list-item]  # str ids; TinyDB annotates int

    def run_docs(self) -> dict[str, dict[str, Any]]:
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
        matches = [key for key in docs if key.startswith(text)]
        if not matches:
            raise RunNotFoundError(f"no run {text!r} in {self.root}")
        if len(matches) > 1:
            raise AmbiguousRunIdError(f"run id prefix {text!r} matches {len(matches)} runs; give more characters")
        return matches[0]

    def stamp(self) -> tuple[int, int, int]:
        """Cheap modification stamp of the run records (changes whenever a run is written)."""
        try:
            st = os.stat(self.journal.path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    # content-addressed blobs (blobs.py) --------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        return self.blobs.put(data)

    def has_blob(self, digest: str) -> bool:
        """True when this process wrote or saw the blob (cheap: no file system call)."""
        return self.blobs.has(digest)

    def get_blob(self, digest: str) -> bytes:
        return self.blobs.get(digest)

    def put_json(self, obj: Any) -> str:
        return self.blobs.put_json(obj)

    def get_json(self, digest: str) -> Any:
        return self.blobs.get_json(digest)


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
