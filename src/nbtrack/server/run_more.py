"""The sidebar's Run more: the preview of a comparison, a job started in the server's process, its state.

Thin over ``compare(..., sequential=True)``, :func:`nbtrack.jobs.plan.preview` and ``nbtrack.run_more``: the
job runs in a daemon thread of the Jupyter server (the process that owns the store writes the runs, as with
any ``run_more``), so the sidebar sees its runs land through the usual polling. ``start`` returns once the job
has an id (its first look at the comparison), or says why it could not start.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from nbtrack.store.local import Store

START_WAIT = 120.0  # seconds ``start`` waits for the job's first look before answering

_errors: dict[str, str] = {}  # job id -> how a job started here failed (the state file keeps no message)
_threads: dict[str, threading.Thread] = {}
_guard = threading.Lock()


def _comparison(store: Store, run_ids: Sequence[str], metric: str | None) -> Any:
    from nbtrack.analysis.comparison import compare
    from nbtrack.server.api import ApiError

    if len(run_ids) < 2:
        raise ApiError(400, "bad_request", "give at least 2 runs (runs=ID,ID,...) to run more of")
    try:
        return compare(list(run_ids), metric=metric or None, store=store, sequential=True)
    except (ValueError, KeyError) as exc:  # no such run, no metric to compare: the caller's to fix
        raise ApiError(400, "bad_request", str(exc).strip("'\"")) from None


def preview_runs(
    store: Store, run_ids: Sequence[str], metric: str | None = None, workers: int | None = None
) -> dict[str, Any]:
    """What Run more would start for these runs: :func:`~nbtrack.jobs.plan.preview` of their sequential
    comparison (groups, runs now, new runs, seeds, estimated seconds), nothing run or exported."""
    from nbtrack.jobs.plan import preview
    from nbtrack.server.api import ApiError

    cmp = _comparison(store, run_ids, metric)
    try:
        return preview(cmp, workers=workers)
    except Exception as exc:
        raise ApiError(409, "conflict", f"Run more is not available: {exc}") from None


def start(
    store: Store, run_ids: Sequence[str], metric: str | None = None, workers: int | None = None
) -> dict[str, Any]:
    """Start ``run_more`` on these runs' comparison in a thread of this process; ``{"job": id}``."""
    from nbtrack.jobs.start import run_more
    from nbtrack.server.api import ApiError

    cmp = _comparison(store, run_ids, metric)
    seen: dict[str, Any] = {}
    ready = threading.Event()

    def progress(job: Any) -> None:
        seen.setdefault("job", job)
        ready.set()

    def work() -> None:
        try:
            run_more(cmp, workers=workers, progress=progress, store=store)
        except Exception as exc:
            seen["error"] = str(exc) or type(exc).__name__
            job = seen.get("job")
            if job is not None:
                with _guard:
                    _errors[job.id] = seen["error"]
        finally:
            ready.set()

    thread = threading.Thread(target=work, name="nbtrack-server-run-more", daemon=True)
    thread.start()
    ready.wait(START_WAIT)
    job = seen.get("job")
    if job is None:
        raise ApiError(409, "conflict", f"Run more could not start: {seen.get('error', 'no answer in time')}")
    with _guard:
        _threads[job.id] = thread
    return {"job": job.id}


def job_state(store: Store, job_id: str) -> dict[str, Any]:
    """A job's state (any job of the store, also one started from a notebook or the CLI)."""
    from nbtrack.errors import JobError
    from nbtrack.jobs.job import Job
    from nbtrack.server.api import ApiError

    try:
        job = Job.load(store, job_id)
    except JobError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    decided, pairs = job.decided
    with _guard:
        thread = _threads.get(job.id)
        error = _errors.get(job.id)
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "stop_reason": job.stop_reason,
        "runs": job.run_ids,
        "failed": job.count("failed"),
        "decided": decided,
        "pairs": pairs,
        "elapsed": round(job.elapsed, 1),
        "running_here": thread is not None and thread.is_alive(),
        "error": error,
    }
