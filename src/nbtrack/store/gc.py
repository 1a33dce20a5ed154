"""``nbtrack gc`` and ``nbtrack rm --purge``: really erase deleted runs and the content files nothing refers to.

Deleting a run only appends a ``del`` line: the record stays in ``runs.jsonl`` until compaction, in
``runs.jsonl.prev`` (the last good copy each compaction keeps) after it, and its blobs stay. :func:`collect`,
under the store lock:

1. deletes the runs to purge (``purge``), noting the blobs they referred to;
2. compacts the journal twice, so ``runs.jsonl`` and ``runs.jsonl.prev`` hold only live records (a
   ``.prev`` that is not the first compaction's file, on a file system without hard links, is removed);
3. drops the lines of runs that are not live from the files kept for repairs (``runs.jsonl.torn``,
   ``runs.jsonl.damaged-*``, ``runs.jsonl.before-repair-*``);
4. deletes every blob no live record refers to (``history`` and the cell sources listed in it, ``code_blob``,
   ``series``, ``snapshot.blob``, ``env.packages``, ``data.*.profile_blob``, ``models.*.blob``,
   ``artifacts.*.blob``, ``outputs.*.kept``): blob files are unlinked; a pack (packs.py: the compactions of
   step 2 moved every blob line of the journal into one) holding such blobs is rewritten without them, the
   new pack in place before the old one is removed.

Safe beside writers: a blob written after gc started, or within ``grace`` seconds before, is kept (a run may
be about to write the record that refers to it; a packed blob's time is when it was written to the journal,
kept in the pack's index), unless it belonged to a run purged now; while any run is
still running no blob is deleted at all (a run refers to some of its blobs only in its final record), and
the report says so. After deleting blobs, gc changes ``objects/gc-stamp``, so processes that remember
having written a blob write it again rather than trust a file that is gone.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.errors import StoreCorruptError
from nbtrack.store.blobs import GC_STAMP
from nbtrack.store.files import replace_durably
from nbtrack.store.local import Store

__all__ = ["DEFAULT_GRACE", "GcReport", "collect", "live_blobs", "record_blobs"]

DEFAULT_GRACE = 60.0  # seconds: longer than any run takes between writing a blob and the record naming it
_HEX = re.compile(r"[0-9a-f]+")
_ENTRY_ID = re.compile(rb'"id":"([0-9a-z]{26})"')
_SIDE_FILES = ("torn", "damaged-*", "before-repair-*")


@dataclass
class GcReport:
    """What :func:`collect` erased and kept; ``lines`` says it in sentences."""

    purged: list[str] = field(default_factory=list)
    journal_bytes: tuple[int, int] = (0, 0)  # runs.jsonl before and after
    prev_bytes: tuple[int, int] = (0, 0)  # runs.jsonl.prev before and after
    side_lines_dropped: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    blobs_kept: int = 0  # unreferenced but kept: too recent, or runs were running
    running: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def record_blobs(doc: dict[str, Any]) -> list[str]:
    """The blobs one run record refers to directly (a history's cell sources are listed inside it)."""
    refs = [doc.get("history"), doc.get("series"), doc.get("code_blob")]
    refs.append((doc.get("snapshot") or {}).get("blob"))
    refs.append((doc.get("env") or {}).get("packages"))
    data = doc.get("data") or {}
    refs.extend(r.get("profile_blob") for r in data.values() if isinstance(r, dict))
    refs.extend(m.get("blob") for m in (doc.get("models") or {}).values() if isinstance(m, dict))
    refs.extend(r.get("blob") for r in (doc.get("artifacts") or {}).values() if isinstance(r, dict))
    refs.extend(r.get("kept") for r in (doc.get("outputs") or {}).values() if isinstance(r, dict))
    return [r for r in refs if isinstance(r, str)]


def live_blobs(store: Store, docs: Iterable[dict[str, Any]]) -> set[str]:
    """Every blob the records refer to, with the cell sources inside each history list."""
    refs: set[str] = set()
    histories: set[str] = set()
    for doc in docs:
        refs.update(record_blobs(doc))
        if isinstance(doc.get("history"), str):
            histories.add(doc["history"])
    for digest in histories:
        try:
            listed = store.get_json(digest)
        except (OSError, ValueError):
            continue  # a missing history: `nbtrack doctor` reports it
        if isinstance(listed, list):
            refs.update(h for h in listed if isinstance(h, str))
    return refs


def collect(store: Store, purge: Iterable[str] = (), *, grace: float = DEFAULT_GRACE) -> GcReport:
    """Erase deleted runs and unreferenced blobs for good (see the module docstring); ``purge``: runs to
    delete first (full ids or unambiguous prefixes, all checked before anything is deleted)."""
    from nbtrack.run import effective_status

    report = GcReport()
    started = time.time()
    journal = store.journal.path
    prev = journal.with_name(journal.name + ".prev")
    with store.lock:
        ids = [store.resolve(run_id) for run_id in purge]
        purged_refs: set[str] = set()
        docs = store.run_docs()
        for run_id in dict.fromkeys(ids):
            purged_refs.update(live_blobs(store, [docs[run_id]]))
            store.delete_run(run_id)
            report.purged.append(run_id)
        report.journal_bytes = (_size(journal), 0)
        report.prev_bytes = (_size(prev), 0)
        if journal.exists():
            compacted = None
            for _ in range(2):  # the second makes .prev the first's compacted journal (a hard link to it)
                if not store.journal.compact():
                    raise StoreCorruptError(
                        f"{journal} has damaged lines, so nbtrack gc erased nothing (deleted runs stay readable "
                        f"on disk). Run `nbtrack doctor --repair` first."
                    )
                compacted = compacted or _identity(journal)
            # Each compaction has a new epoch in its header, so .prev is checked by identity, not bytes.
            if prev.exists() and _identity(prev) != compacted:
                prev.unlink()  # no hard links here: the old copy must not outlive the runs deleted from it
        report.journal_bytes = (report.journal_bytes[0], _size(journal))
        report.prev_bytes = (report.prev_bytes[0], _size(prev))
        docs = store.run_docs()
        report.side_lines_dropped = _clean_side_files(journal, set(docs))
        report.running = sorted(i for i, d in docs.items() if effective_status(d) == "running")
        referenced = live_blobs(store, docs.values())
        _collect_packs(store, referenced, purged_refs, started - grace, report)
        _delete_blobs(store, referenced, purged_refs, started - grace, report)
    _describe(store, report, grace)
    return report


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _clean_side_files(journal: Path, live: set[str]) -> int:
    """Drop the lines of runs that are not live from the copies kept for repairs; returns how many."""
    dropped = 0
    for pattern in _SIDE_FILES:
        for path in journal.parent.glob(f"{journal.name}.{pattern}"):
            if not path.is_file() or path.is_symlink():
                continue
            lines = path.read_bytes().split(b"\n")
            kept = []
            for line in lines:
                match = _ENTRY_ID.search(line)
                if match is not None and match.group(1).decode() not in live:
                    dropped += 1
                else:
                    kept.append(line)
            if len(kept) == len(lines):
                continue
            if not any(line.strip() for line in kept):
                path.unlink()
            else:
                replace_durably(path, b"\n".join(kept))
    return dropped


def _collect_packs(store: Store, referenced: set[str], purged: set[str], cutoff: float, report: GcReport) -> None:
    """Rewrite each pack holding blobs to delete without them (the old pack goes once the new one is in place)."""
    packs = store.packs
    entries = packs.entries()
    for name in packs.names():
        mine = {d: e for d, e in entries.items() if e[0] == name}
        drop = set()
        for digest, (_, _, _, written) in mine.items():
            if digest in referenced:
                continue
            if report.running or (digest not in purged and written >= cutoff):
                report.blobs_kept += 1
            else:
                drop.add(digest)
        if not drop:
            continue
        kept = [(d, packs.get(d), e[3]) for d, e in mine.items() if d not in drop]
        if any(data is None for _, data, _ in kept):
            report.blobs_kept += len(drop)  # a blob of it cannot be read: the pack is kept as it is, for doctor
            continue
        packs.write((d, data, t) for d, data, t in kept if data is not None)
        packs.remove(name)
        report.blobs_deleted += len(drop)
        report.bytes_freed += sum(mine[d][2] for d in drop)


def _delete_blobs(store: Store, referenced: set[str], purged: set[str], cutoff: float, report: GcReport) -> None:
    root = store.objects
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if len(folder.name) != 2 or not _HEX.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        for path in folder.iterdir():
            digest = folder.name + path.name
            if len(digest) != 32 or not _HEX.fullmatch(digest) or digest in referenced:
                continue
            try:
                st = path.lstat()
            except OSError:
                continue
            if report.running or (digest not in purged and st.st_mtime >= cutoff):
                report.blobs_kept += 1
                continue
            try:
                path.unlink()
            except OSError:
                report.blobs_kept += 1
                continue
            report.blobs_deleted += 1
            report.bytes_freed += st.st_size
    if report.blobs_deleted:  # in packs or files
        replace_durably(root / GC_STAMP, secrets.token_hex(16).encode())


def _describe(store: Store, report: GcReport, grace: float) -> None:
    lines = report.lines
    for run_id in report.purged:
        lines.append(f"purged {run_id}")
    before, after = report.journal_bytes
    prev_before, prev_after = report.prev_bytes
    lines.append(
        f"runs.jsonl compacted: {before:,} -> {after:,} bytes; runs.jsonl.prev: {prev_before:,} -> {prev_after:,} bytes"
    )
    if report.side_lines_dropped:
        lines.append(f"dropped {report.side_lines_dropped} line(s) of deleted runs from the repair copies")
    lines.append(f"deleted {report.blobs_deleted} unreferenced content file(s), {report.bytes_freed:,} bytes freed")
    if report.running:
        lines.append(
            f"kept {report.blobs_kept} unreferenced content file(s): run(s) {', '.join(report.running[:5])} are "
            f"running and may still refer to them; run `nbtrack gc` again when they end"
        )
    elif report.blobs_kept:
        lines.append(
            f"kept {report.blobs_kept} unreferenced content file(s) written in the last {grace:.0f} s "
            f"(a run may be about to refer to them); `nbtrack gc --grace 0` erases them too"
        )
    lines.append(f"{len(store.run_docs())} run(s) kept in {store.root}")
