"""The checkpoint (store/checkpoint.py): written at compaction, loaded by a fresh process when it matches
the journal, ignored whenever it does not (damaged, stale, for a rewritten journal), never trusted over it.

Whether a fresh process used the checkpoint is seen by counting the journal lines it replayed (a spy
around ``Journal._replay`` that calls the real method): with the checkpoint only the tail is replayed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nbtrack import ids
from nbtrack.cli import main as cli
from nbtrack.store import checkpoint
from nbtrack.store.docs import Docs
from nbtrack.store.journal import Journal
from nbtrack.store.local import Store

FIXTURE = Path(__file__).parent / "fixtures" / "store-0.1.0"
ENV = {"python": "3.11.7", "platform": "Linux-x86_64", "packages": {"numpy": "1.26", "pandas": "2.1"}}


@pytest.fixture
def replayed(monkeypatch):
    """How many journal lines each Journal object replayed (chunk lines count once), as a list of counts."""
    counts: list[int] = []
    real = Journal._replay

    def spy(self, lines, at):
        lines = list(lines)
        counts.append(len(lines))
        return real(self, lines, at)

    monkeypatch.setattr(Journal, "_replay", spy)
    return counts


def fill(store: Store, n: int, start: int = 0) -> list[str]:
    made = []
    for i in range(start, start + n):
        run_id = ids.new_run_id()
        store.put_run({"id": run_id, "status": "running", "params": {"i": i}, "env": ENV}, durable=False)
        store.put_run({"id": run_id, "status": "finished", "params": {"i": i}, "metrics": {"m": i / 7}, "env": ENV})
        made.append(run_id)
    return made


def fresh(root: Path) -> Journal:
    journal = Store(root).journal
    journal.refresh()
    return journal


def journal_only(root: Path) -> Journal:
    """The state a replay of the journal alone gives (the checkpoint moved aside, then put back)."""
    ckpt = checkpoint.path_of(root / "runs.jsonl")
    aside = ckpt.with_name("aside")
    moved = ckpt.exists()
    if moved:
        ckpt.rename(aside)
    try:
        return fresh(root)
    finally:
        if moved:
            aside.rename(ckpt)


@pytest.fixture
def compacted(tmp_path) -> Path:
    store = Store(tmp_path)
    made = fill(store, 600)
    store.delete_run(made[3])
    store.journal.compact()
    assert checkpoint.path_of(store.journal.path).exists()
    return tmp_path


def test_round_trip_equals_journal_replay(compacted, replayed):
    loaded = fresh(compacted)
    assert replayed == []  # nothing after the checkpoint: no journal line decoded
    truth = journal_only(compacted)
    assert replayed and replayed[0] > 0
    assert loaded.state == truth.state and len(loaded.state["runs"]) == 599
    assert list(loaded.state["runs"]) == list(truth.state["runs"])  # same order, so the same frame
    assert loaded.tombstones == truth.tombstones
    assert loaded.offset == truth.offset == (compacted / "runs.jsonl").stat().st_size
    some = next(iter(truth.state["runs"]))
    assert loaded.index.with_prefix(some[:10]) == truth.index.with_prefix(some[:10]) == [some]
    store = Store(compacted)  # and the store it opens goes on as usual
    store.put_run({"id": ids.new_run_id(), "params": {"i": -1}})
    assert len(Store(compacted).run_docs()) == 600


def damage(path: Path, how: str) -> None:
    raw = bytearray(path.read_bytes())
    if how == "body":
        raw[-100] ^= 0x40
    elif how == "header":
        at = raw.index(b'"covers":') + 9
        raw[at] = ord("1") if raw[at] != ord("1") else ord("2")
    elif how == "magic":
        raw[3] ^= 0x01
    elif how == "truncated":
        raw = raw[: len(raw) // 2]
    elif how == "empty":
        raw = bytearray()
    elif how == "garbage":
        raw = bytearray(b"nbtrack-checkpoint 1\n{}\n" + b"\x00" * 100)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["body", "header", "magic", "truncated", "empty", "garbage"])
def test_corrupt_checkpoint_is_ignored_and_doctor_calls_it_harmless(compacted, replayed, how, capsys):
    truth = journal_only(compacted)
    replayed.clear()
    damage(checkpoint.path_of(compacted / "runs.jsonl"), how)
    loaded = fresh(compacted)
    assert replayed and replayed[0] > 0  # the whole journal was read
    assert loaded.state == truth.state
    assert cli(["--store", str(compacted), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "runs.ckpt" in out and "harmless" in out
    Store(compacted).journal.compact()  # and the next compaction writes a good one
    replayed.clear()
    assert fresh(compacted).state == truth.state and replayed == []


def test_stale_checkpoint_replays_only_the_tail(compacted, replayed):
    covered = (compacted / "runs.jsonl").stat().st_size
    added = fill(Store(compacted), 7)  # another process's later writes: 14 lines after the checkpoint
    tail = (compacted / "runs.jsonl").read_bytes()[covered:].count(b"\n")
    assert tail == 14
    replayed.clear()
    loaded = fresh(compacted)
    assert sum(replayed) == tail
    truth = journal_only(compacted)
    assert loaded.state == truth.state and all(loaded.state["runs"][r]["status"] == "finished" for r in added)
    assert loaded.offset == truth.offset


REWRITER = textwrap.dedent(
    """
    import sys
    from nbtrack import ids
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    store.delete_run(sys.argv[2])
    store.journal.compact()
    for i in range(300):  # the rewritten journal grows past what the old checkpoint covers
        store.put_run({"id": ids.new_run_id(), "params": {"i": -i}})
    """
)


def test_journal_rewritten_by_another_process_is_detected(compacted, replayed):
    ckpt = checkpoint.path_of(compacted / "runs.jsonl")
    old = ckpt.read_bytes()
    victim = next(iter(journal_only(compacted).state["runs"]))
    subprocess.run([sys.executable, "-c", REWRITER, str(compacted), victim], check=True)
    assert ckpt.read_bytes() != old  # that compaction wrote its own checkpoint...
    ckpt.write_bytes(old)  # ...as if it had not (an older nbtrack): the old checkpoint now lies
    assert checkpoint.header(old)["covers"] < (compacted / "runs.jsonl").stat().st_size
    replayed.clear()
    loaded = fresh(compacted)
    assert replayed and replayed[0] > 0
    assert victim not in loaded.state["runs"] and len(loaded.state["runs"]) == 598 + 300
    assert "rewritten" in (checkpoint.describe(compacted / "runs.jsonl") or "")


def test_gc_rewrites_the_checkpoint(compacted, replayed, capsys):
    store = Store(compacted)
    victim = next(iter(store.run_docs()))
    store.delete_run(victim)
    assert cli(["--store", str(compacted), "gc"]) == 0
    replayed.clear()
    loaded = fresh(compacted)
    assert replayed == [] and victim not in loaded.state["runs"]
    assert "matches" in (checkpoint.describe(compacted / "runs.jsonl") or "")


def test_store_of_the_previous_version_opens_and_gets_a_checkpoint(tmp_path, replayed):
    shutil.copytree(FIXTURE / "store", tmp_path / "store")
    root = tmp_path / "store"
    ckpt = checkpoint.path_of(root / "runs.jsonl")
    assert not ckpt.exists()
    before = Store(root).run_docs()
    assert before
    Store(root).journal.compact()
    assert ckpt.exists()
    replayed.clear()
    assert Store(root).run_docs() == before and replayed == []


def test_symlinked_checkpoint_is_not_followed(compacted, replayed, tmp_path_factory):
    ckpt = checkpoint.path_of(compacted / "runs.jsonl")
    elsewhere = tmp_path_factory.mktemp("other") / "planted.ckpt"
    ckpt.rename(elsewhere)
    ckpt.symlink_to(elsewhere)
    replayed.clear()
    fresh(compacted)
    assert replayed and replayed[0] > 0


KILLED_IN_CHECKPOINT = textwrap.dedent(
    """
    import sys, time
    from nbtrack import ids
    from nbtrack.store import checkpoint, files
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    where = sys.argv[2]
    real_create, real_install = files.create_new, checkpoint.install

    def half_then_wait(path, data, **kw):  # the checkpoint's temporary file is half written
        if ".ckpt." not in str(path):
            return real_create(path, data, **kw)
        fd = open(path, "xb")
        fd.write(data[: len(data) // 2]); fd.flush()
        print("inside", flush=True)
        time.sleep(120)

    def replaced_then_wait(journal, tmp):  # the new journal is in place, its checkpoint not yet
        print("inside", flush=True)
        time.sleep(120)

    if where == "write":
        files.create_new = half_then_wait
    else:
        checkpoint.install = replaced_then_wait
    for i in range(50):
        store.put_run({"id": ids.new_run_id(), "params": {"i": i}})
    print("committed", flush=True)
    store.journal.compact()
    """
)


@pytest.mark.parametrize("where", ["write", "install"])
def test_sigkill_while_writing_the_checkpoint_keeps_every_committed_run(compacted, where):
    import os
    import signal

    truth = journal_only(compacted).state["runs"]
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_IN_CHECKPOINT, str(compacted), where], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "committed"
    assert proc.stdout.readline().strip() == "inside"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    docs = Store(compacted).run_docs()
    assert set(truth) <= set(docs) and len(docs) == len(truth) + 50
    assert docs == journal_only(compacted).state["runs"]
    Store(compacted).journal.compact()  # the next compaction leaves a good checkpoint
    assert "matches" in (checkpoint.describe(compacted / "runs.jsonl") or "")


def test_values_equal_in_python_but_not_in_json_are_kept_apart(tmp_path, replayed):
    """The checkpoint stores a value repeated by consecutive records once; 1 == 1.0, True == 1 and
    dicts in another key order are equal in Python but not the same JSON: each record keeps its own."""
    store = Store(tmp_path)
    variants = [{"a": 1, "b": 2}, {"a": 1.0, "b": 2}, {"a": True, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "b": 2}]
    made = []
    for env in variants * 3:
        run_id = ids.new_run_id()
        store.put_run({"id": run_id, "env": env, "owner": {"pid": 1}})
        made.append(run_id)
    store.journal.compact()
    truth = journal_only(tmp_path)
    replayed.clear()
    loaded = fresh(tmp_path)
    assert replayed == []
    for run_id in made:
        assert json.dumps(loaded.state["runs"][run_id]) == json.dumps(truth.state["runs"][run_id])
    owners = {id(loaded.state["runs"][run_id]["owner"]) for run_id in made}
    assert len(owners) == 1  # the repeated owner is stored, and loaded, once


def test_checkpoint_of_another_store_is_ignored(compacted, tmp_path_factory, replayed):
    other = tmp_path_factory.mktemp("other")
    fill(Store(other), 300)
    Store(other).journal.compact()
    assert (other / "runs.jsonl").stat().st_size < (compacted / "runs.jsonl").stat().st_size  # the hash decides
    truth = journal_only(compacted)
    shutil.copy(checkpoint.path_of(other / "runs.jsonl"), checkpoint.path_of(compacted / "runs.jsonl"))
    replayed.clear()
    assert fresh(compacted).state == truth.state and replayed and replayed[0] > 0


def test_records_are_decoded_only_when_read(tmp_path, replayed):
    """Opening a store from its checkpoint decodes no record; reading one decodes its block only; iterating
    decodes them all, and the result equals a replay of the journal (order, tombstones, index)."""
    store = Store(tmp_path)
    made = fill(store, 700)
    for run_id in ids_of_running(store, 300):
        store.delete_run(run_id)  # tombstones
    store.delete_run(made[0])
    assert store.journal.compact()
    raw = checkpoint.path_of(store.journal.path).read_bytes()
    assert raw.startswith(b"nbtrack-checkpoint 2\n")
    replayed.clear()
    loaded = fresh(tmp_path)
    assert replayed == []  # read from the checkpoint
    docs = loaded.state["runs"]
    assert isinstance(docs, Docs) and docs.base and len(docs) == 699 and made[0] not in docs
    assert sum(docs.is_pending(run_id) for run_id in docs) == 699  # nothing decoded to open it
    assert loaded.index.with_prefix(made[500]) == [made[500]]  # ids made in one millisecond share 25 characters
    assert docs[made[500]]["params"] == {"i": 500}
    decoded = [run_id for run_id in docs if not docs.is_pending(run_id)]
    assert made[500] in decoded and len(decoded) == checkpoint.BLOCK_ROWS
    truth = journal_only(tmp_path)
    assert dict(docs.items()) == dict(truth.state["runs"].items()) and docs.decoded
    assert list(docs) == list(truth.state["runs"]) and loaded.tombstones == truth.tombstones
    assert len(loaded.tombstones["runs"]) == 300


def test_the_tail_replaces_checkpoint_records_not_yet_decoded(compacted, replayed):
    """A record the journal's tail changed or deleted wins over its checkpoint block, decoded or not."""
    truth_ids = list(journal_only(compacted).state["runs"])
    changed, gone = truth_ids[10], truth_ids[11]
    store = Store(compacted)
    store.tag_run(changed, {"k": "v"})
    store.delete_run(gone)
    replayed.clear()
    loaded = fresh(compacted)
    assert replayed and replayed[0] == 2  # only the two lines after the checkpoint
    docs = loaded.state["runs"]
    assert not docs.is_pending(changed) and gone not in docs
    assert docs.is_pending(truth_ids[12])  # their block was not decoded to replace one record and drop another
    assert docs[changed]["tags"] == {"k": "v"} and docs[truth_ids[12]]["params"] == {"i": 13}  # made[3] is gone
    assert docs == journal_only(compacted).state["runs"]
    assert {changed, gone} <= set(docs.log)


def test_checkpoint_of_the_previous_format_still_opens(tmp_path, replayed):
    """A store whose runs.ckpt the previous version wrote (format 1, all decoded at once) opens from it;
    its next compaction writes format 2."""
    import legacy_checkpoint

    store = Store(tmp_path)
    fill(store, 300)
    assert store.journal.compact()
    journal = store.journal.path
    truth = journal_only(tmp_path)
    covered = journal.read_bytes()
    state = {table: dict(docs.items()) for table, docs in truth.state.items()}
    old = legacy_checkpoint.encode(state, {t: sorted(k) for t, k in truth.tombstones.items()}, covered)
    checkpoint.path_of(journal).write_bytes(old)
    assert "matches" in (checkpoint.describe(journal) or "")
    replayed.clear()
    loaded = fresh(tmp_path)
    assert replayed == [] and loaded.state == truth.state
    assert list(loaded.state["runs"]) == list(truth.state["runs"])
    some = next(iter(truth.state["runs"]))
    assert loaded.index.with_prefix(some) == [some]
    fill(Store(tmp_path), 400)
    assert Store(tmp_path).journal.compact()
    assert checkpoint.path_of(journal).read_bytes().startswith(checkpoint.MAGIC)


def test_checkpoint_with_a_big_integer_round_trips(tmp_path, replayed):
    """orjson writes 64-bit integers only: a block holding a larger one is written and read as JSON."""
    store = Store(tmp_path)
    made = fill(store, 20)
    big = ids.new_run_id()
    store.put_run({"id": big, "status": "finished", "params": {"n": 2**70}, "big": -(2**80)})
    for _ in range(2):  # a big integer in a value records share: it goes in the checkpoint's meta
        store.put_run({"id": ids.new_run_id(), "status": "finished", "env": {"seed": 2**65}})
    assert store.journal.compact()
    replayed.clear()
    loaded = fresh(tmp_path)
    assert replayed == []
    assert loaded.state["runs"][big]["params"]["n"] == 2**70 and loaded.state["runs"][big]["big"] == -(2**80)
    assert loaded.state["runs"][made[3]]["params"] == {"i": 3}
    assert [doc["env"]["seed"] for doc in loaded.state["runs"].values() if "seed" in doc.get("env", {})] == [2**65] * 2


def ids_of_running(store: Store, n: int) -> list[str]:
    made = [ids.new_run_id() for _ in range(n)]
    for run_id in made:
        store.put_run({"id": run_id, "status": "running", "params": {}}, durable=False)
    return made
