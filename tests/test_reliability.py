"""Trying hard to break the store: concurrent writers, SIGKILL mid-write, corruption, disk full.

Figures these tests produce are summarised in docs/reliability.md.
"""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import nbtrack
from nbtrack import NbtrackWarning
from nbtrack.cli import main as cli
from nbtrack.errors import StoreCorruptionWarning
from nbtrack.store import files, journal
from nbtrack.store.local import Store

WRITER = textwrap.dedent(
    """
    import os, sys, nbtrack
    nbtrack.set_store(sys.argv[1])
    tag, count = sys.argv[2], int(sys.argv[3])
    for n in range(count):
        with nbtrack.track(name=f"{tag}-{n}", experiment="load", params={"writer": tag, "n": n},
                           environment=(n % 50 == 0)) as run:
            nbtrack.log_metric("value", n)
        print(run.id, flush=True)
    """
)

READER = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("error")
    from nbtrack.store.local import Store
    root, expected = sys.argv[1], int(sys.argv[2])
    hot = Store(root)
    reads, seen = 0, 0
    deadline = time.time() + 240
    while time.time() < deadline:
        cold = Store(root).run_docs()
        for doc in cold.values():
            assert doc["params"]["writer"] in "abcd", doc
            if doc["status"] == "finished":
                assert doc["metrics"]["value"] == doc["params"]["n"], doc
            else:
                assert doc["status"] == "running" and doc["metrics"] == {}, doc
        now = len(hot.run_docs())
        assert now >= seen
        seen = now
        reads += 1
        if seen >= expected and len([d for d in cold.values() if d["status"] == "finished"]) >= expected:
            break
    print(reads, seen)
    """
)


def test_four_writers_and_a_reader_lose_nothing(tmp_path):
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path), "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), tag, "250"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in "abcd"
    ]
    reported = []
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        reported += out.split()
    out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0, err
    docs = Store(tmp_path).run_docs()
    assert len(reported) == len(set(reported)) == 1000
    assert sorted(docs) == sorted(reported)
    for tag in "abcd":
        mine = [d for d in docs.values() if d["params"]["writer"] == tag]
        assert sorted(d["params"]["n"] for d in mine) == list(range(250))
        assert all(d["status"] == "finished" and d["metrics"]["value"] == d["params"]["n"] for d in mine)
    reads, seen = map(int, out.split())
    assert reads >= 1 and seen == 1000


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from nbtrack import ids
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    print("ready", flush=True)
    n = int(sys.argv[2])
    while True:
        size = (n * 7919) % 40_000            # some writes are large, so kills land inside them
        doc = {"id": ids.new_run_id(), "n": n, "payload": "x" * size}
        store.put_run(doc)
        if n % 5 == 0:
            store.put_blob(os.urandom(size // 3 + 1))
        print(doc["id"], size, flush=True)
        n += 1
    """
)


TORN_WRITER = textwrap.dedent(
    """
    import sys, time
    from nbtrack import ids
    from nbtrack.store import files
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    real_write = files.write_all

    def half_then_wait(fd, data):  # the journal line's first half is on disk when the kill comes
        real_write(fd, data[: len(data) // 2])
        print("inside", flush=True)
        time.sleep(120)

    files.write_all = half_then_wait
    store.put_run({"id": ids.new_run_id(), "n": -2, "payload": "x" * 5000})
    """
)


def ends_torn(path) -> bool:
    """The journal ends inside a line: the last kill landed inside a write."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if not f.tell():
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def kill_writer(script: str, root, arg: str, rng: random.Random | None) -> list[str]:
    """Start a writer, SIGKILL it (after a random pause, or once it says it is inside a write); its output."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(root), arg], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline().strip()
    assert first == ("ready" if rng else "inside"), first
    if rng:
        time.sleep(rng.uniform(0, 0.05))
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    return out.splitlines()


