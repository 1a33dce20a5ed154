"""TinyDB as the store's document layer: run records are the documents of a TinyDB table over the journal.

TinyDB's ``Table`` has one write path, ``_update_table``: read the whole database, let an updater change
the table, write the whole database back (which its stock ``JSONStorage`` does by rewriting the file).
:class:`JournalTable` keeps that path and TinyDB's API (``insert``, ``upsert``, ``update``, ``remove``,
``truncate``, ``get``, ``search``, ``all``) but hands the updater a :class:`ChangeView` of the table that
records what it changes; :class:`JournalStorage` then appends one checksummed journal line per changed
document, under the store's lock. A write costs the documents it changes, not the size of the store.

Reads are served from the journal's replayed state (the lines other processes appended are read
incrementally on each call) without copying every document: TinyDB's ``Document`` is a copy of the top
level of a record, nested values are shared with the state, so treat them as read-only and write changes
through the table. TinyDB's query cache is cleared whenever the journal changed, also by another process.

Run ids are the document ids (strings). Documents written to the ``runs`` table must carry their id
in ``"id"`` (an inserted document without one gets it, ``insert`` without an id makes a new run id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import Any, cast

from tinydb import TinyDB
from tinydb.queries import QueryLike
from tinydb.storages import Storage
from tinydb.table import Document, Table

from nbtrack import ids
from nbtrack.store.journal import RUNS_TABLE, Journal

Doc = dict[str, Any]


def copy_doc(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars): several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: copy_doc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_doc(v) for v in value]
    return value


class JournalStorage(Storage):
    """TinyDB storage over a :class:`Journal`.

    :class:`JournalTable` reads one table's live state (:meth:`documents`) and appends changed documents
    (:meth:`append_changes`). ``read``/``write`` are TinyDB's whole-database interface, kept for the rest
    of TinyDB (``tables()``, ``drop_table``...): ``write`` appends only the documents that differ.
    """

    def __init__(self, journal: Journal, prepare: Callable[[], None] | None = None) -> None:
        self.journal = journal
        self._prepare = prepare  # creates the store directory before the first write

    def documents(self, table: str) -> dict[str, Doc]:
        """The live ``{doc_id: document}`` of ``table``, current as of now. Read-only."""
        return self.journal.refresh().get(table, {})

    def generation(self) -> int:
        """A number that changes whenever any process changed the journal (read since last time)."""
        self.journal.refresh()
        return self.journal.generation

    def writing(self) -> AbstractContextManager[Any]:
        """The store's write lock, held across a read-modify-write so no other writer interleaves."""
        if self._prepare is not None and not self.journal.lock.held:  # a holder of the lock has prepared
            self._prepare()
        return self.journal.lock

    def append_changes(
        self, table: str, puts: Mapping[str, Doc], deletes: Iterable[str], durable: bool = True, tombstone: bool = False
    ) -> None:
        """Append the changed documents; ``tombstone`` marks the deletes as tombstones (see journal.py)."""
        entries: list[dict[str, Any]] = [{"op": "put", "t": table, "id": key, "doc": doc} for key, doc in puts.items()]
        extra = {"tomb": True} if tombstone else {}
        entries.extend({"op": "del", "t": table, "id": key, **extra} for key in deletes)
        if entries:
            self.journal.append(entries, durable=durable)

    def read(self) -> dict[str, dict[str, Any]] | None:
        # Fresh table dicts (TinyDB pops and adds tables in what it reads); the documents are the state's.
        return {table: docs.copy() for table, docs in self.journal.refresh().items()}  # plain dicts

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        with self.writing():
            current = self.journal.refresh()
            for table in set(current) | set(data):
                old, new = current.get(table, {}), {str(k): v for k, v in data.get(table, {}).items()}
                puts = {key: doc for key, doc in new.items() if old.get(key) != doc}
                self.append_changes(table, puts, [key for key in old if key not in new])

    def close(self) -> None:
        pass


class ChangeView(MutableMapping[str, Doc]):
    """One table as TinyDB's updaters see it, recording what they put and delete.

    The table is read only when the updater asks for it (a plain ``put`` never reads the store), and a
    document read is a deep copy, since TinyDB's ``update`` edits documents in place.
    """

    def __init__(self, load: Callable[[], Mapping[str, Doc]]) -> None:
        self._load = load
        self._base: Mapping[str, Doc] | None = None
        self.changed: dict[str, Doc] = {}
        self.deleted: set[str] = set()

    @property
    def base(self) -> Mapping[str, Doc]:
        if self._base is None:
            self._base = self._load()
        return self._base

    def __getitem__(self, key: str) -> Doc:
        if key in self.changed:
            return self.changed[key]
        if key in self.deleted:
            raise KeyError(key)
        doc = self.changed[key] = copy_doc(self.base[key])
        return doc

    def __setitem__(self, key: str, doc: Doc) -> None:
        self.deleted.discard(key)
        self.changed[key] = doc

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.changed.pop(key, None)
        self.deleted.add(key)

    def __contains__(self, key: object) -> bool:
        if key in self.changed:
            return True
        return key not in self.deleted and key in self.base

    def __iter__(self) -> Iterator[str]:
        base = self.base
        yield from (key for key in base if key not in self.deleted)
        yield from (key for key in list(self.changed) if key not in base)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def changes(self) -> tuple[dict[str, Doc], list[str]]:
        """Documents to append (new or different from the journal's) and ids to delete."""
        if self._base is None:  # never read: everything set is written
            return dict(self.changed), []
        base = self._base
        puts = {key: doc for key, doc in self.changed.items() if base.get(key) != doc}
        return puts, [key for key in self.deleted if key in base]


