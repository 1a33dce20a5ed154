"""TinyDB as the store's document layer: its own API writes single journal lines other processes see."""

import math
import subprocess
import sys
import textwrap

import pytest
from tinydb import Query, where
from tinydb.table import Document

import nbtrack
from nbtrack import ids
from nbtrack.store.journal import decode_line
from nbtrack.store.local import Store


def journal_lines(root):
    return [decode_line(line) for line in (root / "runs.jsonl").read_bytes().splitlines()]


def in_another_process(root, code):
    script = "import sys\nfrom nbtrack.store.local import Store\nstore = Store(sys.argv[1])\n" + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_tinydb_writes_append_one_line_per_changed_document(tmp_path):
    store = Store(tmp_path)
    first = store.table.insert({"experiment": "e", "n": 1})  # insert without an id makes a run id
    assert ids.is_run_id(first) and store.get_doc(first) == {"experiment": "e", "n": 1, "id": first}
    second = ids.new_run_id()
    store.table.insert(Document({"experiment": "e", "n": 2}, doc_id=second))
    before = journal_lines(tmp_path)
    assert [line["op"] for line in before] == ["header", "put", "put"]

    assert store.table.update({"status": "finished"}, Query().n == 2) == [second]
    assert store.table.update({"n": 1}, Query().n == 1) == [first]  # matched, but unchanged: nothing written
    store.table.upsert(Document({"n": 3}, doc_id=first))
    store.table.remove(where("n") == 3)
    after = journal_lines(tmp_path)
    assert after[: len(before)] == before  # appended to, never rewritten
    assert [(line["op"], line["id"]) for line in after[len(before) :]] == [
        ("put", second),
        ("put", first),
        ("del", first),
    ]
    assert after[len(before)]["doc"] == {"experiment": "e", "n": 2, "id": second, "status": "finished"}
    store.table.truncate()
    assert journal_lines(tmp_path)[-1] == {"op": "del", "t": "runs", "id": second}
    assert Store(tmp_path).run_docs() == {}


def test_another_process_sees_tinydb_writes_and_writes_through_tinydb_too(tmp_path):
    store = Store(tmp_path)
    run_id = store.table.insert({"experiment": "e", "params": {"lr": 0.01}})
    out = in_another_process(
        tmp_path,
        """
        from tinydb import Query
        (doc,) = store.table.search(Query().params.lr == 0.01)
        store.table.update({"status": "finished"}, doc_ids=[doc.doc_id])
        print(doc.doc_id)
        """,
    )
    assert out == run_id
    assert store.table.get(doc_id=run_id)["status"] == "finished"  # read incrementally from the other's line


def test_query_cache_is_not_stale_after_another_process_writes(tmp_path):
    store = Store(tmp_path)
    store.put_run({"id": ids.new_run_id(), "tags": {"stage": "explore"}})
    explore = Query().tags.stage == "explore"
    assert len(store.table.search(explore)) == 1
    assert len(store.table.search(explore)) == 1  # served from TinyDB's query cache
    in_another_process(tmp_path, 'store.table.insert({"tags": {"stage": "explore"}})')
    assert len(store.table.search(explore)) == 2
    assert store.table.count(explore) == 2


def test_runs_where_accepts_a_tinydb_query(tmp_path):
    store = Store(tmp_path)
    made = {}
    for name, lr, acc, stage in [("a", 0.01, 0.95, "explore"), ("b", 0.3, 0.97, "final"), ("c", math.nan, 0.5, "x")]:
        with nbtrack.track(name=name, params={"lr": lr}, tags={"stage": stage}, store=store, environment=False) as r:
            r.log_metric("acc", acc)
        made[name] = r.id
    with nbtrack.track(name="d", params={"lr": "high"}, store=store, environment=False) as r:
        pass  # a string where the query compares numbers: no match, no error

    def names(where):
        return sorted(nbtrack.runs(where=where, store=store)["name"])

    assert names(Query().params.lr < 0.1) == ["a"]  # NaN is stored tagged and does not match, as in the string where
    assert names(Query().params.lr < 0.1) == names("params.lr < 0.1")
    assert names(Query().metrics.acc > 0.9) == ["a", "b"]
    assert names(Query().status == "finished") == ["a", "b", "c", "d"]
    assert names(Query().tags.stage == "explore") == ["a"]
    assert names(Query().tags.stage.one_of(["explore", "final"]) & (Query().metrics.acc > 0.96)) == ["b"]
    assert names(lambda run: run.name == "c") == ["c"]  # a plain function still filters Run objects
    frame = nbtrack.runs(where=Query().params.lr < 0.1, store=store)
    assert list(frame["run_id"]) == [made["a"]] and frame["params.lr"].tolist() == [0.01]
    assert nbtrack.runs(experiment="nope", where=Query().params.lr < 0.1, store=store).empty


def test_default_table_and_whole_database_writes_stay_in_the_journal(tmp_path):
    store = Store(tmp_path)
    run_id = store.db.insert({"n": 1})  # TinyDB's default table is the runs table
    assert store.db.tables() == {"runs"} and store.db.get(doc_id=run_id)["n"] == 1
    assert len(store.db) == 1
    store.db.drop_table("runs")  # through JournalStorage.write: a delete line, not a rewrite
    assert journal_lines(tmp_path)[-1] == {"op": "del", "t": "runs", "id": run_id}
    assert Store(tmp_path).run_docs() == {}


def test_a_failed_or_invalid_write_writes_nothing(tmp_path):
    store = Store(tmp_path)
    run_id = store.table.insert({"n": 1})
    size = (tmp_path / "runs.jsonl").stat().st_size
    with pytest.raises(ValueError, match="already exists"):
        store.table.insert(Document({"n": 2}, doc_id=run_id))
    with pytest.raises(ValueError, match="not a run id"):
        store.table.insert(Document({"n": 2}, doc_id="../x"))
    with pytest.raises(ValueError, match="says its id is"):
        store.table.insert(Document({"id": ids.new_run_id()}, doc_id=ids.new_run_id()))
    with pytest.raises(ValueError):
        store.table.update({"x": math.inf}, doc_ids=[run_id])  # not strict JSON
    assert (tmp_path / "runs.jsonl").stat().st_size == size
    assert store.get_doc(run_id) == {"n": 1, "id": run_id}


def test_nested_edits_in_an_update_are_written_and_do_not_leak_before(tmp_path):
    store = Store(tmp_path)
    run_id = store.table.insert({"params": {"lr": 0.1}})
    state_doc = store.run_docs()[run_id]

    def bad(doc):
        doc["params"]["lr"] = 0.5
        raise RuntimeError("updater failed half way")

    with pytest.raises(RuntimeError):
        store.table.update(bad, doc_ids=[run_id])
    assert state_doc["params"]["lr"] == 0.1  # the updater edited a copy
    store.table.update(lambda doc: doc["params"].update(lr=0.2), doc_ids=[run_id])
    assert Store(tmp_path).get_doc(run_id)["params"] == {"lr": 0.2}


def test_put_writes_without_reading_the_store(tmp_path):
    Store(tmp_path).journal.append(
        [{"op": "put", "t": "runs", "id": ids.new_run_id(), "doc": {}} for _ in range(1000)], durable=False
    )
    late = Store(tmp_path)
    late.put_run({"id": ids.new_run_id()})
    assert late.journal.state == {}  # one appended line; the 1,000 before it were not replayed
    assert len(late.run_docs()) == 1001
