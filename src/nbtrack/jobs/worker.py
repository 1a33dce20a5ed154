"""Run one :class:`~nbtrack.jobs.tasks.Task` on this machine: the function every engine executes.

:func:`execute_task` is pure with respect to the owner: it never opens the user's store. The script runs
with ``sys.executable`` in a fresh process group (so a timeout or a cancel kills it and its children) and
records its run into a temporary store (``NBTRACK_DIR``); that record and the blobs it references come back
in the :class:`~nbtrack.jobs.tasks.TaskResult`, for the owner to ingest. The working directory is the
run's own when it exists here and the inputs there have the expected digests (a shared file system);
otherwise a temporary folder where the inputs are written at their relative paths, fetched by digest
(a worker on another machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbtrack.exporting.verify import script_env
from nbtrack.jobs.tasks import Task, TaskResult, content_digest, file_digest
from nbtrack.store.local import Store, referenced_blobs

TAIL = 4000  # characters of stdout/stderr kept in a result
CANNOT_START = 127


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL))
            return f.read().decode("utf-8", "replace")[-TAIL:]
    except OSError:
        return ""


def inputs_match(cwd: Path, inputs: dict[str, str]) -> bool:
    """True when every input exists under ``cwd`` with the expected digest."""
    try:
        return all(file_digest(cwd / rel) == digest for rel, digest in inputs.items())
    except OSError:
        return False


def materialise(root: Path, inputs: dict[str, str], fetch_input: Callable[[str], bytes]) -> None:
    """Write each input at its relative path under ``root`` (refusing paths that leave it), checking digests."""
    for rel, digest in inputs.items():
        target = (root / rel).resolve()
        if not target.is_relative_to(root.resolve()):
            raise ValueError(f"input path {rel!r} leaves the working directory")
        data = fetch_input(digest)
        if content_digest(data) != digest:
            raise ValueError(f"input {rel!r}: fetched bytes do not have digest {digest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def record_blobs(store: Store, doc: dict[str, Any]) -> dict[str, bytes]:
    """Every blob ``doc`` refers to: :func:`referenced_blobs`, a history's cell sources, models, artifacts,
    kept outputs. A blob that is missing is left out (the owner's doctor reports it like any other)."""
    wanted = list(referenced_blobs(doc))
    for key in ("models", "artifacts", "outputs"):
        for record in (doc.get(key) or {}).values():
            if isinstance(record, dict):
                wanted.extend(r for r in (record.get("blob"), record.get("kept")) if isinstance(r, str))
    out: dict[str, bytes] = {}
    for digest in wanted:
        with contextlib.suppress(OSError):
            out[digest] = store.get_blob(digest)
    history = doc.get("history")
    if isinstance(history, str) and history in out:
        with contextlib.suppress(ValueError, OSError, TypeError):
            for digest in json.loads(out[history]):
                with contextlib.suppress(OSError):
                    out[digest] = store.get_blob(digest)
    return out


def recorded_run(store_dir: Path) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """The run the script recorded into its temporary store (the latest, if several) and its blobs."""
    if not (store_dir / "runs.jsonl").exists():
        return None, {}
    store = Store(store_dir)
    docs: list[dict[str, Any]] = [dict(d) for d in store.run_docs().values()]
    if not docs:
        return None, {}
    doc = max(docs, key=lambda d: float(d.get("start_time") or 0.0))
    return doc, record_blobs(store, doc)


def kill_group(pid: int) -> None:
    """SIGKILL a task's process group (it is the leader of its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def execute_task(
    task: Task,
    fetch_input: Callable[[str], bytes] | None = None,
    *,
    on_start: Callable[[int], None] | None = None,
) -> TaskResult:
    """Run ``task``'s script to the end (or its timeout) and return what it recorded.

    ``fetch_input(digest) -> bytes`` supplies inputs the worker's file system lacks; without it a missing
    input fails the task. ``on_start(pid)`` is called with the process group's id once it runs, so an engine
    can kill it on cancel (:func:`kill_group`)."""
    started = time.perf_counter()
    host = socket.gethostname()
    scratch = Path(tempfile.mkdtemp(prefix="nbtrack-task-"))
    try:
        cwd = Path(task.cwd) if task.cwd else None
        if cwd is None or not cwd.is_dir() or not inputs_match(cwd, task.inputs):
            cwd = scratch / "work"
            cwd.mkdir()
            if task.inputs:
                if fetch_input is None:
                    missing = ", ".join(sorted(task.inputs))
                    return TaskResult(
                        task.task_id,
                        CANNOT_START,
                        "",
                        f"inputs not available here: {missing}",
                        time.perf_counter() - started,
                        host,
                    )
                try:
                    materialise(cwd, task.inputs, fetch_input)
                except Exception as exc:
                    return TaskResult(
                        task.task_id,
                        CANNOT_START,
                        "",
                        f"could not fetch the inputs: {exc!r}",
                        time.perf_counter() - started,
                        host,
                    )
        script = scratch / Path(task.script_name).name
        script.write_bytes(task.script)
        store_dir = scratch / "store"
        env = script_env(store_dir)
        env.update(task.env)
        out_path, err_path = scratch / "stdout", scratch / "stderr"
        timed_out = False
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    [sys.executable, str(script), *task.args],
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                return TaskResult(
                    task.task_id,
                    CANNOT_START,
                    "",
                    f"could not start {sys.executable}: {exc}",
                    time.perf_counter() - started,
                    host,
                )
            if on_start is not None:
                on_start(proc.pid)
            try:
                code = proc.wait(timeout=task.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(proc.pid)
                code = proc.wait()
            kill_group(proc.pid)  # children the script left behind die with it
        doc, blobs = recorded_run(store_dir)
        stderr = _tail(err_path)
        if timed_out:
            stderr += f"\nnbtrack: killed after the time limit of {task.timeout:g} s"
        return TaskResult(
            task.task_id, code, _tail(out_path), stderr, time.perf_counter() - started, host, doc, blobs, timed_out
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
