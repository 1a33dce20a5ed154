"""jobs/dask.py on a real dask.distributed LocalCluster: 2 worker processes on 127.0.0.1, started here.

Tasks run on the workers and their results come back; each input crosses once per worker; a worker killed
mid-task (SIGKILL) has its task run again elsewhere, one result per task and one run after ingest, and its
orphaned script killed; a task whose every worker dies is a failed run naming KilledWorker; cancel kills the
running scripts; run_more on the cluster decides the notebook's clear comparison. The scheduler allows one
worker death per task (``allowed-failures: 1``), so the all-die case needs only two.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import dask
from distributed import Client, LocalCluster

import nbtrack
from nbtrack.errors import JobError
from nbtrack.jobs.dask import DaskEngine
from nbtrack.jobs.ingest import ingest
from nbtrack.jobs.tasks import Engine, Task, content_digest
from nbtrack.store.local import Store

# Records one run named after the task, after writing "<name>-<pid>" into the folder argv[3] ("-": none).
RECORD = """import os, sys, time
import nbtrack
name, seconds, pids = sys.argv[1], float(sys.argv[2]), sys.argv[3]
if pids != "-":
    open(os.path.join(pids, name + "-" + str(os.getpid())), "w").close()
time.sleep(seconds)
with nbtrack.track(name, experiment="dask", params={"name": name}, environment=False):
    nbtrack.log_metric("x", 1.0)
"""


def record_task(name: str, seconds: float = 0.0, pids: Path | None = None, **kw) -> Task:
    args = [name, str(seconds), str(pids) if pids else "-"]
    return Task(name, RECORD.encode(), "record.py", args, kw.pop("cwd", None), kw.pop("inputs", {}), 120.0, **kw)


class Cluster:
    """A LocalCluster of 2 worker processes and its client; started again if killing workers left it short."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            self.cluster = LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            )
        self.client = Client(self.cluster)

    def stop(self) -> None:
        self.client.close()
        self.cluster.close()

    def ready(self) -> Client:
        """The client, with both workers up. A nanny restarts a killed worker, but on a loaded machine one has
        been seen not to come back (1 in ~6 runs at a load average of 11): then the cluster starts afresh."""
        try:
            self.client.wait_for_workers(2, timeout=60)
        except TimeoutError:
            self.stop()
            self.start()
            self.client.wait_for_workers(2, timeout=120)
        return self.client


@pytest.fixture(scope="module")
def cluster():
    # distributed writes its workers' pre-spawn environment (OMP/MKL/OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED)
    # into this process's os.environ: put it back, so the tests that run after these see their own environment
    before = dict(os.environ)
    running = Cluster()
    try:
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture
def client(cluster):
    """The cluster's client, with both workers up (a previous test may have killed one)."""
    return cluster.ready()


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan's zombie may wait for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pids_of(folder: Path, name: str) -> list[int]:
    return [int(p.name.rsplit("-", 1)[1]) for p in folder.glob(f"{name}-*")]


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_tasks_run_on_the_workers_and_their_runs_come_back(client, tmp_path):
    engine = DaskEngine(client)
    assert isinstance(engine, Engine) and engine.workers == 2
    try:
        for name in ("a", "b", "c"):
            engine.submit(record_task(name))
        results = list(engine.results(timeout=120))
    finally:
        engine.close()
    assert sorted(r.task_id for r in results) == ["a", "b", "c"]
    assert all(r.ok for r in results), [r.stderr_tail for r in results]
    assert {r.doc["name"] for r in results if r.doc} == {"a", "b", "c"}
    store = Store(tmp_path / ".nbtrack")
    for r in results:
        ingest(store, r, job_id="j1", kind="run_more", params={})
    assert sorted(d["name"] for d in store.run_docs().values()) == ["a", "b", "c"]
    assert client.status == "running"  # the caller's client stays open after close


