"""Files hashed once: read in chunks with a progress bar on stderr past two seconds, and rehashed only when
a file's size, mtime or inode changed. The cache is kept in memory and, for files of 1 MiB and more, in
``$NBTRACK_CACHE_DIR`` (default ``~/.cache/nbtrack``), shared by every process of the user."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import xxhash

from nbtrack.data.encoding import ALGORITHM

FILE_CHUNK = 1 << 23  # 8 MiB reads
PROGRESS_AFTER = 2.0  # seconds of hashing before a progress bar is shown
RACY_SECONDS = 2.0  # a file modified this recently is not cached (its mtime may not change on the next write)
PERSIST_MIN_SIZE = 1 << 20  # files this large are cached on disk too


class Progress:
    """A one-line progress bar on stderr, shown only once hashing has taken PROGRESS_AFTER seconds."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def update(self, done: int) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < PROGRESS_AFTER or (self.shown and now - self.last < 0.25):
            return
        self.last = now
        self.shown = True
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 20)
        rate = done / elapsed / 1e9 if elapsed > 0 else 0.0
        sys.stderr.write(
            f"\rnbtrack: hashing {self.label} [{bar:<20}] {frac:4.0%} "
            f"{done / 1e9:.2f}/{self.total / 1e9:.2f} GB {rate:.2f} GB/s"
        )
        sys.stderr.flush()

    def close(self, done: int) -> None:
        if self.shown:
            self.last = 0.0
            self.start -= PROGRESS_AFTER
            self.update(done)
            sys.stderr.write("\n")
            sys.stderr.flush()


def _read_hash(path: Path, progress: Progress | None, done: int = 0) -> tuple[str, int]:
    h = xxhash.xxh3_128()
    buffer = bytearray(FILE_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buffer)
            if not n:
                break
            h.update(view[:n])
            done += n
            if progress is not None:
                progress.update(done)
    return h.hexdigest(), done


_FileKey = tuple[str, int, int, int, int]
_memory_cache: OrderedDict[_FileKey, dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()
_MEMORY_ENTRIES = 4096


def cache_dir() -> Path:
    env = os.environ.get("NBTRACK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbtrack"


def _file_key(path: Path, st: os.stat_result) -> _FileKey:
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class _DiskCache:
    """File hashes in SQLite, keyed on path, size, mtime and inode."""

    FILE = "file-hashes-1.sqlite"

    def __init__(self) -> None:
        self.path = cache_dir() / self.FILE

    def _connect(self) -> Any:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=2.0)
        con.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "inode INTEGER, device INTEGER, algorithm TEXT, hash TEXT)"
        )
        return con

    def get(self, key: _FileKey) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            con = self._connect()
            try:
                row = con.execute(
                    "SELECT hash FROM files WHERE path=? AND size=? AND mtime_ns=? AND inode=? AND device=? "
                    "AND algorithm=?",
                    (*key, ALGORITHM),
                ).fetchone()
            finally:
                con.close()
        except Exception:
            return None
        return None if row is None else {"hash": row[0]}

    def put(self, key: _FileKey, entry: dict[str, Any]) -> None:
        try:
            con = self._connect()
            try:
                with con:
                    con.execute(
                        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*key, ALGORITHM, entry["hash"]),
                    )
            finally:
                con.close()
        except Exception:
            pass  # a cache that cannot be written only costs a rehash


def _cache_get(key: _FileKey) -> dict[str, Any] | None:
    with _cache_lock:
        entry = _memory_cache.get(key)
        if entry is not None:
            _memory_cache.move_to_end(key)
            return entry
    if key[1] >= PERSIST_MIN_SIZE:
        entry = _DiskCache().get(key)
        if entry is not None:
            with _cache_lock:
                _memory_cache[key] = entry
            return entry
    return None


def _cache_put(key: _FileKey, entry: dict[str, Any], started: float) -> None:
    if started - key[2] / 1e9 < RACY_SECONDS:
        return  # modified just before hashing: a write in the same mtime tick would go unnoticed
    with _cache_lock:
        _memory_cache[key] = entry
        _memory_cache.move_to_end(key)
        while len(_memory_cache) > _MEMORY_ENTRIES:
            _memory_cache.popitem(last=False)
    if key[1] >= PERSIST_MIN_SIZE:
        _DiskCache().put(key, entry)


def clear_file_cache() -> None:
    """Forget the in-memory file hashes (the on-disk cache stays; delete its directory to clear it)."""
    with _cache_lock:
        _memory_cache.clear()


def file_entry(path: Path, progress: Progress | None = None, done: int = 0) -> tuple[dict[str, Any], int]:
    """The cached {hash, ...} of a file, hashing it when its size, mtime or inode changed."""
    started = time.time()
    st = path.stat()
    key = _file_key(path, st)
    entry = _cache_get(key)
    if entry is not None:
        return entry, done + st.st_size
    digest, done = _read_hash(path, progress, done)
    after = path.stat()
    entry = {"hash": digest}
    if _file_key(path, after) == key:  # unchanged while we read it
        _cache_put(key, entry, started)
    return entry, done


def hash_file(path: str | os.PathLike[str]) -> str:
    """xxh3-128 hex digest of a file's bytes (cached on path, size, mtime and inode)."""
    path = Path(path)
    size = path.stat().st_size
    progress = Progress(path.name, size)
    entry, done = file_entry(path, progress)
    progress.close(done)
    return entry["hash"]


def walk_files(path: Path) -> list[tuple[str, Path, int]]:
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in files:
            file = Path(root) / name
            try:
                size = file.stat().st_size
            except OSError:
                continue  # a dangling link
            found.append((file.relative_to(path).as_posix(), file, size))
    found.sort(key=lambda item: item[0])
    return found
