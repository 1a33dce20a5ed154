"""Small blobs in the journal and in packs (store/packs.py): one durable wait per run, nothing lost to a kill.

A run's small blobs are journal lines written before its record, made durable by the record's fsync;
compaction moves them into a pack before dropping them. These tests check that from the outside: fsyncs
counted by ``files.fsync``, real subprocesses killed with SIGKILL, the 0.1.0 fixture store, gc and doctor.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nbtrack
from nbtrack.run import Run
from nbtrack.store import files
from nbtrack.store.doctor import check
from nbtrack.store.gc import collect, live_blobs
from nbtrack.store.local import INLINE_MAX, Store
from nbtrack.store.packs import PackSet, digest_of
from nbtrack.store.series import load as load_series

FIXTURE = Path(__file__).parent / "fixtures" / "store-0.1.0"


def full_run(store: Store, n: int, *, environment: bool = True) -> nbtrack.ActiveRun:
    """20 params, 10 metrics x 100 steps, 5 tags: the issue's 'full run'."""
    params = {f"p{k}": k * n for k in range(20)}
    tags = {f"t{k}": str(k) for k in range(5)}
    with nbtrack.track(params=params, tags=tags, store=store, environment=environment) as run:
        for step in range(100):
            run.log_metrics({f"m{k}": (k + 1) / (step + n + 1) for k in range(10)})
    return run


def test_one_durable_wait_per_final_run(tmp_path):
    store = Store(tmp_path)
    full_run(store, 0)  # the first run creates the journal (its folder is fsynced too) and stores the packages
    for n in range(1, 4):
        before = files.fsync_count()
        run = full_run(store, n)
        assert files.fsync_count() - before == 1, "one fsync: the final record's, which makes its blobs durable"
        back = nbtrack.get_run(run.id, store=Store(tmp_path))
        assert len(back.series) == 1000 and back.env["packages"] and back.params["p3"] == 3 * n
    assert not list(store.objects.glob("??/*"))  # no blob file of its own


def test_blobs_outside_a_run_and_large_ones_are_files_durable_on_their_own(tmp_path):
    store = Store(tmp_path)
    before = files.fsync_count()
    digest = store.put_blob(b"outside any run")
    assert files.fsync_count() > before and store.blobs.exists(digest)
    with nbtrack.track(store=store, environment=False):
        large = store.put_blob(b"x" * (INLINE_MAX + 1))
        small = store.put_blob(b"y" * 100)
    assert store.blobs.exists(large) and not store.blobs.exists(small)
    assert Store(tmp_path).get_blob(small) == b"y" * 100 and Store(tmp_path).get_blob(large) == b"x" * (INLINE_MAX + 1)


def test_blobs_move_to_a_pack_at_compaction_and_read_the_same(tmp_path):
    store = Store(tmp_path)
    runs = [full_run(store, n, environment=n == 0) for n in range(3)]
    with nbtrack.track(store=store, environment=False):
        binary = store.put_blob(bytes(range(256)) * 4)  # not UTF-8: carried as base64
    expected = {run.id: Run.from_doc(store.get_doc(run.id), store).series.to_dict("list") for run in runs}
    assert b'"op":"blob"' in store.journal.path.read_bytes()
    assert store.journal.compact()
    assert b'"op":"blob"' not in store.journal.path.read_bytes() and len(store.packs.names()) == 1
    fresh = Store(tmp_path)
    for run_id, series in expected.items():
        assert Run.from_doc(fresh.get_doc(run_id), fresh).series.to_dict("list") == series
    assert fresh.get_blob(binary) == bytes(range(256)) * 4
    assert fresh.journal.compact() and len(fresh.packs.names()) == 1  # nothing moved twice
    assert check(Store(tmp_path)).ok


def test_the_same_blob_is_stored_once_across_processes(tmp_path):
    store = Store(tmp_path)
    full_run(store, 0)
    packages = store.get_doc(max(store.run_docs()))["env"]["packages"]
    store.journal.compact()
    other = Store(tmp_path)  # another process: it knows nothing yet
    full_run(other, 1)
    assert other.get_doc(max(other.run_docs()))["env"]["packages"] == packages
    assert packages not in other.journal.inline  # found in the pack, not written again


def test_a_damaged_pack_is_reported_and_its_blobs_are_not_trusted(tmp_path):
    packs = PackSet(tmp_path / "objects" / "packs")
    (tmp_path / "objects").mkdir()
    data = b"some bytes"
    name = packs.write([(digest_of(data), data, time.time())])
    assert PackSet(packs.root).get(digest_of(data)) == data
    path = packs.root / name
    raw = bytearray(path.read_bytes())
    raw[len(b"nbtrack-pack 1\n")] ^= 1  # the blob's first byte: its hash no longer matches
    path.write_bytes(bytes(raw))
    assert PackSet(packs.root).get(digest_of(data)) is None
    path.write_bytes(bytes(raw[:-5]))  # a cut trailer
    broken = PackSet(packs.root)
    assert broken.get(digest_of(data)) is None and broken.problems


