"""Compaction off the write path (store/compaction.py): the copy is made without the lock, the lines
appended meanwhile are carried over, large stores compact in a background thread, a process that only
writes keeps the journal bounded, and a SIGKILL at any moment of it loses no committed run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import nbtrack
from nbtrack import ids
from nbtrack.store import compaction, files
from nbtrack.store.local import Store
from tests.test_packs import check_committed


def _doc(n: int, **extra: object) -> dict[str, object]:
    return {"id": ids.new_run_id(), "experiment": "e", "n": n, **extra}


def _lines(root) -> int:
    return (root / "runs.jsonl").read_bytes().count(b"\n")


def test_lines_appended_while_the_copy_is_made_are_carried_over(tmp_path, monkeypatch):
    """Another process appends records and a blob line between the copy and the swap: the compacted
    journal keeps them, and the compacting process reads the blob at its new place without re-reading."""
    store = Store(tmp_path)
    store.run_docs()
    runs = [_doc(n) for n in range(30)]
    for d in runs:
        store.put_run({**d, "status": "running"}, durable=False)
        store.put_run(d)
    other = Store(tmp_path)
    late: list[dict[str, object]] = []
    real = files.write_temp

    def write_then_others_append(path, data):
        tmp = real(path, data)
        if not late:  # the copy is on disk, the journal not replaced yet: another writer goes on
            with nbtrack.track(params={"late": 1}, store=other, environment=False) as run:
                late.append({"id": run.id, "blob": other.put_blob(b"written during the copy")})
            other.delete_run(runs[0]["id"])
        return tmp

    monkeypatch.setattr(files, "write_temp", write_then_others_append)
    before = _lines(tmp_path)
    assert store.journal.compact()
    monkeypatch.setattr(files, "write_temp", real)
    assert _lines(tmp_path) < before
    fresh = Store(tmp_path)
    docs = fresh.run_docs()
    assert late[0]["id"] in docs and runs[0]["id"] not in docs
    assert {d["id"] for d in runs[1:]} <= set(docs)
    assert fresh.get_blob(late[0]["blob"]) == b"written during the copy"
    assert store.get_blob(late[0]["blob"]) == b"written during the copy"  # the rebased offsets point right
    assert store.run_docs() == docs and not store.journal.problems and not fresh.journal.problems
    store.put_run(_doc(99))  # and it appends on after the swap without a false alarm
    assert len(Store(tmp_path).run_docs()) == len(docs) + 1 and not Store(tmp_path).journal.losses


def test_a_large_store_compacts_in_a_background_thread_and_writes_go_on(tmp_path, monkeypatch):
    monkeypatch.setattr(compaction, "BACKGROUND_DOCS", 100)
    store = Store(tmp_path)
    store.run_docs()
    seen: list[str] = []
    real = compaction.compact

    def noting_thread(journal):
        seen.append(threading.current_thread().name)
        return real(journal)

    monkeypatch.setattr(compaction, "compact", noting_thread)
    made = []
    for n in range(1500):
        d = _doc(n)
        store.put_run({**d, "status": "running"}, durable=False)
        store.put_run(d)
        made.append(d["id"])
    compaction.wait(store.journal)
    assert seen and set(seen) == {"nbtrack-compaction"}  # never in the writing thread
    assert _lines(tmp_path) < 2 * 1500  # without compaction: a header plus two lines per run
    assert sorted(Store(tmp_path).run_docs()) == sorted(made)
    assert sorted(store.run_docs()) == sorted(made)


WRITE_ONLY = textwrap.dedent(
    """
    import sys
    from nbtrack import ids
    from nbtrack.store import compaction
    from nbtrack.store.local import Store
    compaction.BLIND_BYTES = 20_000
    store = Store(sys.argv[1])  # never reads: only put_run, as a batch job's writer does
    for n in range(int(sys.argv[2])):
        run_id = ids.new_run_id()
        doc = {"id": run_id, "experiment": "w", "n": n, "pad": "x" * 100}
        store.put_run({**doc, "status": "running"}, durable=False)
        store.put_run({**doc, "status": "finished"})
    """
)


def test_a_process_that_only_writes_keeps_the_journal_bounded(tmp_path):
    Store(tmp_path).put_run(_doc(-1))  # a store some earlier process made
    subprocess.run([sys.executable, "-c", WRITE_ONLY, str(tmp_path), "1500"], check=True, timeout=600)
    docs = Store(tmp_path).run_docs()
    assert len(docs) == 1501 and all(d["status"] == "finished" for d in docs.values() if d["experiment"] == "w")
    assert _lines(tmp_path) < 1.5 * 1501  # unbounded: two lines per run (3,002)


KILLED = textwrap.dedent(
    """
    import sys
    import nbtrack
    from nbtrack.store import compaction
    from nbtrack.store.local import Store
    compaction.BACKGROUND_DOCS = 0  # every compaction in the background thread, while runs write
    store = Store(sys.argv[1])
    store.run_docs()
    n = int(sys.argv[2])
    print("ready", flush=True)
    while True:
        with nbtrack.track(params={"n": n}, store=store, environment=False) as run:
            for step in range(n % 20 + 1):
                run.log_metric("v", n + step / 1000)
            store.put_blob(b"p" * (n * 7919 % 3000))
        print(run.id, n, flush=True)
        if n % 5 == 0:
            compaction.compact_soon(store.journal)
        n += 1
    """
)


def test_sigkill_during_background_compaction_loses_no_committed_run(tmp_path):
    rng = random.Random(17)
    committed: dict[str, int] = {}
    for _ in range(25):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED, str(tmp_path), str(rng.randrange(10**5))], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[1].lstrip("-").isdigit():
                committed[fields[0]] = int(fields[1])
        check_committed(tmp_path, committed)  # opens, and every run reported committed reads back
    assert len(committed) > 25
    assert not Store(tmp_path).journal.losses