def test_each_input_crosses_once_per_worker_and_not_at_all_where_the_folder_is_shared(client, tmp_path):
    data = {"data/train.bin": os.urandom(300_000), "labels.txt": os.urandom(50_000)}
    digests = {rel: content_digest(b) for rel, b in data.items()}
    by_digest = {content_digest(b): b for b in data.values()}
    reads = "import hashlib, sys\n" + "".join(
        f"print(hashlib.blake2b(open({rel!r}, 'rb').read(), digest_size=16).hexdigest())\n" for rel in data
    )
    engine = DaskEngine(client, fetch_input=by_digest.__getitem__, ship_inputs=True)
    try:
        for i in range(6):
            engine.submit(Task(f"t{i}", reads.encode(), "read.py", [], str(tmp_path), digests, 60.0))
        results = list(engine.results(timeout=120))
        shipped = engine.shipped()
    finally:
        engine.close()
    assert len(results) == 6 and all(r.returncode == 0 for r in results), [r.stderr_tail for r in results]
    assert all(r.stdout_tail.split() == list(digests.values()) for r in results)
    received = {w: {d: n for d, n in got.items() if d in by_digest} for w, got in shipped.items()}
    assert len([w for w, got in received.items() if got]) == 2  # both workers ran tasks...
    for got in received.values():  # ...and each input reached each of them once, whole
        assert got == {d: len(b) for d, b in by_digest.items()}
    assert engine.uploaded == sum(len(b) for b in data.values())  # scattered from here once

    # a shared file system: the run's folder has the inputs, so nothing is fetched
    for rel, blob in data.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(blob)
    fresh = {"x.bin": os.urandom(10_000)}
    (tmp_path / "x.bin").write_bytes(fresh["x.bin"])
    digest = content_digest(fresh["x.bin"])
    engine = DaskEngine(client, fetch_input=lambda d: fresh["x.bin"])
    try:
        engine.submit(
            Task("shared", b"print(len(open('x.bin', 'rb').read()))", "r.py", [], str(tmp_path), {"x.bin": digest})
        )
        (result,) = engine.results(timeout=120)
        assert result.returncode == 0 and result.stdout_tail.strip() == "10000"
        assert all(digest not in got for got in engine.shipped().values())
    finally:
        engine.close()


def test_an_input_lost_with_the_worker_holding_it_is_scattered_again(client, tmp_path):
    blob = os.urandom(20_000)
    digest = content_digest(blob)
    engine = DaskEngine(client, fetch_input=lambda d: blob, ship_inputs=True)
    read = b"print(len(open('in.bin', 'rb').read()))"
    try:
        engine.submit(Task("first", read, "r.py", [], str(tmp_path), {"in.bin": digest}, 60.0))
        assert [r.stdout_tail.strip() for r in engine.results(timeout=120)] == ["20000"]
        holders = client.who_has()[f"nbtrack-input-{digest}"]
        pids = client.run(os.getpid)
        for worker in holders:
            os.kill(pids[worker], signal.SIGKILL)
        wait_for(lambda: engine._inputs[digest].status != "finished", 60)
        client.wait_for_workers(2, timeout=120)
        for i in range(4):
            engine.submit(Task(f"after{i}", read, "r.py", [], str(tmp_path), {"in.bin": digest}, 60.0))
        results = list(engine.results(timeout=180))
    finally:
        engine.close()
    assert sorted(r.stdout_tail.strip() for r in results) == ["20000"] * 4, [r.stderr_tail for r in results]
    assert engine.uploaded == 2 * len(blob)  # once, then once more after its only copy was lost


