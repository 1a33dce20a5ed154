"""Results into the user's store, by the process that owns it: blobs first, then the run record.

Workers never write the store (it may sit on a file system they do not share, and TinyDB-style files do not
take writers from several machines): each :class:`~nbtrack.jobs.tasks.TaskResult` carries the record the
script wrote into its temporary store and the blobs it references, and :func:`ingest` writes them here, with
``origin = {"kind": "run_more"|"sweep", "job", "task", "host"}``; ``source`` stays what recorded it (``export``).

Idempotent: a task already ingested (a record with the same job and task id) is never recorded again, after
a retry, a resume, or a second process resuming the same job; the check and the write happen under the
store's lock. The script's run id is kept unless the store has it already. A script that crashed, was
killed or timed out is recorded as a ``failed`` run with its stderr tail as the error and the task's params,
so a comparison counts it (failures rank worst) and no run is ever left ``running``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from nbtrack import ids
from nbtrack.jobs.tasks import TaskResult, content_digest
from nbtrack.run import Run, Status
from nbtrack.store.local import Store

KINDS = ("run_more", "sweep")


def find_ingested(store: Store, job_id: str, task_id: str) -> str | None:
    """The id of the run recorded for ``task_id`` of job ``job_id``, if any."""
    for run_id, doc in store.run_docs().items():
        origin = doc.get("origin")
        if isinstance(origin, dict) and origin.get("job") == job_id and origin.get("task") == task_id:
            return run_id
    return None


def ingested_tasks(store: Store, job_id: str) -> dict[str, str]:
    """task id -> run id for every run of job ``job_id`` in the store (what a resume must not redo)."""
    out = {}
    for run_id, doc in store.run_docs().items():
        origin = doc.get("origin")
        if isinstance(origin, dict) and origin.get("job") == job_id and isinstance(origin.get("task"), str):
            out[origin["task"]] = run_id
    return out


def failure(result: TaskResult) -> dict[str, Any]:
    """The error of a run whose script did not finish: how it ended and the end of its stderr."""
    if result.timed_out:
        kind, how = "TaskTimeout", "timed out and was killed"
    elif result.returncode < 0:
        kind, how = "TaskKilled", f"was killed by signal {-result.returncode}"
    elif result.returncode == 0:
        kind, how = "TaskNoRun", "exited 0 without finishing its run"
    else:
        kind, how = "TaskFailed", f"exited with code {result.returncode}"
    tail = result.stderr_tail.strip()
    last = next((line for line in reversed(tail.splitlines()) if line.strip()), "")
    return {
        "type": kind,
        "message": f"the script {how} on {result.host}" + (f": {last}" if last else ""),
        "traceback": tail,
    }


def _failed_doc(result: TaskResult, params: Mapping[str, Any], experiment: str, name: str | None) -> dict[str, Any]:
    now = time.time()
    run = Run(
        id=ids.new_run_id(),
        experiment=experiment,
        name=name,
        status=Status.FAILED,
        start_time=now - result.seconds,
        end_time=now,
        duration=result.seconds,
        params=dict(params),
        source="export",
    )
    return run.to_doc()


def ingest(
    store: Store,
    result: TaskResult,
    *,
    job_id: str,
    kind: str,
    params: Mapping[str, Any],
    experiment: str = "default",
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Record ``result`` in ``store`` once; returns the run id (the existing one when already ingested).

    ``params``, ``experiment``, ``name``: what the task ran, for a failed run whose script recorded nothing;
    ``tags`` are added to every record (e.g. the job's)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    store.ensure()  # a store that does not exist yet gets its folder (and lock file) first
    with store.lock:
        existing = find_ingested(store, job_id, result.task_id)
        if existing is not None:
            return existing
        for digest, data in result.blobs.items():
            if content_digest(data) == digest:  # a blob that is not what it claims is not stored
                store.put_blob(data)
        doc = dict(result.doc) if result.doc is not None else _failed_doc(result, params, experiment, name)
        if not ids.is_run_id(doc.get("id")) or doc["id"] in store.run_docs():
            doc["id"] = ids.new_run_id()
        if not result.ok and doc.get("status") != Status.FAILED.value:
            doc["status"] = Status.FAILED.value
            doc["end_time"] = doc.get("end_time") or time.time()
        if doc.get("status") == Status.FAILED.value and not doc.get("error"):
            doc["error"] = failure(result)
        elif not result.ok and isinstance(doc.get("error"), dict) and result.stderr_tail.strip():
            doc["error"] = {**doc["error"], "stderr": result.stderr_tail.strip()}
        if tags:
            doc["tags"] = {**(doc.get("tags") or {}), **tags}
        doc["origin"] = {"kind": kind, "job": job_id, "task": result.task_id, "host": result.host}
        store.put_run(doc)
        return str(doc["id"])
