import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from nbtrack import ids
from nbtrack.store.journal import StoreCorruptError, StoreCorruptionWarning, decode_line
from nbtrack.store.local import AmbiguousRunIdError, RunNotFoundError, Store


def doc(n, **extra):
    return {"id": ids.new_run_id(), "experiment": "e", "n": n, **extra}


def test_put_get_and_reopen(tmp_path):
    store = Store(tmp_path / "s")
    d = doc(1, params={"lr": 0.1})
    store.put_run(d)
    assert Store(tmp_path / "s").get_doc(d["id"]) == d  # a new instance reads it from disk


def test_later_put_replaces_and_delete_removes(tmp_path):
    store = Store(tmp_path)
    d = doc(1)
    store.put_run(d)
    store.put_run({**d, "status": "finished"})
    assert Store(tmp_path).get_doc(d["id"])["status"] == "finished"
    store.delete_run(d["id"])
    assert d["id"] not in Store(tmp_path).run_docs()


def test_tinydb_api_sees_and_writes_the_same_records(tmp_path):
    store = Store(tmp_path)
    d = doc(1)
    store.put_run(d)
    assert store.table.get(doc_id=d["id"])["n"] == 1
    store.table.update({"n": 2}, doc_ids=[d["id"]])
    assert Store(tmp_path).get_doc(d["id"])["n"] == 2


def test_prefix_resolution(tmp_path):
    store = Store(tmp_path)
    a, b = doc(1), doc(2)
    a["id"], b["id"] = "0" * 25 + "a", "0" * 25 + "b"
    store.put_run(a)
    store.put_run(b)
    assert store.resolve("0" * 25 + "a") == a["id"]
    with pytest.raises(AmbiguousRunIdError):
        store.resolve("000")
    with pytest.raises(RunNotFoundError):
        store.resolve("zzz")
    with pytest.raises(RunNotFoundError, match="not a run id"):
        store.resolve("../../etc/passwd")


def test_write_appends_one_line_not_a_rewrite(tmp_path):
    store = Store(tmp_path)
    for n in range(50):
        store.put_run(doc(n))
    before = (tmp_path / "runs.jsonl").read_bytes()
    store.put_run(doc(99))
    after = (tmp_path / "runs.jsonl").read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1


def test_torn_tail_is_ignored_and_cut_by_next_writer(tmp_path):
    store = Store(tmp_path)
    kept = doc(1)
    store.put_run(kept)
    with open(tmp_path / "runs.jsonl", "ab") as f:
        f.write(b'0badc0de {"op":"put","t":"runs","id":"01')  # a writer killed mid-line
    fresh = Store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn tail is not corruption: no warning
        assert list(fresh.run_docs()) == [kept["id"]]
    new = doc(2)
    fresh.put_run(new)
    assert set(Store(tmp_path).run_docs()) == {kept["id"], new["id"]}
    assert all(decode_line(line) for line in (tmp_path / "runs.jsonl").read_bytes().splitlines())


def test_damaged_middle_line_warns_names_file_and_keeps_other_runs(tmp_path):
    store = Store(tmp_path)
    docs = [doc(n) for n in range(3)]
    for d in docs:
        store.put_run(d)
    path = tmp_path / "runs.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"n":1', b'"n":7')  # checksum no longer matches
    path.write_bytes(b"".join(lines))
    with pytest.warns(StoreCorruptionWarning, match=r"runs\.jsonl.*line 3.*doctor --repair"):
        got = Store(tmp_path).run_docs()
    assert set(got) == {docs[0]["id"], docs[2]["id"]}


def test_garbage_file_gives_clear_error(tmp_path):
    (tmp_path / "runs.jsonl").write_bytes(b"\x00\x01garbage that is not a journal\n")
    with pytest.raises(StoreCorruptError, match=r"runs\.jsonl.*not an nbtrack store"):
        Store(tmp_path).run_docs()


def test_compaction_keeps_live_records_and_replaces_file_atomically(tmp_path):
    store = Store(tmp_path)
    store.run_docs()  # compaction is done by processes that read the store (kernels do)
    d = doc(0)
    for n in range(1500):
        store.put_run({**d, "n": n})
    lines = (tmp_path / "runs.jsonl").read_bytes().count(b"\n")
    assert lines < 1500  # superseded versions were compacted away
    assert Store(tmp_path).get_doc(d["id"])["n"] == 1499


def test_blobs_are_content_addressed_and_checked(tmp_path):
    store = Store(tmp_path)
    h1 = store.put_blob(b"hello")
    assert store.put_blob(b"hello") == h1
    assert len(list((tmp_path / "objects").rglob("*"))) == 2  # one folder, one file
    assert store.get_blob(h1) == b"hello"
    with pytest.raises(ValueError):
        store.get_blob("../../../etc/passwd")


def _writer(root, count, tag):
    store = Store(root)
    for n in range(count):
        store.put_run({"id": ids.new_run_id(), "writer": tag, "n": n, "payload": "x" * 500})


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 200, tag)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    docs = Store(tmp_path).run_docs()
    assert len(docs) == 400
    for tag in ("a", "b"):
        assert sorted(d["n"] for d in docs.values() if d["writer"] == tag) == list(range(200))


READER = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("error")
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    seen, reads = 0, 0
    deadline = time.time() + 60
    while time.time() < deadline:
        docs = Store(sys.argv[1]).run_docs()      # a cold read of the whole file
        hot = store.run_docs()                    # an incremental read
        assert all(d["payload"] == "x" * 500 for d in docs.values())
        assert len(hot) >= seen
        seen = len(hot)
        reads += 1
        if seen >= int(sys.argv[2]):
            break
    print(reads, seen)
    """
)


def test_reader_never_sees_broken_json_while_writers_append(tmp_path):
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path), "400"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 200, tag)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    reads, seen = map(int, out.split())
    assert seen == 400 and reads > 1


def test_ids_are_time_ordered_unique_and_path_safe():
    made = [ids.new_run_id() for _ in range(10_000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(ids.is_run_id(i) for i in made)
    assert not ids.is_id_prefix("../x") and not ids.is_id_prefix("a/b") and not ids.is_id_prefix("")


def test_journal_lines_are_strict_json(tmp_path):
    store = Store(tmp_path)
    store.put_run(doc(1, text="ünïcode <b>"))
    for line in (tmp_path / "runs.jsonl").read_bytes().splitlines():
        json.loads(line[9:])


def test_store_dir_is_created_only_on_write(tmp_path):
    store = Store(tmp_path / "later")
    assert store.run_docs() == {}
    assert not os.path.exists(tmp_path / "later")


def test_runs_recorded_through_the_api_get_compacted(tmp_path):
    """Each run leaves one dead line (its `running` record): compaction must still happen."""
    import nbtrack

    store = Store(tmp_path)
    store.run_docs()
    for n in range(1500):
        with nbtrack.track(name=f"r{n}", store=store, environment=False):
            pass
    lines = (tmp_path / "runs.jsonl").read_bytes().count(b"\n")
    assert lines < 2 * 1500  # without compaction: a header plus two lines per run
    assert len(Store(tmp_path).run_docs()) == 1500
