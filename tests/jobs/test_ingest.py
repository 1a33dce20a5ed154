"""jobs/ingest.py: results land in the owner's store once, crashed and killed scripts as failed runs."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.jobs.ingest import ingest, ingested_tasks
from nbtrack.jobs.tasks import Task
from nbtrack.jobs.worker import execute_task
from nbtrack.store.local import get_store

OK = b"""
import nbtrack
with nbtrack.track('fit', experiment='ing', params={'seed': 4}, environment=False):
    nbtrack.log_metric('acc', 0.75)
"""


def run(tmp_path, script: bytes, task_id: str = "g0-s4-a1", timeout: float = 120.0):
    return execute_task(Task(task_id, script, "s.py", [], str(tmp_path), {}, timeout))


def test_a_finished_result_is_recorded_once_with_its_blobs_and_origin(tmp_path, store_dir):
    store = get_store()
    result = run(tmp_path, OK)
    run_id = ingest(store, result, job_id="J1", kind="run_more", params={"seed": 4})
    assert run_id == result.doc["id"]  # the script's id is kept
    again = ingest(store, result, job_id="J1", kind="run_more", params={"seed": 4})  # a retry, a resume
    assert again == run_id and len(nbtrack.runs()) == 1
    got = nbtrack.get_run(run_id)
    assert got.status == "finished" and got.metrics == {"acc": 0.75} and got.source == "api"
    assert got.origin == {"kind": "run_more", "job": "J1", "task": "g0-s4-a1", "host": result.host}
    assert all(store.get_blob(d) == data for d, data in result.blobs.items())  # blobs written to this store
    assert list(got.series["value"]) == [0.75]  # read back from the ingested series blob
    assert ingested_tasks(store, "J1") == {"g0-s4-a1": run_id}
    # the same record from another job is another run, with a fresh id
    other = ingest(store, result, job_id="J2", kind="sweep", params={"seed": 4})
    assert other != run_id and len(nbtrack.runs()) == 2


def test_a_crash_without_a_record_is_a_failed_run_with_its_stderr_and_params(tmp_path, store_dir):
    result = run(tmp_path, b"import sys\nprint('loading', file=sys.stderr)\nraise SystemExit('out of memory')\n")
    run_id = ingest(
        get_store(), result, job_id="J", kind="run_more", params={"seed": 7, "C": 0.1}, experiment="e", name="fit"
    )
    got = nbtrack.get_run(run_id)
    assert got.status == "failed" and got.params == {"seed": 7, "C": 0.1} and got.experiment == "e"
    assert got.error["type"] == "TaskFailed" and "out of memory" in got.error["message"]
    assert "loading" in got.error["traceback"]


def test_a_killed_script_leaves_no_running_run(tmp_path, store_dir):
    script = OK.replace(b"nbtrack.log_metric('acc', 0.75)", b"import os; os.kill(os.getpid(), 9)")
    result = run(tmp_path, script)
    assert result.returncode == -9 and result.doc is not None and result.doc["status"] == "running"
    got = nbtrack.get_run(ingest(get_store(), result, job_id="J", kind="run_more", params={"seed": 4}))
    assert got.status == "failed" and got.error["type"] == "TaskKilled" and "signal 9" in got.error["message"]
    assert (nbtrack.runs()["status"] == "running").sum() == 0


def test_a_timed_out_script_says_so(tmp_path, store_dir):
    result = run(tmp_path, b"import time; time.sleep(60)", timeout=2.0)
    got = nbtrack.get_run(ingest(get_store(), result, job_id="J", kind="sweep", params={"seed": 1}))
    assert got.status == "failed" and got.error["type"] == "TaskTimeout"


def test_an_unknown_kind_is_refused(tmp_path, store_dir):
    with pytest.raises(ValueError, match="kind"):
        ingest(get_store(), run(tmp_path, b""), job_id="J", kind="other", params={})
