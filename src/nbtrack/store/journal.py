"""The run-metadata file: an append-only JSON-lines journal (TinyDB's storage, see tinydb_table.py).

TinyDB's stock JSONStorage rewrites the whole file on every write, so a write costs time in
proportion to the store, a crash mid-write loses everything, and a concurrent reader can see half a
file. Here every write appends one checksummed line per changed document under the store's file lock
and fsyncs it; a reader replays only the lines added since its last read. A line cut short by a crash has no newline
and no valid checksum: readers ignore it and the next writer cuts it off. Superseded lines are
compacted away now and then by rewriting into a temporary file that atomically replaces the journal.

Line format: ``<crc32 of payload, 8 hex digits> <payload JSON>\\n`` where the payload is
``{"op": "put" | "del", "t": table, "id": key, "doc": {...}}``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbtrack.errors import StoreCorruptError, StoreCorruptionWarning
from nbtrack.store import files
from nbtrack.store.lock import FileLock

FORMAT = 1
_HEADER_OP = "header"
RUNS_TABLE = "runs"


def encode_line(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


# The fixed prefix encode_line gives entries built as {"op", "t", "id", ...}: keys are plain text.
_PREFIX = re.compile(rb'^\{"op":"(put|del)","t":"([A-Za-z0-9_]+)","id":"([0-9a-z]+)"')


def _checked_body(line: bytes) -> bytes | None:
    """The payload bytes of a line whose checksum is right, else None."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
    except ValueError:
        return None
    return body


