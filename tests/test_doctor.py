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
