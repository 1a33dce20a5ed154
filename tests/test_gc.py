"""``nbtrack.store.gc.collect``: deleted runs and unreferenced blobs really leave the disk (issue 18, item 12).

Each test puts a unique marker in the runs it deletes (a param, a cell source, a metric name) and greps
every file of the store for it afterwards; the runs kept must read back whole.
"""

from __future__ import annotations

import errno
import os
import time
import uuid
from pathlib import Path

import pytest

from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.errors import StoreCorruptError
from nbtrack.run import Run
from nbtrack.store.blobs import GC_STAMP
from nbtrack.store.gc import collect, live_blobs
from nbtrack.store.local import Store
from nbtrack.store.series import load as load_series

COMMON = "import math\nbase = 3"


def grep(root: Path, needle: str) -> list[str]:
    data = needle.encode()
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def record(store: Store, marker: str, *, finish: bool = True) -> ActiveRun:
    """A run with the marker in a param, its cell, its history and a metric name; a source shared with others."""
    cell = f"note = {marker!r}\nscore = base * 2"
    run = ActiveRun(store, name="r", experiment="gc", params={"note": marker, "lr": 0.1})
    run.attach_cell(cell, history=[COMMON, f"print({marker!r})", cell])
    run.start()
    run.log_metric(f"loss_{marker}", 0.5)
    if finish:
        run.finish()
    return run


def blob_files(store: Store) -> set[str]:
    """Every blob the store holds: files of their own, and those in the journal or a pack (a run's small ones)."""
    return {p.parent.name + p.name for p in store.objects.glob("??/*")} | store.small_blobs()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def test_purge_leaves_no_byte_of_the_run_and_keeps_the_others_whole(store):
    keep, gone = f"keep-{uuid.uuid4().hex}", f"gone-{uuid.uuid4().hex}"
    kept = record(store, keep)
    purged = record(store, gone)
    store.journal.compact()  # an older compaction: .prev holds the run too
    assert grep(store.root, gone)
    report = collect(store, [purged.id[:12]])
    assert report.purged == [purged.id] and report.blobs_deleted >= 3 and report.bytes_freed > 0
    assert grep(store.root, gone) == []  # runs.jsonl, runs.jsonl.prev, objects/: nothing
    assert store.journal.path.with_name("runs.jsonl.prev").exists()
    run = Run.from_doc(store.get_doc(kept.id), store)
    assert run.params["note"] == keep and run.history[0] == COMMON and run.metrics[f"loss_{keep}"] == 0.5
    assert load_series(store, store.get_doc(kept.id)["series"])[f"loss_{keep}"]["value"] == [0.5]
    assert blob_files(store) == live_blobs(store, store.run_docs().values())  # no unreferenced blob left


def test_without_hard_links_the_old_copy_goes_and_with_them_it_holds_only_live_runs(store, monkeypatch):
    gone = f"gone-{uuid.uuid4().hex}"
    kept = record(store, "kept")
    purged = record(store, gone)
    store.journal.compact()
    prev = store.journal.path.with_name("runs.jsonl.prev")
    collect(store, [purged.id])  # hard links work: .prev is the first compaction's file, only live runs
    assert prev.exists() and gone.encode() not in prev.read_bytes() and kept.id.encode() in prev.read_bytes()
    other = record(store, f"gone-{uuid.uuid4().hex}")
    store.journal.compact()

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    collect(store, [other.id])
    assert not prev.exists()  # the old copy (holding the purged run) cannot be replaced, so it is removed
    assert Run.from_doc(store.get_doc(kept.id), store).params["note"] == "kept"


def test_gc_erases_runs_deleted_earlier_and_their_compacted_copies(store, monkeypatch):
    gone = f"gone-{uuid.uuid4().hex}"
    old = record(store, gone)
    record(store, "other")
    store.delete_run(old.id)
    store.journal.compact()
    assert "runs.jsonl.prev" in grep(store.root, gone)
    for path in store.objects.glob("??/*"):  # written long before: no run can be about to refer to them
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    now = time.time
    monkeypatch.setattr(time, "time", lambda: now() + 3600)  # packed blobs keep their time in the pack: gc an hour on
    report = collect(store)
    assert grep(store.root, gone) == [] and report.blobs_deleted >= 3
    assert len(store.run_docs()) == 1


def test_recent_blobs_and_blobs_of_running_runs_are_kept(store):
    gone = f"gone-{uuid.uuid4().hex}"
    old = record(store, gone)
    store.delete_run(old.id)
    fresh = store.put_blob(b"written by a run that has not saved its record yet")
    report = collect(store)  # default grace: every unreferenced blob here is seconds old
    assert report.blobs_deleted == 0 and report.blobs_kept >= 4 and fresh in blob_files(store)
    assert "--grace 0" in "\n".join(report.lines)
    running = record(store, "running", finish=False)
    report = collect(store, grace=0)
    assert report.running == [running.id] and report.blobs_deleted == 0 and grep(store.root, gone)
    running.finish()
    report = collect(store, grace=0)
    assert report.blobs_deleted >= 4 and grep(store.root, gone) == [] and fresh not in blob_files(store)


def test_a_process_that_knew_a_deleted_blob_writes_it_again(store, tmp_path):
    writer = Store(store.root)  # another process's view: it remembers the blobs it wrote
    old = record(writer, "shared-source")
    source_blobs = set(writer.get_json(writer.get_doc(old.id)["history"]))
    writer.delete_run(old.id)
    collect(Store(store.root), grace=0)
    assert not source_blobs & blob_files(store) and (store.objects / GC_STAMP).exists()
    again = record(writer, "shared-source")  # same cells: the same blobs, which gc deleted
    assert Run.from_doc(writer.get_doc(again.id), writer).history[1] == "print('shared-source')"


def test_repair_copies_lose_the_lines_of_deleted_runs(store):
    gone = f"gone-{uuid.uuid4().hex}"
    kept, old = record(store, "kept"), record(store, gone)
    line = store.journal.path.read_bytes().splitlines()[-1]
    torn = store.journal.path.with_name("runs.jsonl.torn")
    torn.write_bytes(line[:200] + b"\n" + line[:30] + b"\n")
    damaged = store.journal.path.with_name("runs.jsonl.damaged-20260101-000000")
    damaged.write_bytes(line.replace(b'"op"', b'"oq"') + b"\n")
    assert old.id.encode() in line and kept.id.encode() not in line
    report = collect(store, [old.id], grace=0)
    assert report.side_lines_dropped == 2 and grep(store.root, gone) == []
    assert torn.read_bytes() == line[:30] + b"\n" and not damaged.exists()  # a fragment without an id stays


def test_a_damaged_journal_stops_gc_before_it_erases_anything(store):
    gone = f"gone-{uuid.uuid4().hex}"
    old = record(store, gone)
    record(store, "other")
    with open(store.journal.path, "ab") as f:
        f.write(b"00000000 {damaged}\n")
    with pytest.warns(Warning), pytest.raises(StoreCorruptError, match="doctor --repair"):
        collect(store, [old.id], grace=0)
    assert old.id not in store.run_docs() and grep(store.root, gone)  # deleted, not yet erased
