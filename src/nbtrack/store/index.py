"""Indexes over the run records, kept by the journal as it replays: id prefixes and each cell's latest run.

``get_run("01j9ab")`` and the ``%%track`` magic's "previous run of this cell" used to scan every record;
at 100,000 runs that is a noticeable pause on every lookup. The journal calls :meth:`RunIndex.put` and
:meth:`RunIndex.remove` for each run record it applies (a full load, the tail it replays, or its own
appends), so a lookup costs a binary search (prefixes) or a dict access (cells).

The sorted id list is rebuilt lazily: ids are created in time order, so appending keeps it sorted and an
out-of-order id (or a removal) only marks it for one re-sort at the next lookup.
"""

from __future__ import annotations

import bisect
from collections.abc import Container, Mapping
from typing import Any


class RunIndex:
    """Run ids in sorted order and, per stored ``cell_key``, the newest run id recorded for it."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._members: set[str] = set()
        self._sorted = True
        self._cells: dict[str, str] = {}  # stored cell_key -> newest run id seen with it (checked on lookup)
        self._restored: list[str] | None = None  # a checkpoint's ids, made a set and sorted when first needed

    @classmethod
    def restored(cls, ids: list[str], cells: dict[str, str], held: Container[str]) -> RunIndex:
        """The index of a checkpoint's runs (checkpoint.py): their ids and each cell's newest run, as stored;
        ``held``: the ids the checkpoint holds. The set and order of 100,000 ids (~6 ms) are made at the
        first lookup or write, which a process that only reads a table never makes."""
        if not all(type(k) is str and type(v) is str and v in held for k, v in cells.items()):
            raise ValueError("the checkpoint's cells name runs it does not hold")
        index = cls()
        index._restored = ids
        index._cells = dict(cells)
        return index

    def _members_now(self) -> set[str]:
        if self._restored is not None:
            self._members = set(self._restored)
            self._ids = sorted(self._restored)  # in the order they were recorded: nearly sorted, a quick sort
            self._restored = None
        return self._members

    def put(self, run_id: str, doc: Any) -> None:
        members = self._members_now()
        if run_id not in members:
            members.add(run_id)
            if self._ids and run_id < self._ids[-1]:
                self._sorted = False
            self._ids.append(run_id)
        cell = doc.get("cell_key") if isinstance(doc, dict) else None
        if isinstance(cell, str):
            latest = self._cells.get(cell)
            if latest is None or run_id > latest:
                self._cells[cell] = run_id

    def remove(self, run_id: str) -> None:
        members = self._members_now()
        if run_id in members:
            members.discard(run_id)
            self._sorted = False  # dropped from the list at the next lookup

    def _order(self) -> list[str]:
        members = self._members_now()
        if not self._sorted:
            self._ids = sorted(members)
            self._sorted = True
        return self._ids

    def with_prefix(self, prefix: str, most: int = 2) -> list[str]:
        """Up to ``most`` run ids starting with ``prefix``, in order."""
        ids = self._order()
        at = bisect.bisect_left(ids, prefix)
        found: list[str] = []
        while at < len(ids) and len(found) < most and ids[at].startswith(prefix):
            found.append(ids[at])
            at += 1
        return found

    def latest_of_cell(self, cell_key: str, docs: Mapping[str, Any]) -> str | None:
        """The newest run recorded for stored ``cell_key`` among ``docs`` (the live records).

        The index answers when it has no entry or its entry is still live and still that cell's; after
        the newest run was deleted it falls back to one scan of ``docs`` and remembers the answer.
        """
        latest = self._cells.get(cell_key)
        if latest is None:  # every applied record went through put(): no run of this cell
            return None
        doc = docs.get(latest)
        if isinstance(doc, dict) and doc.get("cell_key") == cell_key:
            return latest
        found = None
        for run_id, doc in docs.items():
            if isinstance(doc, dict) and doc.get("cell_key") == cell_key and (found is None or run_id > found):
                found = run_id
        if found is None:
            self._cells.pop(cell_key, None)
        else:
            self._cells[cell_key] = found
        return found