def decode_line(line: bytes) -> dict[str, Any] | None:
    """The payload of one complete line, or None when it is damaged."""
    body = _checked_body(line)
    if body is None:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class Journal:
    """The replayed state of one journal file: ``{table: {key: doc}}``."""

    def __init__(self, path: Path, lock: FileLock) -> None:
        self.path = Path(path)
        self.lock = lock
        self.state: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []  # one sentence per damaged line, for warnings and `nbtrack doctor`
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._line_no = 0
        self._superseded = 0
        self._warned: set[str] = set()
        self.generation = 0  # changes whenever the state does: TinyDB's query cache is cleared on it
        self._guard = threading.RLock()  # one thread at a time moves the state and the read offset

    # reading -------------------------------------------------------------------------------------

    def refresh(self) -> dict[str, dict[str, Any]]:
        """Bring the state up to date with the file, reading only what was appended since last time."""
        with self._guard:
            return self._refresh()

    def _refresh(self) -> dict[str, dict[str, Any]]:
        try:  # O_NONBLOCK: a FIFO in the journal's place must not park the reader (regular files ignore it)
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            if self._identity is not None or self.state:
                self._reset(None)
            return self.state
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise StoreCorruptError(f"{self.path} is not a regular file; nbtrack reads only regular files")
            identity = (st.st_dev, st.st_ino)
            if identity != self._identity or st.st_size < self._offset:
                self._reset(identity)
            if st.st_size == self._offset:
                return self.state
            os.lseek(fd, self._offset, os.SEEK_SET)
            chunk = _read_all(fd, st.st_size - self._offset)
        finally:
            os.close(fd)
        end = chunk.rfind(b"\n")
        if end < 0:
            return self.state  # only a partial line so far (being written, or torn by a crash)
        self._replay(chunk[: end + 1].split(b"\n")[:-1])
        self._offset += end + 1
        self._warn_problems()
        return self.state

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self.generation += 1
        self.state = {}
        self.problems = []
        self._identity = identity
        self._offset = 0
        self._line_no = 0
        self._superseded = 0

    def _replay(self, lines: Iterable[bytes]) -> None:
        """Apply lines to the state. A document is JSON-decoded only if no later line replaces it.

        Every line's checksum is verified, but most runs have two lines (``running``, then final):
        reading the key from the fixed prefix nbtrack writes and decoding only the last version of
        each document halves the cost of opening a large store.
        """
        self.generation += 1
        latest: dict[tuple[Any, Any], tuple[int, str, bytes | dict[str, Any] | None]] = {}
        known = self.state
        for line in lines:
            self._line_no += 1
            body = _checked_body(line)
            if body is None:
                if self._line_no == 1 and not line.startswith(b"{") and b" " not in line[:9]:
                    raise StoreCorruptError(
                        f"{self.path} is not an nbtrack store file (line 1 is not a journal line). "
                        f"Move it aside or run `nbtrack doctor --repair`; other store files are untouched."
                    )
                self.problems.append(f"{self.path}, line {self._line_no}: damaged (bad checksum or JSON)")
                continue
            match = _PREFIX.match(body)
            if match is not None:  # keys stay bytes until the end: most lines are superseded anyway
                op_bytes, table_name, key = match.groups()
                op = "put" if op_bytes == b"put" else "del"
                entry: bytes | dict[str, Any] | None = body
            else:
                try:
                    payload = json.loads(body)
                except ValueError:
                    self.problems.append(f"{self.path}, line {self._line_no}: damaged (bad checksum or JSON)")
                    continue
                op = payload.get("op")
                if op == _HEADER_OP:
                    continue
                if op not in ("put", "del"):
                    self.problems.append(f"{self.path}, line {self._line_no}: unknown operation {op!r}")
                    continue
                table_name, key, entry = str(payload.get("t")), str(payload.get("id")), payload
            ident = (table_name, key)
            previous = latest.get(ident)
            if previous is not None:
                existed = previous[1] == "put"
            else:
                table = known.get(table_name.decode() if isinstance(table_name, bytes) else table_name)
                existed = table is not None and (key.decode() if isinstance(key, bytes) else key) in table
            if op == "put":
                self._superseded += existed
            else:
                self._superseded += 2 if existed else 1
            latest.pop(ident, None)  # re-insert, so dict order follows the file
            latest[ident] = (self._line_no, op, entry)
        # One JSON parse for all documents to decode: per-call overhead adds up over 10,000 records.
        pending = {ident: entry for ident, (_, op, entry) in latest.items() if op == "put" and isinstance(entry, bytes)}
        if pending:
            try:
                parsed = json.loads(b"[" + b",".join(pending.values()) + b"]")
            except ValueError:
                parsed = None  # a damaged document among them: decode one by one below, to name its line
            if parsed is not None and len(parsed) == len(pending):
                for ident, payload in zip(pending, parsed, strict=True):
                    line_no, op, _ = latest[ident]
                    latest[ident] = (line_no, op, payload)
        for (table_name, key), (line_no, op, entry) in latest.items():
            if isinstance(key, bytes):
                table_name, key = table_name.decode(), key.decode()
            table = self.state.setdefault(table_name, {})
            if op == "del":
                table.pop(key, None)
                continue
            if isinstance(entry, bytes):
                try:
                    entry = json.loads(entry)
                except ValueError:
                    self.problems.append(f"{self.path}, line {line_no}: damaged (bad checksum or JSON)")
                    continue
            table[key] = entry.get("doc") if isinstance(entry, dict) else None

    def _warn_problems(self) -> None:
        new = [p for p in self.problems if p not in self._warned]
        if not new:
            return
        self._warned.update(new)
        warnings.warn(
            f"nbtrack skipped {len(new)} damaged line(s) in {self.path} ({new[0]}); all other runs were read. "
            f"Run `nbtrack doctor --repair` to set the damaged lines aside.",
            StoreCorruptionWarning,
            stacklevel=3,
        )

    # writing -------------------------------------------------------------------------------------

    def append(self, entries: list[dict[str, Any]], durable: bool = True) -> None:
        """Append entries (``{"op", "t", "id", "doc"}``) as one write under the lock.

        ``durable`` waits for the disk (fsync); without it a power cut may lose the entries, though
        never corrupt the journal (a torn line is detected and cut off).
        """
        data = b"".join(encode_line(entry) for entry in entries)
        with self.lock, self._guard:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                st = os.fstat(fd)
                size = st.st_size
                if size == 0:
                    data = encode_line({"op": _HEADER_OP, "format": FORMAT}) + data
                else:
                    size = _cut_torn_tail(fd, size, self.path)
                files.write_all(fd, data)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if size == 0:
                files.fsync_dir(self.path.parent)
            # When nothing else was appended since our last read, apply our own entries directly;
            # otherwise catch up with the file (incrementally: only what others appended). A process that
            # never read this journal does not pay a full read just to write.
            if size == 0:  # we created the journal: its whole content is what we just wrote
                self._reset((st.st_dev, st.st_ino))
                self._replay(data.split(b"\n")[:-1])
                self._offset = len(data)
            elif (st.st_dev, st.st_ino) == self._identity and size == self._offset:
                self._replay(data.split(b"\n")[:-1])
                self._offset = size + len(data)
            elif self._identity is not None:
                self._refresh()
        # Compact when dead lines reach half the live ones: each run leaves one (its `running` record),
        # so the journal is rewritten each time the store grows by half, O(1) per write amortized.
        if self._superseded >= max(1000, sum(len(t) for t in self.state.values()) // 2):
            self.compact()

    def compact(self) -> bool:
        """Rewrite the journal with only live entries; refuses while damaged lines are present."""
        with self.lock:
            self.refresh()
            if self.problems:
                return False
            entries = [{"op": _HEADER_OP, "format": FORMAT}]
            for table, docs in self.state.items():
                entries.extend({"op": "put", "t": table, "id": key, "doc": doc} for key, doc in docs.items())
            tmp = files.write_temp(self.path, b"".join(encode_line(e) for e in entries))
            # Keep the journal being replaced as the last good copy, for `nbtrack doctor --repair`.
            previous = self.path.with_name(self.path.name + ".prev")
            link = self.path.with_name(f".{self.path.name}.{os.getpid()}.prev.tmp")
            try:
                os.link(self.path, link)
                os.replace(link, previous)
            except OSError:
                pass  # a file system without hard links: compaction goes on without the copy
            os.replace(tmp, self.path)
            files.fsync_dir(self.path.parent)
            self.refresh()
        return True


def _read_all(fd: int, size: int) -> bytes:
    parts = []
    while size > 0:
        part = os.read(fd, size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _cut_torn_tail(fd: int, size: int, path: Path) -> int:
    """Drop a last line left without its newline by a writer that died mid-write; returns the size.

    The bytes cut off are appended to ``<journal>.torn`` rather than thrown away.
    """
    if os.pread(fd, 1, size - 1) == b"\n":
        return size
    start = max(0, size - (1 << 20))
    while True:
        block = os.pread(fd, size - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            new_size = start + cut + 1
            break
        if start == 0:
            new_size = 0
            break
        start = max(0, start - (1 << 20))
    torn = os.pread(fd, size - new_size, new_size)
    try:
        with open(path.with_name(path.name + ".torn"), "ab") as keep:
            keep.write(torn + b"\n")
    except OSError:
        pass
    os.ftruncate(fd, new_size)
    return new_size
