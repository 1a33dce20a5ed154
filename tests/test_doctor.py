"""``nbtrack doctor``: what it reports on a store, and what --repair mends without losing a record."""

import pytest

from nbtrack import ids
from nbtrack.errors import StoreCorruptionWarning
from nbtrack.store.doctor import check
from nbtrack.store.journal import decode_line
from nbtrack.store.local import Store


def test_a_healthy_store_and_no_store(tmp_path):
    assert check(Store(tmp_path / "none")).lines == [f"no store at {tmp_path / 'none'} (nothing to check)"]
    store = Store(tmp_path)
    store.put_run({"id": ids.new_run_id(), "history": store.put_json([1, 2])})
    report = check(store)
    assert report.ok and report.runs_kept == 1 and report.lines[-1].endswith("; OK")


def test_missing_blob_is_reported_and_the_record_kept(tmp_path):
    store = Store(tmp_path)
    digest = store.put_blob(b"snapshot")
    run_id = ids.new_run_id()
    store.put_run({"id": run_id, "snapshot": {"blob": digest}})
    store.blobs.path(digest).unlink()
    report = check(Store(tmp_path))
    assert not report.ok and any(f"run {run_id}: content file {digest} is missing" in line for line in report.lines)


def test_repair_sets_damaged_lines_aside_and_keeps_the_rest(tmp_path):
    store = Store(tmp_path)
    made = [ids.new_run_id() for _ in range(3)]
    for n, run_id in enumerate(made):
        store.put_run({"id": run_id, "n": n})
    path = tmp_path / "runs.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"n":1', b'"n":9')  # checksum no longer matches
    path.write_bytes(b"".join(lines) + b"0badc0de {")  # and a torn tail
    with pytest.warns(StoreCorruptionWarning, match="line 3"):
        report = check(Store(tmp_path))
    assert not report.ok and any("line 3: damaged" in line for line in report.lines)
    assert any("last line is incomplete" in line for line in report.lines)
    repaired = check(Store(tmp_path), repair=True)
    assert repaired.ok and repaired.runs_kept == 2
    assert all(decode_line(line) for line in path.read_bytes().splitlines())
    (aside,) = tmp_path.glob("runs.jsonl.damaged-*")
    assert b'"n":9' in aside.read_bytes() and b"0badc0de {" in aside.read_bytes()
    assert sorted(Store(tmp_path).run_docs()) == [made[0], made[2]]


def test_history_cell_sources_are_checked(tmp_path):
    from nbtrack.capture.notebook import store_history  # how a tracked cell stores the cells run before it

    store = Store(tmp_path)
    history = store_history(store, ["x = 1", "y = 2"])
    run_id = ids.new_run_id()
    store.put_run({"id": run_id, "history": history})
    assert check(Store(tmp_path)).ok
    cell = store.get_json(history)[1]
    store.blobs.path(cell).unlink()
    report = check(Store(tmp_path))
    assert not report.ok
    assert any(f"run {run_id}: 1 cell source(s) of its history are missing ({cell})" in line for line in report.lines)


def test_stale_temporary_files_are_reported_and_removed_by_repair(tmp_path):
    import os
    import time

    store = Store(tmp_path)
    run_id = ids.new_run_id()
    store.put_run({"id": run_id})
    killed = tmp_path / ".runs.jsonl.0123456789abcdef.tmp"  # a compaction killed halfway
    killed.write_bytes(b"x" * 5000)
    old_style = tmp_path / ".runs.jsonl.4242.140000000000.tmp"  # the names older versions used
    old_style.write_bytes(b"y")
    folder = tmp_path / "objects" / "ab"
    folder.mkdir()
    old_blob_temp, new_blob_temp = folder / ".cdef.0123456789abcdef.tmp", folder / ".cdef.fedcba9876543210.tmp"
    old_blob_temp.write_bytes(b"z")
    new_blob_temp.write_bytes(b"w")  # maybe being written right now: left alone
    an_hour_ago = time.time() - 3600
    os.utime(old_blob_temp, (an_hour_ago, an_hour_ago))
    report = check(Store(tmp_path))
    assert not report.ok
    assert any(f"{killed}: temporary file left by an interrupted write (5,000 bytes)" in line for line in report.lines)
    assert sum("temporary file" in line for line in report.lines) == 3
    repaired = check(Store(tmp_path), repair=True)
    assert repaired.ok and "removed 3 stale temporary file(s)" in repaired.lines
    assert not killed.exists() and not old_style.exists() and not old_blob_temp.exists() and new_blob_temp.exists()
    assert list(Store(tmp_path).run_docs()) == [run_id]


def test_repair_keeps_the_journal_it_replaces(tmp_path):
    store = Store(tmp_path)
    store.put_run({"id": ids.new_run_id()})
    path = tmp_path / "runs.jsonl"
    before = path.read_bytes() + b"0badc0de {"  # a torn tail: repair rewrites the journal
    path.write_bytes(before)
    check(Store(tmp_path), repair=True)
    (kept,) = tmp_path.glob("runs.jsonl.before-repair-*")
    assert kept.read_bytes() == before