class JournalTable(Table):
    """A TinyDB table whose writes append changed documents to the journal (see the module docstring)."""

    document_id_class = str  # type: ignore[assignment]  # run ids are the document ids; TinyDB annotates int

    def __init__(self, storage: Storage, name: str, cache_size: int = 10, persist_empty: bool = False) -> None:
        if not isinstance(storage, JournalStorage):
            raise TypeError(f"{type(self).__name__} needs a JournalStorage, not {type(storage).__name__}")
        self._journal_storage = storage
        self._seen_generation = -1
        super().__init__(storage, name, cache_size=cache_size, persist_empty=persist_empty)

    def documents(self) -> dict[str, Doc]:
        """The live ``{doc_id: document}`` of this table, current as of now, without copies. Read-only."""
        return self._journal_storage.documents(self.name)

    def put(self, doc_id: str, document: Mapping[str, Any], durable: bool = True) -> None:
        """Replace (or create) one document: one appended line, no read of the store.

        ``durable=False`` skips the fsync, for a record that a later write supersedes.
        """
        self._update_table(lambda table: table.__setitem__(doc_id, dict(document)), durable=durable)

    def delete(self, doc_id: str, *, tombstone: bool = False) -> bool:
        """Remove one document (False if there is none); a ``tombstone`` survives compaction, so the
        document's writer can tell it was deleted rather than lost."""
        storage = self._journal_storage
        with storage.writing():
            if doc_id not in storage.documents(self.name):
                return False
            storage.append_changes(self.name, {}, [doc_id], tombstone=tombstone)
        self.clear_cache()
        return True

    def search(self, cond: QueryLike) -> list[Document]:
        """TinyDB's search, with a cache that another process's write clears, and where a value the query
        cannot compare (``Query().params.lr < 0.1`` on a string or a tagged NaN) does not match."""
        self._sync_cache()
        cached = self._query_cache.get(cond)
        if cached is not None:
            return cached[:]
        docs = [Document(doc, doc_id) for doc_id, doc in self.documents().items() if _matches(cond, doc)]  # type: ignore[arg-type]  # str ids
        is_cacheable: Callable[[], bool] = getattr(cond, "is_cacheable", lambda: True)
        if is_cacheable():
            self._query_cache[cond] = docs[:]
        return docs

    def _sync_cache(self) -> None:
        generation = self._journal_storage.generation()
        if generation != self._seen_generation:
            self.clear_cache()
            self._seen_generation = generation

    def _read_table(self) -> dict[str, Mapping[str, Any]]:
        return cast(dict[str, Mapping[str, Any]], self.documents())

    def _get_next_id(self) -> str:  # TinyDB's ids are ints; ours are run ids (TinyDB leaves it unannotated)
        return ids.new_run_id()

    def _update_table(self, updater: Callable[[dict[Any, Mapping[str, Any]]], None], durable: bool = True) -> None:
        storage = self._journal_storage
        with storage.writing():
            view = ChangeView(lambda: storage.documents(self.name))
            updater(cast(dict[Any, Mapping[str, Any]], view))
            puts, deletes = view.changes()
            if self.name == RUNS_TABLE:
                for key, doc in puts.items():
                    _check_run(key, doc)
            storage.append_changes(self.name, puts, deletes, durable=durable)
        self.clear_cache()


def _matches(cond: QueryLike, doc: Mapping[str, Any]) -> bool:
    try:
        return bool(cond(doc))
    except TypeError:
        return False


def _check_run(key: str, doc: Doc) -> None:
    if not ids.is_run_id(key):
        raise ValueError(f"not a run id: {key!r}")
    if doc.setdefault("id", key) != key:
        raise ValueError(f"run document {key!r} says its id is {doc['id']!r}")


class JournalDB(TinyDB):
    """TinyDB over the store's journal; its default table is the runs (``db.search(...)`` searches runs)."""

    table_class = JournalTable
    default_table_name = RUNS_TABLE
