"""The Store: run records by id and prefix, shared by processes; journal, blobs and TinyDB have their own tests."""

import multiprocessing
import os
import subprocess
import sys
import textwrap

import pytest

from nbtrack import ids
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


def test_store_dir_is_created_only_on_write(tmp_path):
    store = Store(tmp_path / "later")
    assert store.run_docs() == {}
    assert not os.path.exists(tmp_path / "later")


def test_get_doc_is_a_copy_and_a_missing_run_says_where_it_looked(tmp_path):
    store = Store(tmp_path)
    d = doc(1)
    store.put_run(d)
    got = store.get_doc(d["id"][:20])
    got["n"] = 5  # a caller's change to what it got does not reach the store
    assert store.get_doc(d["id"])["n"] == 1
    with pytest.raises(RunNotFoundError, match=str(tmp_path)):
        store.get_doc(ids.new_run_id())
    with pytest.raises(ValueError, match="not a run id"):
        store.put_run({"id": "not-an-id"})


# consistent updates: a running run deleted or tagged meanwhile (issue 18, reproduction 10) ------------------

OWNER = textwrap.dedent(
    """
    import sys, warnings, nbtrack
    warnings.simplefilter("always")
    nbtrack.set_store(sys.argv[1])
    for name in ("deleted", "tagged"):
        with nbtrack.track(name=name) as run:
            nbtrack.set_tag("mine", name)
            print(run.id, flush=True)
            sys.stdin.readline()  # the other process deletes or tags it now
            nbtrack.log_metric("m", 1.0)
    """
)


def start_owner(code: str, root) -> subprocess.Popen:
    """A process running ``code`` on the store at ``root``, talked to through its stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-c", code, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_deleted_or_tagged_while_it_runs_in_another_process_stays_so(tmp_path):
    owner = start_owner(OWNER, tmp_path)
    other = Store(tmp_path)
    deleted = owner.stdout.readline().strip()
    other.delete_run(deleted)
    assert other.journal.compact()  # the tombstone survives compaction
    owner.stdin.write("\n")
    owner.stdin.flush()
    tagged = owner.stdout.readline().strip()
    other.tag_run(tagged, {"stage": "review"})
    owner.stdin.write("\n")
    owner.stdin.flush()
    _, err = owner.communicate(timeout=60)
    assert owner.returncode == 0, err
    docs = Store(tmp_path).run_docs()
    assert deleted not in docs  # not brought back by its final record
    assert f"run {deleted} was deleted while it ran; its final record was not saved" in err
    assert docs[tagged]["tags"] == {"mine": "tagged", "stage": "review"}  # both tags, and the final record
    assert docs[tagged]["status"] == "finished" and docs[tagged]["metrics"] == {"m": 1.0}


def test_delete_and_set_tag_on_a_running_run_in_this_process(store_dir):
    import warnings

    import nbtrack
    from nbtrack import NbtrackWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.track(name="gone") as gone:
            nbtrack.delete_run(gone.id)
            nbtrack.log_metric("m", 1.0)  # the cell goes on
    said = [str(w.message) for w in caught if issubclass(w.category, NbtrackWarning)]
    assert len(said) == 1 and f"run {gone.id} was deleted while it ran" in said[0]
    assert gone.id not in Store(store_dir).run_docs()
    with nbtrack.track(name="kept", tags={"a": 1}) as kept:
        nbtrack.set_tag("stage", "review", run=kept.id)
        nbtrack.set_tag("b", 2)
    assert Store(store_dir).get_doc(kept.id)["tags"] == {"a": 1, "stage": "review", "b": 2}


def test_the_owner_keeps_writing_after_a_tag_and_a_deleted_finished_run_can_come_back(tmp_path):
    owner, other = Store(tmp_path), Store(tmp_path)
    run = doc(1, status="running", tags={"mine": 1})
    owner.put_run(run, durable=False)
    other.tag_run(run["id"], {"theirs": 2})
    owner.put_run({**run, "tags": {"mine": 2}})  # the owner changes its own tag; theirs is merged
    owner.put_run({**run, "tags": {"mine": 3}, "status": "finished"})  # ... and stays merged on later writes
    assert Store(tmp_path).get_doc(run["id"])["tags"] == {"mine": 3, "theirs": 2}
    other.delete_run(run["id"])  # a finished run: no tombstone, a later import may bring it back
    assert "tomb" not in (tmp_path / "runs.jsonl").read_text().splitlines()[-1]
    Store(tmp_path).put_run(run)
    assert run["id"] in Store(tmp_path).run_docs()


# a writer that never read the store: what others did to its running run is read from the bytes appended
# since its own last line of that run, not from a load of the whole store (issue 17) ------------------------

BLIND_OWNER = textwrap.dedent(
    """
    import json, sys
    from nbtrack import ids
    from nbtrack.errors import RunDeletedError
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    run = {"id": ids.new_run_id(), "experiment": "e", "status": "running", "tags": {"mine": 1}}
    store.put_run(run, durable=False)
    print(run["id"], flush=True)
    sys.stdin.readline()  # the other process tags, deletes or compacts now
    outcome = "saved"
    class Owner: pass
    owner = Owner()
    store.open_run(run["id"], owner)
    run["series"] = store.put_blob(b"a small blob: a journal line")
    try:
        store.put_run({**run, "tags": {"mine": 2}})
        store.put_run({**run, "tags": {"mine": 3}, "status": "finished"})
    except RunDeletedError as exc:
        outcome = str(exc)
    print(json.dumps({"outcome": outcome, "read": store.journal.identity is not None}), flush=True)
    """
)


@pytest.mark.parametrize("compact", [False, True], ids=["appended", "compacted"])
@pytest.mark.parametrize("action", ["tag", "delete", "nothing"])
def test_a_writer_that_never_read_the_store_sees_what_others_did_to_its_running_run(tmp_path, action, compact):
    import json

    other = Store(tmp_path)
    for n in range(300):
        other.put_run(doc(n, status="finished"), durable=False)
    owner = start_owner(BLIND_OWNER, tmp_path)
    run_id = owner.stdout.readline().strip()
    # Lines that look like the run's but are not about it: another run's record naming it, and other runs.
    other.put_run(doc(1, status="finished", params={"t": "runs", "id": run_id, "tags": {"decoy": 1}}))
    if action == "tag":
        other.tag_run(run_id, {"theirs": "x"})
    elif action == "delete":
        other.delete_run(run_id)
    other.put_run(doc(2, status="finished"))
    if compact:
        assert other.journal.compact()  # another file in place: the owner reads the store instead
    owner.stdin.write("\n")
    owner.stdin.flush()
    out, err = owner.communicate(timeout=60)
    assert owner.returncode == 0, err
    said = json.loads(out.splitlines()[-1])
    docs = Store(tmp_path).run_docs()
    if action == "delete":
        assert said["outcome"] == f"run {run_id} was deleted while it ran; its final record was not saved"
        assert run_id not in docs
    else:
        assert said["outcome"] == "saved"
        theirs = {"theirs": "x"} if action == "tag" else {}
        assert docs[run_id]["tags"] == {"mine": 3, **theirs} and docs[run_id]["status"] == "finished"
        assert Store(tmp_path).get_blob(docs[run_id]["series"]) == b"a small blob: a journal line"
    assert said["read"] is compact  # the store was read only when the journal was replaced meanwhile
    assert len(docs) == 302 + (action != "delete")
