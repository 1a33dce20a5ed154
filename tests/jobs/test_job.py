"""jobs/job.py: cancel, KeyboardInterrupt and resume keep every finished run, leave none running, repeat none."""

from __future__ import annotations

import json
import threading

import pytest

import nbtrack
from nbtrack.errors import JobError
from nbtrack.jobs.job import Job, list_jobs

pytest.importorskip("sklearn")
pytest.importorskip("ipykernel")
pytestmark = [pytest.mark.kernel, pytest.mark.xdist_group("jobs")]


def no_duplicates(store) -> None:
    runs = nbtrack.runs(store=store.root)
    assert (runs["status"] == "running").sum() == 0
    finished = runs[(runs["status"] == "finished") & (runs["experiment"] == "equal")]
    keys = list(zip(finished["params.variant"], finished["params.seed"], strict=True))
    assert len(keys) == len(set(keys)), "a (config, seed) was recorded twice"


def test_cancel_from_another_thread_then_resume(store):
    started = threading.Event()

    def progress(job):
        if job.run_ids and not started.is_set():
            started.set()
            threading.Thread(target=job.cancel).start()  # as a button's handler would

    job = nbtrack.run_more("equal", budget=6, workers=2, progress=progress)
    assert job.state == "cancelled" and job.stop_reason == "cancelled"
    kept = list(job.run_ids)
    assert 1 <= len(kept) < 6
    no_duplicates(store)
    on_disk = json.loads(job.path.read_text())
    assert on_disk["state"] == "cancelled" and {t["state"] for t in on_disk["tasks"].values()} <= {
        "done",
        "failed",
        "cancelled",
    }
    resumed = nbtrack.run_more(job.id, progress=False)
    assert resumed.id == job.id and resumed.stop_reason == "budget spent" and resumed.state == "done"
    assert set(kept) <= set(resumed.run_ids) and len(resumed.run_ids) == 6
    no_duplicates(store)
    assert list_jobs(store)[0]["id"] == job.id


def test_keyboard_interrupt_cancels_keeps_finished_runs_and_resumes(store):
    def progress(job):
        if len(job.run_ids) >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nbtrack.run_more("equal", budget=4, workers=2, progress=progress)
    (job_info,) = list_jobs(store)
    job = Job.load(store, job_info["id"])
    assert job.state == "cancelled" and "KeyboardInterrupt" in job.stop_reason
    assert len(job.run_ids) >= 1
    no_duplicates(store)
    resumed = nbtrack.run_more(job.id[:12], progress=False)  # a prefix of the id is enough
    assert len(resumed.run_ids) == 4
    no_duplicates(store)


def test_an_unknown_job_id_is_a_clear_error(store):
    with pytest.raises(JobError, match="no job"):
        Job.load(store, "01zzzzzzzz")


SIGINT_SCRIPT = """
import sys, nbtrack
nbtrack.set_store(sys.argv[1])
try:
    nbtrack.run_more("equal", budget=6, workers=2, progress=False)
except KeyboardInterrupt:
    print("interrupted")
    sys.exit(130)
"""


def test_a_real_sigint_mid_job_leaves_no_running_run(store, tmp_path):
    """The stop button of a notebook sends SIGINT to the kernel: the same, to a real process running a job."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "job.py"
    script.write_text(SIGINT_SCRIPT)
    before = len(nbtrack.runs(store=store.root))
    proc = subprocess.Popen([sys.executable, str(script), str(store.root)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if len(nbtrack.runs(store=store.root)) > before:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the job ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in out
    no_duplicates(store)
    (info,) = list_jobs(store)
    assert info["state"] == "cancelled" and 1 <= info["runs"] < 6


def test_a_job_is_found_by_its_id_or_a_prefix_and_never_by_a_pattern(store_dir):
    from nbtrack.jobs.job import is_job
    from nbtrack.store.local import get_store

    store = get_store()
    job = Job.new(store, "run_more")
    job.save()
    assert is_job(store, job.id) and is_job(store, job.id[:8]) and is_job(store, job.id.upper())
    assert not is_job(store, "*") and not is_job(store, "my-experiment") and not is_job(store, job.id[:3])
    assert Job.load(store, job.id[:8]).id == job.id
    with pytest.raises(JobError, match="no job"):
        Job.load(store, "*")
