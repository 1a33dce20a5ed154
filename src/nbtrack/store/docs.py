"""The run records of a replayed journal, by id: decoded from the checkpoint only when they are read.

A fresh process that opened a 100,000-run store used to decode every record of the checkpoint before its
first lookup: about a second, and ~300 MB of dicts, even to show one run or to find the previous run of a
cell. :class:`Docs` holds the records restored from a checkpoint (checkpoint.py) as compressed blocks of a few
hundred rows and decodes a block the first time one of its records is read; iterating over the values
decodes them all. Records the journal's tail or this process wrote are plain entries, as before.

It also keeps a log of the ids whose record was set or removed since it was made, so a view that keeps a
table of the runs (query/table.py) can catch up with the changes without comparing every record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, ItemsView, Iterable, Iterator, MutableMapping, ValuesView
from typing import Any

LOG_KEPT = 100_000  # log entries kept beyond one per record; a reader further behind starts over


class Block:
    """Records ``ids`` of a checkpoint, not decoded yet; ``decode()`` gives their documents in that order."""

    __slots__ = ("decode", "ids", "left")

    def __init__(self, ids: list[str], decode: Callable[[], list[Any]]) -> None:
        self.ids = ids
        self.decode = decode
        self.left = len(ids)  # of its ids, those whose record is still this block's


class Docs(MutableMapping[str, Any]):
    """``{run id: record}`` in the order the journal applied them, with lazily decoded checkpoint blocks.

    ``base`` names the checkpoint the undecoded records came from (None: none did); ``log`` lists the ids set
    or removed since, in order (an id can appear more than once), after the ``dropped`` first entries, which
    a long-lived process forgets (:data:`LOG_KEPT`). Records are shared, never copied: read-only.
    """

    def __init__(self, items: dict[str, Any] | None = None, base: str | None = None) -> None:
        self._items: dict[str, Any] = items if items is not None else {}
        self._pending = 0  # blocks not decoded yet
        self._decoding = threading.Lock()
        self.base = base
        self.log: list[str] = []
        self.dropped = 0  # entries forgotten from the start of the log

    @classmethod
    def lazy(cls, blocks: Iterable[Block], base: str) -> Docs:
        """The records of a checkpoint, each block decoded when one of its records is first read."""
        made = list(blocks)
        docs = cls({key: block for block in made for key in block.ids}, base)
        docs._pending = len(made)
        return docs

    @property
    def decoded(self) -> bool:
        """True when no record is waiting to be decoded."""
        return self._pending == 0

    def is_pending(self, key: str) -> bool:
        """True when ``key``'s record is still the checkpoint's, not decoded yet."""
        return type(self._items.get(key)) is Block

    def _decode(self, block: Block) -> None:
        with self._decoding:
            if block.left == 0:
                return  # another thread decoded it, or every record of it was replaced
            items = self._items
            for key, doc in zip(block.ids, block.decode(), strict=True):
                if items.get(key) is block:  # not replaced since: the journal's tail wins
                    items[key] = doc
            block.left = 0
            self._pending -= 1

    def _replacing(self, old: Block) -> None:
        with self._decoding:
            if old.left > 0:
                old.left -= 1
                self._pending -= old.left == 0  # its last pending record: the block is never decoded

    def decode_all(self) -> None:
        """Decode every pending block (before a full iteration over the records)."""
        if self._pending:
            for block in {id(v): v for v in list(self._items.values()) if type(v) is Block}.values():
                self._decode(block)

    def passing(self) -> Iterator[tuple[str, Any]]:
        """Every ``(id, record)`` as of now, decoding pending blocks without keeping what they decode
        (a process that builds a table of all runs once need not hold 100,000 records afterwards)."""
        with self._decoding:
            snapshot = list(self._items.items())
        decoded: dict[int, dict[str, Any]] = {}
        for key, value in snapshot:
            if type(value) is Block:
                found = decoded.get(id(value))
                if found is None:
                    decoded.clear()  # blocks come in order: one at a time is enough
                    found = decoded[id(value)] = dict(zip(value.ids, value.decode(), strict=True))
                value = found[key]
            yield key, value

    # Mapping --------------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = self._items[key]
        if type(value) is Block:
            self._decode(value)
            value = self._items[key]
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._items.get(key, default)
        if type(value) is Block:
            self._decode(value)
            value = self._items.get(key, default)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> Any:
        return self._items.keys()

    def values(self) -> ValuesView[Any]:
        self.decode_all()
        return self._items.values()

    def items(self) -> ItemsView[str, Any]:
        self.decode_all()
        return self._items.items()

    def __setitem__(self, key: str, doc: Any) -> None:
        old = self._items.get(key)
        if type(old) is Block:
            self._replacing(old)
        self._items[key] = doc
        self._logged(key)

    def __delitem__(self, key: str) -> None:
        old = self._items[key]
        if type(old) is Block:
            self._replacing(old)
        del self._items[key]
        self._logged(key)

    def _logged(self, key: str) -> None:
        log = self.log
        log.append(key)
        if len(log) > LOG_KEPT + len(self._items):  # a server following a store for weeks: keep it bounded
            half = len(log) // 2
            del log[:half]
            self.dropped += half

    def discard(self, key: str) -> None:
        """Remove ``key``'s record if there is one, without decoding it (a delete replayed from the journal)."""
        if key in self._items:
            del self[key]

    def pop(self, key: str, *default: Any) -> Any:
        if key in self._items:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def copy(self) -> dict[str, Any]:
        """A plain dict of every record (all decoded)."""
        self.decode_all()
        return dict(self._items)

    def __repr__(self) -> str:
        return f"Docs({len(self._items)} records, {self._pending} blocks not decoded)"
