"""Compacting the journal without making a write wait for the store's history.

A compaction rewrites the journal with only its live records (journal.py). Done all at once under the
store's lock, it costs time in proportion to the store, and at 100,000 runs that is a second during
which every writer waits. So it is done in two phases:

1. **Copy, without the lock**: the live records as of the journal's current read offset are encoded
   into a new, fsynced temporary file beside the journal. Writers go on appending meanwhile.
2. **Swap, under the lock**: the lines appended since (the *tail*) are read and appended, byte for byte,
   to the temporary file, the blob lines of the copied part move to a pack (packs.py), the file is fsynced
   and atomically renamed over the journal, and the committed mark moves to the new file. The lock is
   held for the tail and the renames only; the in-memory state is not re-read, since the new file holds
   what it already reflects.

Phase 1 also writes the checkpoint of the copied part (checkpoint.py: its documents, hashed against the
new file's first bytes) to its own fsynced temporary file; phase 2 renames it into place after the journal.

If anything changed the journal's file in between (another process compacted or repaired it), the copy
is dropped and nothing happens. A crash at any point leaves either the old journal or the new one in
place (rename-into-place), plus at worst a temporary file ``nbtrack doctor`` lists.

Small stores are compacted in the writing call, as before; above :data:`BACKGROUND_DOCS` live records
the writing call only starts a background thread (:func:`compact_soon`), so no single write pays for the
rewrite. A process exiting waits for its compaction to finish.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Any, Protocol

from nbtrack.errors import NbtrackError
from nbtrack.store import checkpoint, collector, files, mark
from nbtrack.store.docs import Docs
from nbtrack.store.lines import chunked, encode_line, header_line, read_all
from nbtrack.store.lock import FileLock
from nbtrack.store.packs import PackSet, move_to_pack


class Journal(Protocol):
    """What compaction uses of a :class:`nbtrack.store.journal.Journal` (which imports this module)."""

    path: Path
    lock: FileLock
    state: dict[str, Any]
    problems: list[str]
    losses: list[str]
    tombstones: dict[str, set[str]]
    inline: dict[str, tuple[int, int]]
    packs: PackSet | None

    @property
    def guard(self) -> threading.RLock: ...
    @property
    def identity(self) -> tuple[int, int] | None: ...
    @property
    def offset(self) -> int: ...
    def refresh(self) -> dict[str, Any]: ...
    def compaction_failed(self, exc: BaseException) -> None: ...
    def rebase(
        self,
        identity: tuple[int, int] | None,
        offset: int,
        inline: dict[str, tuple[int, int]],
        epoch: bytes,
        st: os.stat_result,
        lines: int = 0,
    ) -> None: ...


BACKGROUND_DOCS = 2000  # above this many live records a write hands compaction to a background thread
BLIND_BYTES = 1 << 20  # a process that never read the journal compacts it after appending this much (or half of it)
_running: weakref.WeakKeyDictionary[Any, threading.Thread] = weakref.WeakKeyDictionary()
_running_guard = threading.Lock()
_switching = 0  # background compactions running (they share the shorter switch interval, see _background)
_switch_was = 0.005


def compact(journal: Journal) -> bool:
    """Rewrite ``journal`` with only live entries and tombstones; False when it was not (see journal.py)."""
    journal.refresh()
    # Decoding and the copy make millions of acyclic objects: each full collection they set off held the GIL
    # for 0.2-0.7 s, and every writer with it.
    with collector.paused():
        for docs in list(journal.state.values()):  # decoded before the guard is taken: writers wait on it
            if isinstance(docs, Docs):
                docs.decode_all()
        with journal.guard:
            if journal.problems or journal.losses or journal.identity is None:
                return False
            identity, offset = journal.identity, journal.offset
            state = {table: docs.copy() for table, docs in journal.state.items()}  # Docs: all decoded
            tombstones = {table: sorted(keys) for table, keys in journal.tombstones.items()}
            inline = {digest: at for digest, at in journal.inline.items() if 0 <= at[0] < offset}
        epoch = mark.new_epoch()
        puts = [
            encode_line({"op": "put", "t": table, "id": key, "doc": doc})
            for table, docs in state.items()
            for key, doc in docs.items()
        ]
        tombs = [
            encode_line({"op": "del", "t": table, "id": key, "tomb": True})
            for table, keys in tombstones.items()
            for key in keys
        ]
        data = header_line(epoch) + chunked(puts) + b"".join(tombs)
        del puts, tombs
        encoded = checkpoint.encode(state, tombstones, data)
    tmp: Path | None = None
    ckpt = checkpoint.write_temp(journal.path, encoded)  # None: none this time
    del state, encoded
    try:
        tmp = files.write_temp(journal.path, data)
        with journal.lock:
            journal.refresh()
            with journal.guard:
                end = journal.offset
                if journal.identity != identity or end < offset or journal.problems or journal.losses:
                    os.unlink(tmp)  # someone else replaced the journal meanwhile: their file stands
                    checkpoint.discard(ckpt)
                    return False
                tail_inline = {d: at for d, at in journal.inline.items() if at[0] >= offset}
                extra = move_to_pack(journal.path, inline, journal.packs) if inline else b""
                extra += _read_range(journal.path, offset, end)
                if extra:
                    fd = files.open_regular(tmp, os.O_WRONLY | os.O_APPEND)
                    try:
                        files.write_all(fd, extra)
                        files.fsync(fd)
                    finally:
                        os.close(fd)
                _keep_previous(journal.path)
                os.replace(tmp, journal.path)
                tmp = None
                checkpoint.install(journal.path, ckpt)  # after the journal: it covers the new file's first bytes
                ckpt = None
                files.fsync_dir(journal.path.parent)
                _installed(journal, data, extra, epoch.encode(), tail_inline)
    except OSError as exc:
        checkpoint.discard(ckpt)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # a partial copy must not eat the space that is left
        journal.compaction_failed(exc)
        return False
    return True


def _read_range(path: Path, start: int, end: int) -> bytes:
    if end <= start:
        return b""
    fd = files.open_regular(path)
    try:
        os.lseek(fd, start, os.SEEK_SET)
        return read_all(fd, end - start)
    finally:
        os.close(fd)


def _keep_previous(path: Path) -> None:
    """Keep the journal being replaced as the last good copy, for `nbtrack doctor --repair`."""
    previous = path.with_name(path.name + ".prev")
    link = path.with_name(files.temp_name(path.name))
    try:
        os.link(path, link, follow_symlinks=False)
        os.replace(link, previous)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(link)  # a file system without hard links: compaction goes on without the copy


def _installed(
    journal: Journal, data: bytes, extra: bytes, epoch: bytes, tail_inline: dict[str, tuple[int, int]]
) -> None:
    """The new file is in place (lock and guard held): move the mark on and the read position over to it.

    The state stays as it is: the new file holds the same live records. A journal without packs carries
    its blob lines in the new file at unknown offsets: it is re-read instead.
    """
    length = len(data) + len(extra)
    live = sum(len(t) for t in journal.state.values())
    lock_fd = journal.lock.own_fd
    if lock_fd is not None:  # a crash before this leaves a mark of another epoch: ignored, no false alarm
        last = extra if len(extra) >= 10 else data
        mark.write_fd(lock_fd, mark.after_write(length, last, live, epoch))
    st = os.stat(journal.path)
    identity = (st.st_dev, st.st_ino)
    if journal.packs is None:
        journal.rebase(None, 0, {}, epoch, st)
        journal.refresh()
        return
    shift = length - journal.offset  # the tail's lines end the new file as they ended the old one
    moved = {digest: (at + shift, size) for digest, (at, size) in tail_inline.items()}
    journal.rebase(identity, length, moved, epoch, st, lines=data.count(b"\n") + extra.count(b"\n"))


def compact_soon(journal: Journal) -> None:
    """Compact ``journal`` in a background thread, unless one is already at it."""
    with _running_guard:
        thread = _running.get(journal)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=_background, args=(journal,), name="nbtrack-compaction", daemon=True)
        _running[journal] = thread
        thread.start()


SWITCH_INTERVAL = 0.0005  # s: how soon a writing thread gets the GIL back from a background compaction


def _background(journal: Journal) -> None:
    # A write releases the GIL at each system call (write, fsync, stat) and then waited up to the switch
    # interval (5 ms) for the copying thread to let it back in: tens of ms per write, 150 ms at worst at
    # 100,000 runs. A shorter interval while the copy runs keeps writes at their own speed.
    global _switching, _switch_was
    with _running_guard:
        if not _switching:
            _switch_was = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_was, SWITCH_INTERVAL))
        _switching += 1
    try:
        compact(journal)
    except (OSError, NbtrackError) as exc:  # every record is saved: say so once, retry later
        journal.compaction_failed(exc)
    finally:
        with _running_guard:
            _switching -= 1
            if not _switching:
                sys.setswitchinterval(_switch_was)


def wait(journal: Journal | None = None, timeout: float | None = None) -> None:
    """Wait for the background compaction of ``journal`` (None: of every journal) to finish."""
    with _running_guard:
        threads = [_running[journal]] if journal is not None and journal in _running else list(_running.values())
    for thread in threads:
        thread.join(timeout)


atexit.register(wait)