def test_a_worker_killed_mid_task_reruns_it_elsewhere_one_result_one_run(client, tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    engine = DaskEngine(client)
    try:
        engine.submit(record_task("slow", 4.0, pids))
        engine.submit(record_task("other", 1.0, pids))
        wait_for(lambda: pids_of(pids, "slow"))
        (orphan,) = pids_of(pids, "slow")
        (key,) = [k for keys in client.processing().values() for k in keys if "-slow-" in str(k)]
        worker = next(w for w, keys in client.processing().items() if key in keys)
        os.kill(client.run(os.getpid)[worker], signal.SIGKILL)
        wait_for(lambda: not alive(orphan), 2)  # its script, 4 s from its end, dies with it
        results = list(engine.results(timeout=180))
    finally:
        engine.close()
    assert sorted(r.task_id for r in results) == ["other", "slow"]  # one result per task
    assert all(r.ok for r in results), [r.stderr_tail for r in results]
    assert len(pids_of(pids, "slow")) == 2  # it ran again after its worker died
    store = Store(tmp_path / ".nbtrack")
    first = [ingest(store, r, job_id="j2", kind="run_more", params={}) for r in results]
    again = [ingest(store, r, job_id="j2", kind="run_more", params={}) for r in results]
    assert first == again and len(store.run_docs()) == 2


def test_a_task_whose_every_worker_dies_is_a_failed_run_naming_killed_worker(client, tmp_path):
    killer = b"import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(30)\n"
    engine = DaskEngine(client)
    try:
        engine.submit(Task("doomed", killer, "k.py", [], None, {}, 60.0))
        (result,) = list(engine.results(timeout=240))
    finally:
        engine.close()
    assert result.task_id == "doomed" and not result.ok and result.returncode < 0
    assert "KilledWorker" in result.stderr_tail and "2 attempts" in result.stderr_tail
    store = Store(tmp_path / ".nbtrack")
    run_id = ingest(store, result, job_id="j3", kind="run_more", params={"seed": 1}, experiment="e")
    doc = store.run_docs()[run_id]
    assert doc["status"] == "failed" and doc["params"]["seed"] == 1
    assert "KilledWorker" in doc["error"]["message"]


def test_cancel_kills_running_scripts_drops_pending_and_keeps_finished_results(cluster, tmp_path):
    for attempt in (1, 2):
        client = cluster.ready()
        workers = set(client.scheduler_info()["workers"])
        try:
            cancel_scenario(client, tmp_path / f"attempt{attempt}")
            return
        except AssertionError:
            # The scenario needs both workers throughout ("two running, one waiting"). On a loaded CI machine a
            # worker restarted after an earlier test's kill has been seen to leave mid-test (CI, 1 in ~10
            # runs): then, and only then, the cluster starts afresh and the scenario runs once more.
            if attempt == 2 or set(client.scheduler_info()["workers"]) == workers:
                raise
            cluster.stop()
            cluster.start()


def cancel_scenario(client: Client, folder: Path) -> None:
    pids = folder / "pids"
    pids.mkdir(parents=True)
    engine = DaskEngine(client)
    try:
        engine.submit(record_task("quick"))
        wait_for(lambda: engine._futures["quick"].done(), 120)
        for name in ("long1", "long2", "long3"):
            engine.submit(record_task(name, 120.0, pids))
        wait_for(lambda: len(list(pids.iterdir())) == 2, 120)  # two running, one waiting
        engine.cancel()
        kept = [r.task_id for r in engine.results(timeout=10)]
        running = [int(p.name.rsplit("-", 1)[1]) for p in pids.iterdir()]
        wait_for(lambda: not any(alive(p) for p in running), 30)  # long before their 120 s sleep ends
        wait_for(lambda: not any(client.processing().values()), 60)
    finally:
        engine.close()
    assert kept == ["quick"]
    assert engine.pending == 0
    assert len(list(pids.iterdir())) == 2  # the waiting one never started


def test_an_address_makes_a_client_the_engine_owns(cluster):
    engine = DaskEngine(cluster.ready().scheduler.address, workers=3)
    assert engine.workers == 3
    engine.submit(Task("hi", b"print('hi')", "hi.py", [], None, {}, 60.0))
    (result,) = engine.results(timeout=120)
    engine.close()
    assert result.stdout_tail.strip() == "hi"
    assert engine.client.status == "closed"


def test_a_cluster_object_works_and_an_unreachable_scheduler_is_a_job_error(cluster):
    engine = DaskEngine(cluster.cluster)
    assert engine.workers == 2 and engine._owns_client
    engine.close()
    with pytest.raises(JobError, match=r"could not reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        DaskEngine("tcp://127.0.0.1:9", connect_timeout=2)


def test_import_nbtrack_and_run_more_leave_dask_out():
    code = (
        "import sys, nbtrack, nbtrack.jobs.loop; nbtrack.run_more; nbtrack.sweep\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.kernel
def test_run_more_on_the_cluster_decides_the_clear_comparison(client, store):
    pytest.importorskip("sklearn")
    cmp = nbtrack.compare("clear", metric="acc")
    assert cmp.verdict("shuffle=True") != "worse"
    job = nbtrack.run_more(cmp, engine=client, max_runs=14, progress=False)
    assert job.stop_reason == "decided" and job.state == "done"
    assert job.comparison.verdict("shuffle=True") == "worse"
    frame = nbtrack.runs(store=store.root)
    added = frame[frame["run_id"].isin(job.run_ids)]
    assert 0 < len(added) < 2 * (14 - 3) and set(added["status"]) == {"finished"}
    origins = [nbtrack.get_run(r, store=store.root).origin for r in added["run_id"]]
    assert {o["job"] for o in origins} == {job.id}
    assert len({o["task"] for o in origins}) == len(origins)  # no task recorded twice
    assert (frame["status"] == "running").sum() == 0
    assert client.status == "running"


@pytest.mark.kernel
def test_run_more_with_a_scheduler_address_spends_its_budget(client, store):
    pytest.importorskip("sklearn")
    job = nbtrack.run_more("equal", engine=client.scheduler.address, budget=2, progress=False)
    assert job.stop_reason == "budget spent" and len(job.run_ids) == 2
    statuses = {nbtrack.get_run(r, store=store.root).status.value for r in job.run_ids}
    assert statuses == {"finished"}
