"""``nbtrack doctor``: check a store's journal, its mark, blobs, references and leftovers; with ``repair``, mend.

What is checked: every journal line (checksum and JSON), the committed high-water mark (mark.py: a file
cut short anywhere, a line lost), runs in the last good copy (``runs.jsonl.prev``, kept by each
compaction) missing from the journal, every content file a record refers to (snapshot, code, series,
packages, data profiles, the execution history and each cell source it lists), and temporary files left
by killed writers.

Repair never makes things worse: the journal it replaces is kept as ``runs.jsonl.before-repair-<time>``,
damaged lines are set aside in ``runs.jsonl.damaged-<time>`` (never deleted), runs present in the last
good copy but missing from the journal, and not deleted since, are restored from it, a missing header
line is put back, stale temporary files are removed, and the mark is set to the repaired journal.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.store import checkpoint, files, mark
from nbtrack.store.journal import RUNS_TABLE, Journal, decode_line, encode_line
from nbtrack.store.lines import expand, header_line, read_all
from nbtrack.store.local import Store, referenced_blobs

STALE_BLOB_TEMP_SECONDS = 600  # blob temp files are written without the lock: younger ones may be in use


@dataclass
class Report:
    ok: bool = True
    lines: list[str] = field(default_factory=list)
    runs_kept: int = 0
    runs_restored: int = 0

    def problem(self, line: str) -> None:
        self.ok = False
        self.lines.append(line)


@dataclass
class _Scan:
    lines: list[bytes]
    damaged: list[int]
    tail: bytes
    live: dict[str, dict[str, Any]]
    deleted: set[str]
    has_header: bool


def _scan(path: Path, upto: int | None = None) -> _Scan:
    """Lines, damaged line numbers, torn tail, live runs and deleted ids of one journal file."""
    try:
        fd = files.open_regular(path)
    except FileNotFoundError:
        return _Scan([], [], b"", {}, set(), False)
    try:
        raw = b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
    finally:
        os.close(fd)
    lines = (raw if upto is None else raw[:upto]).split(b"\n")
    tail = lines.pop()
    scan = _Scan(lines, [], tail, {}, set(), False)
    for number, line in enumerate(lines, 1):
        payload = decode_line(line)
        if payload is None:
            scan.damaged.append(number)
            continue
        scan.has_header |= payload.get("op") == "header"
        inner = [payload] if payload.get("op") != "chunk" else [decode_line(one) for one in expand(line)]
        if None in inner:
            scan.damaged.append(number)
        for entry in inner:
            if entry is None or entry.get("t") != RUNS_TABLE:
                continue
            if entry.get("op") == "put":
                scan.live[entry["id"]] = entry["doc"]
                scan.deleted.discard(entry["id"])
            elif entry.get("op") == "del":
                scan.live.pop(entry["id"], None)
                scan.deleted.add(entry["id"])
    return scan


def _ids(keys: Any, limit: int = 10) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_mark(store: Store, scan: _Scan, report: Report) -> bool:
    """False (and a problem reported) when the journal holds less than its mark says was committed."""
    path = store.journal.path
    committed = mark.read(store.lock.path)
    if committed is None:
        return True
    try:
        fd = files.open_regular(path)
    except FileNotFoundError:
        report.problem(f"{path}: missing, but nbtrack had committed {committed.length:,} bytes to it")
        return False
    try:
        applicable = mark.applies(fd, committed)
        gone = mark.missing(fd, os.fstat(fd).st_size, applicable) if applicable is not None else None
    finally:
        os.close(fd)
    if applicable is None:
        return True
    if gone is None and committed.count >= 0 and not scan.damaged:
        runs_then = len(_scan(path, committed.length).live)
        if runs_then < committed.count:
            gone = f"{committed.count - runs_then} committed record(s) are missing before byte {committed.length:,}"
    if gone is None:
        return True
    report.problem(f"{path}: committed data is missing: {gone}")
    return False


def _keep_copy(path: Path, stamp: str) -> Path | None:
    """Keep the file about to be replaced (a hard link, else a copy); never overwrites anything."""
    if not path.exists():
        return None
    keep = path.with_name(f"{path.name}.before-repair-{stamp}")
    try:
        os.link(path, keep, follow_symlinks=False)
        return keep
    except FileExistsError:
        return files.create_unique(keep, path.read_bytes())
    except OSError:
        return files.create_unique(keep, path.read_bytes())


def _stale_temps(root: Path) -> list[Path]:
    """Temporary files killed writers left: any in the store folder (made only under the lock, which
    doctor holds), and those under objects/ older than ten minutes (blobs are written without it)."""
    found = []
    with contextlib.suppress(OSError):
        found += [p for p in root.iterdir() if files.is_temp_name(p.name) and p.is_file()]
    now = time.time()
    with contextlib.suppress(OSError):
        for sub in (root / "objects").iterdir():
            if sub.is_dir() and not sub.is_symlink():
                for p in sub.iterdir():
                    if files.is_temp_name(p.name) and now - p.lstat().st_mtime > STALE_BLOB_TEMP_SECONDS:
                        found.append(p)
    return found


def _check_blobs(store: Store, docs: Mapping[str, dict[str, Any]], report: Report) -> None:
    """Every content file a record refers to, and every cell source its execution history lists."""
    held = store.small_blobs()

    def exists(digest: str) -> bool:
        return digest in held or store.blobs.exists(digest)

    for run_id, doc in docs.items():
        for ref in referenced_blobs(doc):
            if not exists(ref):
                report.problem(f"run {run_id}: content file {ref} is missing (the record itself is intact)")
        history = doc.get("history")
        if not isinstance(history, str) or not exists(history):
            continue
        try:
            cells = store.get_json(history)
        except (OSError, ValueError) as exc:
            report.problem(f"run {run_id}: history {history} cannot be read ({exc})")
            continue
        cells = cells if isinstance(cells, list) else []
        lost = [h for h in cells if isinstance(h, str) and not exists(h)]
        if lost:
            report.problem(
                f"run {run_id}: {len(lost)} cell source(s) of its history are missing ({_ids(map(str, lost), 3)})"
            )


def check(store: Store, repair: bool = False) -> Report:
    report = Report()
    path = store.journal.path
    previous_path = path.with_name(path.name + ".prev")
    if not path.exists() and not previous_path.exists() and mark.read(store.lock.path) is None:
        report.lines.append(f"no store at {store.root} (nothing to check)")
        return report
    with store.lock:
        scan = _scan(path)
        previous = _scan(previous_path)
        missing = {k: v for k, v in previous.live.items() if k not in scan.live and k not in scan.deleted}
        if scan.tail:
            report.lines.append(f"{path}: the last line is incomplete (a write was interrupted); it is ignored")
        for number in scan.damaged:
            report.problem(f"{path}, line {number}: damaged (bad checksum or JSON)")
        marked = _check_mark(store, scan, report)
        if missing:
            report.problem(
                f"{len(missing)} run(s) in the last good copy {previous_path.name} are missing from {path.name}: "
                f"{_ids(missing)}"
            )
        note = checkpoint.describe(path)  # a bad checkpoint is harmless: said, never a problem (checkpoint.py)
        if note is not None:
            report.lines.append(note)
        stale = _stale_temps(store.root)
        for p in stale:
            report.problem(f"{p}: temporary file left by an interrupted write ({p.lstat().st_size:,} bytes)")
        if repair:
            _repair(store, scan, missing, marked, stale, report)
    docs = store.run_docs()
    report.runs_kept = len(docs)
    store.packs.refresh()
    for problem in dict.fromkeys(store.packs.problems):
        report.problem(problem)
    _check_blobs(store, docs, report)
    verdict = "OK" if report.ok else "problems found" + ("" if repair else "; run `nbtrack doctor --repair`")
    report.lines.append(f"{len(docs)} run(s) readable in {store.root}; {verdict}")
    return report


def _repair(
    store: Store, scan: _Scan, missing: dict[str, dict[str, Any]], marked: bool, stale: list[Path], report: Report
) -> None:
    path = store.journal.path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    if stale:
        report.lines.append(f"removed {len(stale)} stale temporary file(s)")
    rewrite = bool(scan.damaged or scan.tail or missing or (scan.lines and not scan.has_header))
    if rewrite:
        kept = _keep_copy(path, stamp)
        if kept is not None:
            report.lines.append(f"kept the journal as it was in {kept.name}")
        if scan.damaged or scan.tail:
            bad = [scan.lines[n - 1] for n in scan.damaged] + ([scan.tail] if scan.tail else [])
            aside = files.create_unique(path.with_name(f"{path.name}.damaged-{stamp}"), b"\n".join(bad) + b"\n")
            report.lines.append(f"set {len(bad)} damaged line(s) aside in {aside.name}")
        damaged = set(scan.damaged)
        good = [line + b"\n" for n, line in enumerate(scan.lines, 1) if n not in damaged]
        if good and (decode_line(good[0][:-1]) or {}).get("op") == "header":
            good.pop(0)
        good.insert(0, header_line(mark.new_epoch()))  # a new epoch: the old mark no longer applies
        good += [encode_line({"op": "put", "t": RUNS_TABLE, "id": k, "doc": v}) for k, v in missing.items()]
        if missing:
            report.lines.append(f"restored {len(missing)} run(s) from {path.name}.prev")
        files.replace_durably(path, b"".join(good))
        report.runs_restored = len(missing)
    committed = mark.read(store.lock.path)
    lost = committed.count - len(scan.live) - len(missing) if committed is not None and committed.count >= 0 else 0
    if not marked and lost > 0:
        report.lines.append(
            f"{lost} run record(s) lost from the journal are in no copy nbtrack keeps and cannot be restored; "
            f"the mark now records the repaired journal"
        )
    if rewrite or not marked:
        if not marked and committed is not None:  # the evidence of what was lost stays
            files.create_unique(path.with_name(f"{path.name}.mark.before-repair-{stamp}"), committed.encode())
        write_mark(store.journal)
    report.ok = True


def write_mark(journal: Journal) -> None:
    """Record the journal as it now is as committed (after a repair rewrote it)."""
    with journal.lock:
        lock_fd = journal.lock.own_fd
        if lock_fd is None:
            return
        mark.write_fd(lock_fd, None)  # the old mark describes the file before the repair
        journal._reset(None)
        journal.refresh()
        try:
            fd, st = files.open_regular_stat(journal.path)
        except FileNotFoundError:
            return
        try:
            data = read_all(fd, st.st_size)
            epoch = mark.epoch_of(fd) or mark.NO_EPOCH
        finally:
            os.close(fd)
        end = data.rfind(b"\n") + 1
        start = data.rfind(b"\n", 0, end - 1) + 1
        live = sum(len(t) for t in journal.state.values())
        mark.write_fd(lock_fd, mark.after_write(end, data[start:end], live, epoch))
