"""The local store: run metadata in TinyDB over a crash-safe journal, large things as content-addressed files.

Layout of a store directory (``.nbtrack/`` by default)::

    runs.jsonl          run records, one checksummed JSON line per write (see journal.py)
    lock                the inter-process write lock (see lock.py)
    objects/ab/cdef...  content-addressed blobs: notebook snapshots, histories, series, package lists
    push/<hash>.jsonl   what was pushed to which tracking server, one file per server (see remote_state.py)

A blob is named by the BLAKE2b-128 hash of its bytes and written to a temporary file, fsynced and
renamed into place before any run record refers to it, so a record never points at half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.table import Table

from nbtrack import ids
from nbtrack.errors import AmbiguousRunIdError, RunNotFoundError
from nbtrack.store.journal import Journal, JournalStorage, _fsync_dir, _write_all
from nbtrack.store.lock import FileLock

RUNS = "runs"
_HASH_CHARS = frozenset("0123456789abcdef")


class _RunTable(Table):
    document_id_class = str  # run ids are the TinyDB document ids


class _RunDB(TinyDB):
    table_class = _RunTable


class Store:
    """One store directory. Use :func:`get_store` to share one instance per directory in a process."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.objects = self.root / "objects"
        self.lock = FileLock(self.root / "lock")
        self.journal = Journal(self.root / "runs.jsonl", self.lock)
        self.db = _RunDB(storage=JournalStorage, journal=self.journal)
        self.table = self.db.table(RUNS, cache_size=0)
        self._known_blobs: set[str] = set()
        self._mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def ensure(self) -> None:
        """Create the directory on first write (reading a store that does not exist yet is fine)."""
        if not self.objects.is_dir():
            self.objects.mkdir(parents=True, exist_ok=True)

    # run records -----------------------------------------------------------------------------

    def put_run(self, doc: dict[str, Any], durable: bool = True) -> None:
        """Write a run record; ``durable=False`` skips the fsync (for records a later write supersedes)."""
        run_id = doc["id"]
        if not ids.is_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        self.ensure()
        with self._mutex:
            self.journal.append([{"op": "put", "t": RUNS, "id": run_id, "doc": doc}], durable=durable)

    def delete_run(self, run_id: str) -> None:
        self.ensure()
        with self._mutex:
            self.journal.append([{"op": "del", "t": RUNS, "id": run_id}])

    def run_docs(self) -> dict[str, dict[str, Any]]:
        """All run records by id, current as of now. Treat as read-only."""
        with self._mutex:
            return self.journal.refresh().get(RUNS, {})

    def get_doc(self, run_id: str) -> dict[str, Any]:
        doc = self.run_docs().get(self.resolve(run_id))
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

    # content-addressed blobs -------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        if digest in self._known_blobs:
            return digest
        path = self._blob_path(digest)
        if not path.exists():
            self.ensure()
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        self._known_blobs.add(digest)
        return digest

    def has_blob(self, digest: str) -> bool:
        """True when this process wrote or saw the blob (cheap: no file system call)."""
        return digest in self._known_blobs

    def get_blob(self, digest: str) -> bytes:
        return self._blob_path(digest).read_bytes()

    def put_json(self, obj: Any) -> str:
        return self.put_blob(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())

    def get_json(self, digest: str) -> Any:
        return json.loads(self.get_blob(digest))

    def _blob_path(self, digest: str) -> Path:
        if len(digest) != 32 or not _HASH_CHARS.issuperset(digest):
            raise ValueError(f"not a blob hash: {digest[:80]!r}")
        return self.objects / digest[:2] / digest[2:]


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
