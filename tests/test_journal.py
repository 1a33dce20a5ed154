"""The journal: one checksummed line per write, torn tails and damaged lines, compaction, format."""

import json
import warnings

import pytest

from nbtrack import ids
from nbtrack.store.journal import Journal, StoreCorruptError, StoreCorruptionWarning, decode_line, encode_line
from nbtrack.store.local import Store
from nbtrack.store.lock import FileLock


def doc(n, **extra):
    return {"id": ids.new_run_id(), "experiment": "e", "n": n, **extra}


def journal(tmp_path):
    return Journal(tmp_path / "runs.jsonl", FileLock(tmp_path / "lock"))


def test_line_format_is_checksum_space_json(tmp_path):
    line = encode_line({"op": "put", "t": "runs", "id": "abc", "doc": {"x": 1}})
    assert (
        line.endswith(b"\n")
        and line[8:9] == b" "
        and json.loads(line[9:])
        == {
            "op": "put",
            "t": "runs",
            "id": "abc",
            "doc": {"x": 1},
        }
    )
    assert decode_line(line[:-1])["doc"] == {"x": 1}
    assert decode_line(line[:-1].replace(b'"x":1', b'"x":2')) is None  # checksum catches a changed byte
    with pytest.raises(ValueError):
        encode_line({"doc": float("nan")})  # strict JSON only


def test_replay_reads_only_what_was_appended_and_counts_generations(tmp_path):
    writer, reader = journal(tmp_path), journal(tmp_path)
    writer.append([{"op": "put", "t": "runs", "id": "a", "doc": {"v": 1}}])
    assert reader.refresh() == {"runs": {"a": {"v": 1}}}
    seen = reader.generation
    assert reader.refresh() is reader.state and reader.generation == seen  # nothing new: nothing read
    writer.append([{"op": "put", "t": "runs", "id": "a", "doc": {"v": 2}}, {"op": "del", "t": "runs", "id": "a"}])
    assert reader.refresh() == {"runs": {}} and reader.generation != seen


def test_a_journal_never_read_is_not_read_to_write(tmp_path):
    journal(tmp_path).append([{"op": "put", "t": "runs", "id": str(n), "doc": {}} for n in range(100)])
    late = journal(tmp_path)
    late.append([{"op": "put", "t": "runs", "id": "x", "doc": {}}])
    assert late.state == {}  # appending cost one line, not a replay of the 100 before it
    assert len(late.refresh()["runs"]) == 101


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


def test_journal_lines_are_strict_json(tmp_path):
    store = Store(tmp_path)
    store.put_run(doc(1, text="ünïcode <b>"))
    for line in (tmp_path / "runs.jsonl").read_bytes().splitlines():
        json.loads(line[9:])


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
