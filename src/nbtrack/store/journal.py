"""The run-metadata file: an append-only JSON-lines journal (TinyDB's storage, see tinydb_table.py).

TinyDB's stock JSONStorage rewrites the whole file on every write, so a write costs time in
proportion to the store, a crash mid-write loses everything, and a concurrent reader can see half a
file. Here every write appends one checksummed line per changed document under the store's file lock and
fsyncs it; a reader replays only the lines added since its last read. A line cut short by a crash has no
newline and no valid checksum: readers ignore it and the next writer cuts it off. Compaction (compaction.py)
replaces the file by its live lines; a fresh reader starts from the checkpoint written then (checkpoint.py).

Line format: ``<crc32 of payload, 8 hex digits> <payload JSON>\\n`` where the payload is
``{"op": "put" | "del", "t": table, "id": key, "doc": {...}}``; compaction keeps a tombstone (``"tomb": true``).

Committed data that vanishes (a truncated file, a lost line) is noticed through the lock file's high-water
mark (mark.py) and reported. Store files are opened as files.py says: no symlink, no FIFO, unpredictable new names.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from nbtrack.errors import NbtrackError, StoreCorruptError, StoreCorruptionWarning, StoreWriteError
from nbtrack.store import checkpoint, collector, compaction, files, mark
from nbtrack.store.docs import Docs
from nbtrack.store.index import RunIndex
from nbtrack.store.lines import (
    CHUNK_PREFIX,
    FORMAT,
    PREFIX,
    TOMB,
    blob_of,
    checked_body,
    chunk_lines,
    cut_torn_tail,
    decode_line,
    encode_line,
    header_line,
    named_run,
    read_all,
    warn_problems,
)
from nbtrack.store.lock import FileLock
from nbtrack.store.packs import PackSet, read_line_blob

__all__ = [
    "FORMAT",
    "RUNS_TABLE",
    "Journal",
    "StoreCorruptError",
    "StoreCorruptionWarning",
    "decode_line",
    "encode_line",
]

_HEADER_OP = "header"
DEAD_BYTES = 1 << 20  # compact also when this much (and half the rest) is superseded or blob lines: small stores
RUNS_TABLE = "runs"


class Journal:
    """The replayed state of one journal file: ``{table: {key: doc}}``."""

    def __init__(self, path: Path, lock: FileLock) -> None:
        self.path = Path(path)
        self.lock = lock
        self.state: dict[str, Any] = {}  # table -> Docs (docs.py)
        self.problems: list[str] = []  # one sentence per damaged line, for warnings and `nbtrack doctor`
        self.losses: list[str] = []  # committed data that vanished (checked against the mark, see mark.py)
        self.tombstones: dict[str, set[str]] = {}  # ids deleted while they ran: never written back
        self.inline: dict[str, tuple[int, int]] = {}  # blob lines (lines.py): hash -> (offset, length) in this file
        self.packs: PackSet | None = None  # where compaction moves blob lines (the Store's objects/packs)
        self.index = RunIndex()  # id prefixes and cells of the runs table, kept as lines are applied (index.py)
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._line_no = 0
        self._valid = 0
        self._superseded = 0
        self._dead_bytes = 0  # what compaction would reclaim: superseded and blob lines
        self._warned: set[str] = set()
        self._mine: tuple[int, int, int] | None = None  # (dev, ino, size) right after our last append
        self._epoch_of: tuple[tuple[int, int], bytes] | None = None  # (file identity, its header's epoch)
        self._compact_at = 0  # after a failed compaction, wait for this many dead lines before retrying
        self._suspect = False  # the last read found less than the mark says: look again under the lock
        self._judged: tuple[tuple[int, int], int] | None = None  # a file with no whole line, already checked
        self.generation = 0  # changes whenever the state does: TinyDB's query cache is cleared on it
        self._guard = threading.RLock()  # one thread at a time moves the state and the read offset
        self._blind = 0  # bytes appended by a process that never read the journal (see append)
        self._blind_from = 0  # the journal's size at its first such append

    @property
    def guard(self) -> threading.RLock:
        """Held while the state (and its index) is read consistently by another module."""
        return self._guard

    # reading -------------------------------------------------------------------------------------

    def refresh(self) -> dict[str, Any]:
        """Bring the state up to date with the file, reading only what was appended since last time."""
        with self._guard, collector.paused():  # a checkpoint or a long tail: many objects, no cycles
            self._suspect = False
            state = self._refresh()
            if not self._suspect:
                return state
        # The file does not hold what its mark says. A writer may be replacing both right now
        # (compaction): look again under its lock before calling it a loss (outside the guard: lock first).
        try:
            with self.lock, self._guard:
                self._reset(None)
                return self._refresh(checked=True)
        except (OSError, NbtrackError):  # a store this user cannot lock (read-only): judge without the lock
            with self._guard:
                self._reset(None)
                return self._refresh(checked=True)

    def _open(self) -> tuple[int, os.stat_result] | None:
        try:
            return files.open_regular_stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreCorruptError(
                f"{self.path} cannot be read as an nbtrack store file ({exc.strerror or exc}); nbtrack never "
                f"follows a symlink or reads a FIFO or device at a store file name"
            ) from exc

    def _refresh(self, checked: bool = False) -> dict[str, Any]:
        opened = self._open()
        if opened is None:
            if self._identity is not None or self.state:
                self._reset(None)
            committed = mark.read(self.lock.path)  # then the file again: a writer may have just created it
            if committed is not None and committed.length and not self.losses and not self.path.exists():
                self._lost(f"the file is gone (nbtrack last wrote {committed.length:,} bytes to it)")
                self._warn_problems()
            return self.state
        fd, st = opened
        try:
            identity = (st.st_dev, st.st_ino)
            if identity != self._identity or st.st_size < self._offset:
                self._reset(identity)
            fresh = self._offset == 0
            if (st.st_size == self._offset and not fresh) or (fresh and self._judged == (identity, st.st_size)):
                return self.state  # nothing new (an empty or headless file: judged once, not at every read)
            committed = None
            if fresh:  # the mark first, then the size: an append in between only makes the file longer
                committed = mark.applies(fd, mark.read(self.lock.path))
                st = os.fstat(fd)
            gone = mark.missing(fd, st.st_size, committed) if committed is not None else None
            if gone is not None and not checked and not self.lock.held:
                self._suspect = True
                return self.state
            if fresh and (snapshot := checkpoint.load(self.path, fd, st.st_size)) is not None:
                self._restore(snapshot)  # the documents as of the last compaction: only the lines after them are read
            os.lseek(fd, self._offset, os.SEEK_SET)
            chunk = read_all(fd, st.st_size - self._offset)
        finally:
            os.close(fd)
        end = chunk.rfind(b"\n")
        lines = chunk[: end + 1]
        lead = committed.length - self._offset if committed is not None else 0  # the mark, in this chunk
        if committed is not None and gone is None and 0 < lead <= len(lines):
            self._replay(lines[:lead].split(b"\n")[:-1], self._offset)
            live = sum(len(t) for t in self.state.values())
            if committed.count >= 0 and live < committed.count and not self.problems:
                self._lost(
                    f"{committed.count - live} committed document(s) are missing before byte {committed.length:,}"
                )
            lines = lines[lead:]
        if lines:
            self._replay(lines.split(b"\n")[:-1], self._offset + end + 1 - len(lines))
        if committed is not None and gone is not None:
            left = sum(len(t) for t in self.state.values())
            self._lost(
                gone + (f"; {committed.count} document(s) were committed, {left} are left" * (committed.count >= 0))
            )
        if fresh and self._line_no and not self._valid:
            raise StoreCorruptError(
                f"{self.path} is not an nbtrack store file (no line of it is a journal line). "
                f"Move it aside or run `nbtrack doctor --repair`; other store files are untouched."
            )
        self._offset += end + 1
        self._judged = (identity, st.st_size) if self._offset == 0 else None
        self._warn_problems()
        return self.state

    def _lost(self, detail: str) -> None:
        loss = f"{self.path}: committed data is missing: {detail}"
        if loss not in self.losses:
            self.losses.append(loss)

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self.generation += 1
        self.state = {}
        self.problems = []
        self.losses = []
        self.tombstones = {}
        self.inline = {}
        self.index = RunIndex()
        self._identity = identity
        self._offset = 0
        self._line_no = 0
        self._valid = 0
        self._superseded = 0
        self._dead_bytes = 0
        self._judged = None

    def _restore(self, snapshot: checkpoint.Snapshot) -> None:
        """Start from a checkpoint that matches the file (checkpoint.py), as if its lines had been replayed."""
        self.generation, self.state, self.tombstones = self.generation + 1, snapshot.state, snapshot.tombstones
        self._offset, self._line_no, self._valid = snapshot.covers, snapshot.lines, snapshot.lines
        self.index = snapshot.index

    def _replay(self, lines: Iterable[bytes], at: int) -> None:
        """Apply lines to the state. A document is JSON-decoded only if no later line replaces it.

        Every line's checksum is verified, but most runs have two lines (``running``, then final):
        reading the key from the fixed prefix nbtrack writes and decoding only the last version of
        each document halves the cost of opening a large store.
        """
        self.generation += 1
        latest: dict[tuple[Any, Any], tuple[int, str, bytes | dict[str, Any] | None]] = {}
        known = self.state
        for start, line in self._expand(lines, at):
            body = checked_body(line)
            digest = blob_of(body) if body is not None else None
            if digest is not None:  # a blob line: not decoded, only found again by its offset
                self.inline[digest] = (start, len(line))
                self._valid += 1
                self._superseded += 1  # compaction moves it to a pack
                self._dead_bytes += len(line)
                continue
            if body is None:
                self.problems.append(
                    f"{self.path}, line {self._line_no}: damaged (bad checksum or JSON){named_run(line)}"
                )
                continue
            match = PREFIX.match(body)
            if match is not None:  # keys stay bytes until the end: most lines are superseded anyway
                op_bytes, table_name, key = match.groups()
                op = "put" if op_bytes == b"put" else "del"
                entry: bytes | dict[str, Any] | None = body
                tomb = op == "del" and body.endswith(TOMB)
            else:
                try:
                    payload = json.loads(body)
                except ValueError:
                    self.problems.append(f"{self.path}, line {self._line_no}: damaged (bad checksum or JSON)")
                    continue
                op = payload.get("op")
                if op == _HEADER_OP:
                    self._valid += 1
                    continue
                if op not in ("put", "del"):
                    self.problems.append(f"{self.path}, line {self._line_no}: unknown operation {op!r}")
                    continue
                table_name, key, entry = str(payload.get("t")), str(payload.get("id")), payload
                tomb = op == "del" and payload.get("tomb") is True
            self._valid += 1
            ident = (table_name, key)
            previous = latest.get(ident)
            if previous is not None:
                existed = previous[1] == "put"
            else:
                table = known.get(table_name.decode() if isinstance(table_name, bytes) else table_name)
                existed = table is not None and (key.decode() if isinstance(key, bytes) else key) in table
            if op == "put":
                self._superseded += existed
            else:  # the put it removes, and the del line itself unless it is a tombstone compaction keeps
                self._superseded += existed + (not tomb)
            self._dead_bytes += len(line) * existed  # about the size of the line it supersedes
            latest.pop(ident, None)  # re-insert, so dict order follows the file
            latest[ident] = (self._line_no, "tomb" if tomb else op, entry)
        # One JSON parse for all documents to decode: per-call overhead adds up over 10,000 records.
        pending = {ident: entry for ident, (_, op, entry) in latest.items() if op == "put" and isinstance(entry, bytes)}
        if pending:
            try:
                parsed = orjson.loads(b"[" + b",".join(pending.values()) + b"]")
            except ValueError:
                parsed = None  # a damaged document among them: decode one by one below, to name its line
            if parsed is not None and len(parsed) == len(pending):
                for ident, payload in zip(pending, parsed, strict=True):
                    line_no, op, _ = latest[ident]
                    latest[ident] = (line_no, op, payload)
        for (table_name, key), (line_no, op, entry) in latest.items():
            if isinstance(key, bytes):
                table_name, key = table_name.decode(), key.decode()
            table = self.state.get(table_name) or self.state.setdefault(table_name, Docs())
            if op != "put":
                table.discard(key)  # a checkpoint record is not decoded only to be dropped
                if table_name == RUNS_TABLE:
                    self.index.remove(key)
                if op == "tomb":
                    self.tombstones.setdefault(table_name, set()).add(key)
                elif table_name in self.tombstones:
                    self.tombstones[table_name].discard(key)
                continue
            if table_name in self.tombstones:
                self.tombstones[table_name].discard(key)
            if isinstance(entry, bytes):
                try:
                    entry = json.loads(entry)
                except ValueError:
                    self.problems.append(f"{self.path}, line {line_no}: damaged (bad checksum or JSON)")
                    continue
            table[key] = entry.get("doc") if isinstance(entry, dict) else None
            if table_name == RUNS_TABLE:
                self.index.put(key, table[key])

    def _expand(self, lines: Iterable[bytes], at: int) -> Iterable[tuple[int, bytes]]:
        """``(offset, line)`` for each line from offset ``at``; a chunk line's inner lines (offset -1) instead."""
        for line in lines:
            self._line_no += 1
            start, at = at, at + len(line) + 1
            if line[9:22] == CHUNK_PREFIX:
                body = checked_body(line)
                inner = chunk_lines(body) if body is not None else None
                if inner is not None:
                    self._valid += 1
                    yield from ((-1, one) for one in inner)
                    continue
            yield start, line

    def _warn_problems(self) -> None:
        warn_problems(self.path, self.problems, self.losses, self._warned)

    # writing -------------------------------------------------------------------------------------

    def append(self, entries: list[dict[str, Any]], durable: bool = True) -> None:
        """Append entries (``{"op", "t", "id", "doc"}``) as one write under the lock.

        ``durable`` waits for the disk (fsync); without it a power cut may lose the entries, though
        never corrupt the journal (a torn line is detected and cut off). A write that fails raises
        :class:`StoreWriteError` saying that this write was not saved and everything before it is intact.
        """
        data = b"".join(encode_line(entry) for entry in entries)
        try:
            with self.lock, self._guard:
                self._append(data, durable)
        except NbtrackError:
            raise
        except OSError as exc:
            raise StoreWriteError(
                exc.errno,
                f"nbtrack could not write to {self.path} ({exc.strerror or exc}); this write was not saved, "
                f"every record saved before it is intact",
            ) from exc
        # Compact when dead lines reach half the live ones: each run leaves one (its `running` record), so
        # the journal is rewritten each time the store grows by half, O(1) per write amortized. A large store
        # is compacted by a background thread; a process that never read the journal has it read and
        # compacted there once it appended a share of it (compaction.py).
        if self._identity is None:
            if self._blind > max(compaction.BLIND_BYTES, self._blind_from // 2):
                self._blind = 0
                compaction.compact_soon(self)
            return
        live = sum(len(t) for t in self.state.values())
        wasted = self._compact_at == 0 and self._dead_bytes >= max(DEAD_BYTES, (self._offset - self._dead_bytes) // 2)
        if wasted or self._superseded >= max(1000, self._compact_at, live // 2):
            if live > compaction.BACKGROUND_DOCS:
                compaction.compact_soon(self)
                return
            try:
                self.compact()
            except (OSError, NbtrackError) as exc:  # the entries are saved: a failed compaction must not say otherwise
                self.compaction_failed(exc)

    def _append(self, data: bytes, durable: bool) -> None:
        fd, st = files.open_regular_stat(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            size = st.st_size
            if size == 0:
                data = header_line(mark.new_epoch()) + data
            else:
                size = cut_torn_tail(fd, size, self.path)
            trusted = self._mine == (st.st_dev, st.st_ino, size) or self._check_mark(fd, size)
            files.write_all(fd, data)
            if durable:
                files.fsync(fd)
        finally:
            os.close(fd)
        if size == 0:
            files.fsync_dir(self.path.parent)
        # Nothing else appended since our last read: apply our own entries directly; else catch up with
        # what others appended. A process that never read this journal does not pay a full read to write.
        identity = (st.st_dev, st.st_ino)
        if size == 0:  # we created the journal: its whole content is what we just wrote
            self._reset(identity)
            self._replay(data.split(b"\n")[:-1], 0)
            self._offset = len(data)
        elif identity == self._identity and size == self._offset:
            self._replay(data.split(b"\n")[:-1], size)
            self._offset = size + len(data)
        elif self._identity is not None:
            self._refresh()
        else:  # never read here: what it appended decides when to read and compact (see append)
            self._blind_from = self._blind_from or size
            self._blind += len(data)
        end = size + len(data)
        self._mine = (st.st_dev, st.st_ino, end)
        lock_fd = self.lock.own_fd
        if durable and trusted and lock_fd is not None:  # after the fsync, without one of its own: may lag, never lead
            current = identity == self._identity and self._offset == end
            count = sum(len(t) for t in self.state.values()) if current else -1
            mark.write_fd(lock_fd, mark.after_write(end, data, count, self._epoch(identity, data, size)))

    def _epoch(self, identity: tuple[int, int], data: bytes, size: int) -> bytes:
        """The epoch of the journal file ``identity`` (its header line), read once per file."""
        if self._epoch_of is None or self._epoch_of[0] != identity:
            found = mark.epoch_of_line(data) if size == 0 else mark.epoch_of_path(self.path)
            self._epoch_of = (identity, found or mark.NO_EPOCH)
        return self._epoch_of[1]

    def _check_mark(self, fd: int, size: int) -> bool:
        """Before moving the mark on: does the journal still hold what it says? If not, keep it as evidence."""
        lock_fd = self.lock.own_fd
        committed = mark.applies(fd, mark.read_fd(lock_fd) if lock_fd is not None else mark.read(self.lock.path))
        gone = None if committed is None else mark.missing(fd, size, committed)
        if gone is None:
            return True
        self._lost(gone)
        self._warn_problems()
        return False

    def others_wrote(self) -> bool:
        """True unless the file is exactly as this object's last append left it (one ``stat``)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return self._mine != (st.st_dev, st.st_ino, st.st_size)

    def compact(self) -> bool:
        """Rewrite the journal with only live entries and tombstones (compaction.py: the copy is made
        without the lock, the lines appended meanwhile are carried over under it).

        Refuses while damaged lines or lost data are present (nothing is lost, the evidence is kept).
        A compaction that fails (disk full) removes its temporary file, warns once that every record is
        saved, and is retried only after the journal has grown further.
        """
        if not self.lock.held:  # a background one first (it would replace the file under this one); it needs the lock
            compaction.wait(self)
        return compaction.compact(self)

    @property
    def identity(self) -> tuple[int, int] | None:
        """``(st_dev, st_ino)`` of the file the state was read from (None before the first read)."""
        return self._identity

    @property
    def offset(self) -> int:
        """How far into that file the state reaches (whole lines)."""
        return self._offset

    def rebase(
        self,
        identity: tuple[int, int] | None,
        offset: int,
        inline: dict[str, tuple[int, int]],
        epoch: bytes,
        st: os.stat_result,
        lines: int = 0,
    ) -> None:
        """After compaction put a new file with the same records in place (lock and guard held): read on
        from ``offset`` of file ``identity`` with the same state; ``identity`` None: read it all again."""
        self._compact_at = 0
        self._mine = (st.st_dev, st.st_ino, st.st_size)
        self._epoch_of = ((st.st_dev, st.st_ino), epoch)
        if identity is None:
            self._reset(None)
            return
        self._identity, self._offset, self.inline, self._judged = identity, offset, inline, None
        self._line_no = self._valid = lines
        self._superseded = len(inline)
        self._dead_bytes = sum(size for _, size in inline.values())
        self._blind = 0

    def read_inline(self, digest: str) -> bytes | None:
        """A blob carried by a line of this journal, else None (also when compaction moved it since)."""
        with self._guard:
            found, identity = self.inline.get(digest), self._identity
        return read_line_blob(self.path, identity, found, digest) if found is not None else None

    def compaction_failed(self, exc: BaseException) -> None:
        first = self._compact_at == 0
        self._compact_at = max(self._superseded * 2, 1000)
        if first:
            warnings.warn(
                f"nbtrack could not compact {self.path} ({getattr(exc, 'strerror', None) or exc}); every record is "
                f"saved, the journal keeps its superseded lines until there is room (nothing was left behind)",
                StoreCorruptionWarning,
                stacklevel=5,
            )