def test_sigkill_during_writes_loses_no_committed_run(tmp_path):
    """200 kills at random moments (more, up to 1,000 or 3 minutes, until one lands inside a write): the
    store always opens, every committed run is intact, and a torn line is cut off and kept.

    A kill lands inside a write only when it hits the few microseconds the kernel spends copying a
    line, so on a loaded machine 200 random kills may all miss; if even the extra ones do, one writer
    is killed while its line is half written, so the torn-tail path is always checked."""
    rng = random.Random(1234)
    committed: dict[str, int] = {}
    kills = landed = 0
    deadline = time.monotonic() + 180
    journal_path = tmp_path / "runs.jsonl"
    while kills < 200 or (not landed and kills < 1000 and time.monotonic() < deadline):
        for line in kill_writer(KILLED_WRITER, tmp_path, str(rng.randrange(10**6)), rng):
            fields = line.split()
            if len(fields) == 2:  # a line cut by the kill says nothing we can check
                committed[fields[0]] = int(fields[1])
        kills += 1
        landed += journal_path.exists() and ends_torn(journal_path)
        docs = Store(tmp_path).run_docs()  # opens, whatever state the kill left
        missing = [run_id for run_id in committed if run_id not in docs]
        assert not missing, f"{len(missing)} committed runs lost"
    forced = not landed
    if forced:  # every random kill missed the writes: kill one writer mid-line
        kill_writer(TORN_WRITER, tmp_path, "", None)
        assert ends_torn(journal_path)
    docs = Store(tmp_path).run_docs()
    for run_id, size in committed.items():
        assert docs[run_id]["payload"] == "x" * size
    survivor = Store(tmp_path)
    survivor.put_run({"id": nbtrack.ids.new_run_id(), "n": -1, "payload": ""})  # the next write succeeds
    assert len(Store(tmp_path).run_docs()) == len(docs) + 1
    assert not ends_torn(journal_path)  # the torn tail was cut off...
    torn = (tmp_path / "runs.jsonl.torn").read_bytes().count(b"\n")  # ...and kept
    print(
        f"\n{kills} kills, {len(committed)} committed runs, all intact; {landed} random kill(s) inside a write"
        f"{' (and one forced)' if forced else ''}; {torn} torn writes cut off"
    )
    assert len(committed) > kills  # most writers committed some runs before being killed
    assert torn >= 1


def test_a_writer_killed_inside_a_line_leaves_a_tail_that_is_cut_and_kept(tmp_path):
    """The kill the random ones may miss, made certain: the store opens, nothing committed is lost."""
    store = Store(tmp_path)
    made = [nbtrack.ids.new_run_id() for _ in range(3)]
    for n, run_id in enumerate(made):
        store.put_run({"id": run_id, "n": n})
    kill_writer(TORN_WRITER, tmp_path, "", None)
    assert ends_torn(tmp_path / "runs.jsonl")
    assert sorted(Store(tmp_path).run_docs()) == sorted(made)  # the torn line is not a run, and no warning
    Store(tmp_path).put_run({"id": nbtrack.ids.new_run_id(), "n": 3})
    assert not ends_torn(tmp_path / "runs.jsonl") and len(Store(tmp_path).run_docs()) == 4
    assert b'"n":-2' in (tmp_path / "runs.jsonl.torn").read_bytes()  # what was cut off is kept