def test_gc_rewrites_packs_without_the_blobs_of_deleted_runs(tmp_path):
    store = Store(tmp_path)
    kept, gone = full_run(store, 1), full_run(store, 2)
    with nbtrack.track(store=store, environment=False) as marked:
        marker = store.put_blob(b"only the deleted run's " + os.urandom(8).hex().encode())
        marked.set_tag("marker", marker)
    store.journal.compact()
    gone_series = store.get_doc(gone.id)["series"]
    report = collect(store, [gone.id, marked.id], grace=0)
    assert report.blobs_deleted >= 2 and report.bytes_freed > 0
    assert gone_series not in store.small_blobs() and marker not in store.small_blobs()
    assert store.small_blobs() >= live_blobs(store, store.run_docs().values())
    assert len(Run.from_doc(Store(tmp_path).get_doc(kept.id), Store(tmp_path)).series) == 1000
    assert check(Store(tmp_path)).ok


def test_the_0_1_0_store_reads_back_and_takes_packed_runs(tmp_path):
    shutil.copytree(FIXTURE / "store", tmp_path / "store")
    expected = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
    store = Store(tmp_path / "store")
    new = full_run(store, 5)
    assert store.journal.compact()  # old runs' blob files stay files; the new run's blobs go to a pack
    fresh = Store(tmp_path / "store")
    for run_id, old in expected.items():
        run = Run.from_doc(fresh.get_doc(run_id), fresh)
        as_json = {"default": str, "sort_keys": True}
        assert json.dumps(run.series.to_dict("list"), **as_json) == json.dumps(old["series"], **as_json)
        assert run.history == old["history"]
    assert len(Run.from_doc(fresh.get_doc(new.id), fresh).series) == 1000
    assert len(fresh.packs.names()) == 1
    report = check(fresh)
    assert report.ok, report.lines


KILLED = textwrap.dedent(
    """
    import sys
    import nbtrack
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    n = int(sys.argv[2])
    print("ready", flush=True)
    while True:
        with nbtrack.track(params={"n": n}, store=store, environment=n % 7 == 0) as run:
            for step in range(n % 50 + 1):
                run.log_metric("v", n + step / 1000)
            store.put_blob(b"p" * (n * 7919 % 30000))  # an extra small blob, some large enough to be cut
        print(run.id, n, flush=True)
        if n % 3 == 0:
            store.journal.compact()  # kills also land inside compactions: between the pack and the journal
        n += 1
    """
)

BETWEEN = textwrap.dedent(
    """
    import sys, time
    import nbtrack
    from nbtrack.store import packs
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    with nbtrack.track(params={"n": -1}, store=store, environment=False) as run:
        run.log_metric("v", -1.0)
    print(run.id, -1, flush=True)
    real = packs.PackSet.write

    def write_then_wait(self, blobs):  # the pack is durable, the journal not yet replaced
        name = real(self, blobs)
        print("packed", flush=True)
        time.sleep(120)
        return name

    packs.PackSet.write = write_then_wait
    store.journal.compact()
    """
)


def check_committed(root: Path, committed: dict[str, int]) -> None:
    store = Store(root)
    docs = store.run_docs()  # opens, whatever the kill left
    for run_id, n in committed.items():
        doc = docs[run_id]
        assert doc["params"]["n"] == n
        values = load_series(store, doc["series"])["v"]["value"]
        assert values[0] == n + 0 / 1000 or n == -1, (run_id, values[:3])


def test_sigkill_while_runs_write_blobs_and_compact_loses_no_committed_run_or_blob(tmp_path):
    """Kills at random moments of runs writing blob lines and compactions moving them to packs; then one
    kill certain to land between a pack written and the journal replaced. Every committed run reads back
    with its series, the store always opens, and doctor finds every blob."""
    rng = random.Random(99)
    committed: dict[str, int] = {}
    for _ in range(40):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED, str(tmp_path), str(rng.randrange(10**5))], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[1].lstrip("-").isdigit():
                committed[fields[0]] = int(fields[1])
        check_committed(tmp_path, committed)
    proc = subprocess.Popen([sys.executable, "-c", BETWEEN, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline().split()
    committed[first[0]] = int(first[1])
    assert proc.stdout.readline().strip() == "packed"
    packs_then = set(Store(tmp_path).packs.names())
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert b'"op":"blob"' in (tmp_path / "runs.jsonl").read_bytes()  # the old journal still carries them...
    check_committed(tmp_path, committed)  # ...and the pack holds them too: either copy reads
    survivor = Store(tmp_path)
    assert survivor.journal.compact() and set(survivor.packs.names()) >= packs_then
    check_committed(tmp_path, committed)
    report = check(Store(tmp_path))
    assert not [line for line in report.lines if "is missing" in line], report.lines
    assert len(committed) > 40
    print(f"\n{len(committed)} committed runs after 41 kills, every one read back with its series")


@pytest.mark.parametrize("blob", [b"", b"\x00\xff binary", "text ✓".encode()])
def test_odd_blobs_round_trip_through_the_journal_and_a_pack(tmp_path, blob):
    store = Store(tmp_path)
    with nbtrack.track(store=store, environment=False):
        digest = store.put_blob(blob)
    assert digest in store.journal.inline and Store(tmp_path).get_blob(digest) == blob
    store.journal.compact()
    assert digest in store.packs.entries() and Store(tmp_path).get_blob(digest) == blob