def test_lock_of_a_killed_holder_is_released(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from nbtrack.store.local import Store; s = Store(sys.argv[1]); s.ensure()\n"
            "with s.lock:\n    print('locked', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    assert str(holder.pid) in (tmp_path / "lock").read_text()  # who holds it is visible
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    store = Store(tmp_path)
    store.lock.timeout = 5
    start = time.monotonic()
    store.put_run({"id": nbtrack.ids.new_run_id()})
    assert time.monotonic() - start < 2


def test_busy_lock_times_out_with_a_clear_message(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from nbtrack.store.local import Store; s = Store(sys.argv[1]); s.ensure()\n"
            "with s.lock:\n    print('locked', flush=True); time.sleep(30)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        store = Store(tmp_path)
        store.lock.timeout = 0.3
        with pytest.raises(TimeoutError, match=f"held by process {holder.pid}"):
            store.put_run({"id": nbtrack.ids.new_run_id()})
    finally:
        holder.kill()
        holder.wait()


def test_doctor_restores_runs_from_the_last_good_copy(tmp_path):
    store = Store(tmp_path)
    made = [nbtrack.ids.new_run_id() for _ in range(5)]
    for n, run_id in enumerate(made):
        store.put_run({"id": run_id, "n": n})
    store.delete_run(made[0])
    assert store.journal.compact()
    assert (tmp_path / "runs.jsonl.prev").exists()
    path = tmp_path / "runs.jsonl"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated in the middle of a line
    with pytest.warns(StoreCorruptionWarning, match="committed data is missing"):  # the loss is reported on read
        assert len(Store(tmp_path).run_docs()) < 4
    with pytest.warns(StoreCorruptionWarning, match="committed data is missing"):  # doctor reads the runs too
        assert cli(["--store", str(tmp_path), "doctor"]) == 1
    assert cli(["--store", str(tmp_path), "doctor", "--repair"]) == 0
    docs = Store(tmp_path).run_docs()  # repaired: no warning any more (warnings are errors here)
    assert sorted(docs) == sorted(made[1:])  # every intact run back, the deleted one stays deleted
    assert [doc["n"] for _, doc in sorted(docs.items())] == [1, 2, 3, 4]
    assert list(tmp_path.glob("runs.jsonl.damaged-*"))


def test_disk_full_mid_write_keeps_cell_and_store_intact(store_dir, monkeypatch):
    with nbtrack.track(name="before") as before:
        pass
    real_write = files.write_all

    def half_then_enospc(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_all", half_then_enospc)
    results = []
    with pytest.warns(NbtrackWarning, match="could not be saved.*No space left"), nbtrack.track(name="full"):
        results.append(sum(range(10)))
    assert results == [45]
    monkeypatch.setattr(files, "write_all", real_write)
    fresh = Store(store_dir)
    assert before.id in fresh.run_docs()
    with nbtrack.track(name="after") as after:
        pass
    docs = Store(store_dir).run_docs()
    assert {before.id, after.id} <= set(docs)
    lines = (store_dir / "runs.jsonl").read_bytes().splitlines()
    assert all(journal.decode_line(line) for line in lines)  # the half-written line was cut off
    assert (store_dir / "runs.jsonl.torn").exists()  # ... and kept aside, not thrown away


def test_names_never_become_paths(store_dir, tmp_path):
    evil = "../../x<script>alert(1)</script>\x00"
    before = set(p for p in tmp_path.rglob("*"))
    with nbtrack.track(name=evil, experiment=evil, params={evil: evil}, tags={"../t": "/etc/passwd"}) as run:
        nbtrack.log_metric("../../m", 1.0)
    created = set(p for p in tmp_path.rglob("*")) - before
    assert all(store_dir in p.parents or p == store_dir for p in created)
    got = nbtrack.get_run(run.id)
    assert got.name == evil and got.experiment == evil and got.params[evil.replace("\x00", "")] == evil
    assert json.loads(json.dumps(got.doc))["name"] == evil


@pytest.mark.parametrize("code", ["ENOSPC", "EDQUOT"])
def test_disk_full_during_compaction_saves_the_record_says_so_and_leaves_no_temp_file(store_dir, monkeypatch, code):
    store = Store(store_dir)
    store.run_docs()
    for _ in range(60):  # the live records: a compacted copy of about 20 KB
        store.put_run({"id": nbtrack.ids.new_run_id(), "payload": "x" * 300}, durable=False)
    base = {"id": nbtrack.ids.new_run_id(), "n": 0}
    for n in range(1000):  # 999 superseded lines: the next write compacts
        store.put_run({**base, "n": n}, durable=False)
    real_write = files.write_all

    def full_for_big_writes(fd, data):
        if len(data) > 10_000:  # the compacted copy; the appended record is small
            real_write(fd, data[: len(data) // 2])
            raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
        real_write(fd, data)

    monkeypatch.setattr(files, "write_all", full_for_big_writes)
    with pytest.warns(NbtrackWarning) as said:
        store.put_run({**base, "n": 1000})  # no exception: the record itself is saved
        store.put_run({**base, "n": 1001})  # and no second attempt (nor warning) right away
    messages = [str(w.message) for w in said]
    assert len(messages) == 1 and "could not compact" in messages[0] and "every record is saved" in messages[0]
    assert not any("could not be saved" in m for m in messages)
    assert [p.name for p in store_dir.iterdir() if p.name.endswith(".tmp")] == []  # the partial copy was removed
    assert Store(store_dir).get_doc(base["id"])["n"] == 1001
    monkeypatch.setattr(files, "write_all", real_write)


def test_a_failed_record_write_says_it_was_not_saved_and_the_rest_is_intact(store_dir, monkeypatch):
    from nbtrack.errors import StoreWriteError

    store = Store(store_dir)
    kept = {"id": nbtrack.ids.new_run_id()}
    store.put_run(kept)

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_all", full)
    with pytest.raises(StoreWriteError, match=r"No space left on device.*this write was not saved.*intact") as caught:
        store.put_run({"id": nbtrack.ids.new_run_id()})
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert list(Store(store_dir).run_docs()) == [kept["id"]]


def test_a_journal_deleted_after_commits_is_reported_gone(tmp_path):
    writer = Store(tmp_path)
    writer.put_run({"id": nbtrack.ids.new_run_id(), "status": "finished"})
    (tmp_path / "runs.jsonl").unlink()
    with pytest.warns(StoreCorruptionWarning, match="the file is gone"):
        Store(tmp_path).run_docs()


def test_a_journal_created_between_a_readers_look_and_its_mark_read_is_not_called_gone(tmp_path, monkeypatch):
    """A reader that found no journal reads the mark next; if a writer created the journal and moved the
    mark in between, the data is not lost: it is there to read (seen once in CI, a reader and two writers)."""
    reader = Store(tmp_path)
    real = journal.mark.read

    def written_meanwhile(lock_path):
        monkeypatch.setattr(journal.mark, "read", real)
        Store(tmp_path).put_run({"id": nbtrack.ids.new_run_id(), "status": "finished"})
        return real(lock_path)

    monkeypatch.setattr(journal.mark, "read", written_meanwhile)
    assert len(reader.run_docs()) == 0 and not reader.journal.losses  # nothing was there when it looked
    assert len(reader.run_docs()) == 1 and not reader.journal.losses
