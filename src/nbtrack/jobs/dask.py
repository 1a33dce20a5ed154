"""The Dask engine: a job's tasks on an existing ``dask.distributed`` cluster (``pip install "nbtrack[dask]"``).

Imported only when ``run_more``/``sweep`` get a ``Client`` or a ``"tcp://host:port"`` address. Each task is
:func:`~nbtrack.jobs.worker.execute_task` on a worker (key ``nbtrack-<job>-<task>-<n>``, ``pure=False``), and
its :class:`~nbtrack.jobs.tasks.TaskResult` comes back to the owner, who alone writes the store.

Workers need not share the owner's file system: each input blob is scattered once from the owner (a future
per digest), and a worker that lacks the run's folder fetches it into a cache of its own, keyed by digest,
at most once (:func:`input_bytes_received` counts what arrived). A worker killed mid-task is Dask's to
handle: the scheduler runs the task again elsewhere (``distributed.scheduler.allowed-failures``) and the
engine yields one result per task; when every attempt died, the result is a failure naming KilledWorker,
which the job records as a failed run. The script of a task runs in its own process group, and a small
watcher process per worker kills that group if the worker dies, so a killed worker leaves no orphan script
running; ``cancel`` kills the scripts of running tasks on every worker, not only the futures.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from distributed import Client, Future, KilledWorker, Variable, as_completed, get_client, get_worker

from nbtrack.errors import JobError
from nbtrack.jobs.tasks import Task, TaskResult, content_digest
from nbtrack.jobs.worker import CANNOT_START, execute_task, kill_group

INPUT_PREFIX = "nbtrack-input-"  # key of the scattered future holding an input's bytes, and of its Variable
CACHE = "nbtrack-inputs"  # folder of a worker's local directory holding inputs by digest
FETCH_TIMEOUT = 300.0  # seconds a worker waits for an input (one lost with its worker is scattered again)


def input_key(digest: str) -> str:
    return INPUT_PREFIX + digest


# worker side: what runs in each Dask worker process -------------------------------------------------------------

_state = threading.Lock()
_running: dict[str, int] = {}  # Dask key -> process group of its script
_killed: set[str] = set()  # keys cancelled before (or while) their script started
_received: dict[str, int] = {}  # digest -> bytes of that input fetched into this worker
_fetching: dict[str, threading.Lock] = {}

# One watcher per worker process: it reads "+group"/"-group" lines from a pipe and, when the pipe closes (the
# worker ended, even by SIGKILL: the kernel closes its end), kills every group still listed. A separate process
# because a SIGKILLed worker runs nothing; one per worker, not per task, and no polling.
_WATCH = """import os, signal, sys
groups = set()
for line in sys.stdin:
    (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""
_watcher: subprocess.Popen[bytes] | None = None


def _watch(line: str) -> None:
    """Tell this worker's watcher (started on first use, again if it died) that a group starts or ends."""
    global _watcher
    with _state:
        for _ in range(2):
            if _watcher is None or _watcher.poll() is not None:
                try:
                    _watcher = subprocess.Popen(
                        [sys.executable, "-I", "-S", "-c", _WATCH],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,  # a signal to the worker's group does not take the watcher along
                    )
                except OSError:  # no watcher: the task still runs (only an orphan on a killed worker is at stake)
                    return
            pipe = _watcher.stdin
            try:
                if pipe is not None:
                    pipe.write(line.encode() + b"\n")
                    pipe.flush()
                    return
            except OSError:
                pass
            _watcher = None


def fetch_cached(keys: dict[str, str], digest: str) -> bytes:
    """An input's bytes on this worker: from its cache by digest, else gathered once from the cluster (the
    future the owner scattered, found through the Variable ``keys[digest]`` that holds it) and cached."""
    folder = Path(get_worker().local_directory) / CACHE
    path = folder / digest
    with _state:
        lock = _fetching.setdefault(digest, threading.Lock())
    with lock:
        if path.is_file():
            return path.read_bytes()
        client = get_client()
        data = Variable(keys[digest], client=client).get(timeout=FETCH_TIMEOUT).result(timeout=FETCH_TIMEOUT)
        if not isinstance(data, bytes) or content_digest(data) != digest:
            raise ValueError(f"the cluster's copy of input {digest} does not have that digest")
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{digest}.{os.getpid()}")
        partial.write_bytes(data)
        os.replace(partial, path)
        with _state:
            _received[digest] = _received.get(digest, 0) + len(data)
        return data


def run_on_worker(task: Task, keys: dict[str, str], key: str) -> TaskResult:
    """What a Dask worker runs for one task: :func:`execute_task` with inputs from the worker's cache, its
    script registered under ``key`` for :func:`kill_running` and with the watcher in case this worker dies."""
    groups: list[int] = []

    def started(pid: int) -> None:
        with _state:
            _running[key] = pid
            cancelled = key in _killed
        if cancelled:
            kill_group(pid)
        else:
            groups.append(pid)
            _watch(f"+{pid}")

    def fetch(digest: str) -> bytes:
        return fetch_cached(keys, digest)

    try:
        return execute_task(task, fetch if keys else None, on_start=started)
    finally:
        with _state:
            _running.pop(key, None)
            _killed.discard(key)
        for group in groups:
            _watch(f"-{group}")


def kill_running(keys: list[str]) -> int:
    """Kill the scripts of these tasks on this worker (run on every worker by :meth:`DaskEngine.cancel`);
    a task not started yet is killed as it starts. Returns how many were running here."""
    with _state:
        _killed.update(keys)
        groups = [_running[k] for k in keys if k in _running]
    for group in groups:
        kill_group(group)
    return len(groups)


def input_bytes_received() -> dict[str, int]:
    """Digest -> bytes this worker process fetched of that input (once per input, unless its cache was lost)."""
    with _state:
        return dict(_received)


# owner side -------------------------------------------------------------------------------------------------


def _host(address: str) -> str:
    return urlparse(address).hostname or address


class DaskEngine:
    """Run tasks on a Dask cluster: ``DaskEngine(client)`` uses the caller's ``Client`` (left open on
    :meth:`close`); ``DaskEngine("tcp://host:port")`` (or a cluster object) connects and owns its client
    (JobError when the scheduler is not reached within ``connect_timeout`` s). ``workers``: how many
    tasks a round gives the cluster (default: its threads, looked up each time, so an adaptive cluster counts
    what it has). ``ship_inputs=True`` makes every worker fetch the inputs even where the run's folder exists
    (as on a cluster without a shared file system)."""

    def __init__(
        self,
        client_or_address: Any,
        workers: int | None = None,
        *,
        fetch_input: Callable[[str], bytes] | None = None,
        ship_inputs: bool = False,
        job: str | None = None,
        connect_timeout: float = 30.0,
    ) -> None:
        if isinstance(client_or_address, Client):
            self.client, self._owns_client = client_or_address, False
        else:
            # an address, or a cluster object (LocalCluster, dask-jobqueue's): a client of the engine's own
            address = getattr(client_or_address, "scheduler_address", client_or_address)
            if not isinstance(address, str):
                raise TypeError(f"DaskEngine needs a distributed.Client or a scheduler address, not {address!r}")
            try:
                self.client = Client(address, set_as_default=False, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise JobError(f"could not reach the Dask scheduler at {address}: {exc}") from exc
            self._owns_client = True
        self._workers = workers
        self.fetch_input = fetch_input  # the job sets the owner's store.get_blob
        self.ship_inputs = ship_inputs
        self.job = job or secrets.token_hex(4)  # names the Dask keys
        self.uploaded = 0  # bytes of inputs scattered from here to the cluster
        self._lock = threading.Lock()
        self._futures: dict[str, Future] = {}  # task id -> its future (pending, not yet yielded)
        self._task_of: dict[str, str] = {}  # Dask key -> task id
        self._submitted: dict[str, float] = {}  # task id -> when
        self._counts: dict[str, int] = {}  # task id -> submissions on this engine (so keys never repeat)
        self._inputs: dict[str, Future] = {}  # digest -> scattered future (held: the cluster keeps the bytes)
        self._completed = as_completed(loop=self.client.loop)

    def __repr__(self) -> str:
        return f"DaskEngine({getattr(self.client.scheduler, 'address', '?')}, workers={self.workers})"

    @property
    def workers(self) -> int:
        if self._workers:
            return max(1, int(self._workers))
        return max(1, sum(self.client.nthreads().values()))

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    def _input(self, digest: str) -> str:
        """The name of the Variable holding the scattered future of input ``digest`` (scattered again if
        the worker holding it died)."""
        future = self._inputs.get(digest)
        if future is None or future.status != "finished":
            if self.fetch_input is None:
                raise JobError(f"input {digest} is needed on the cluster but the engine has no fetch_input")
            data = self.fetch_input(digest)
            key = input_key(digest)
            future = self.client.scatter({key: data}, hash=False)[key]
            Variable(key, client=self.client).set(future)  # how a worker finds the future by name
            self._inputs[digest] = future
            self.uploaded += len(data)
        return input_key(digest)

    def submit(self, task: Task) -> None:
        keys = {d: self._input(d) for d in sorted(set(task.inputs.values()))} if self.fetch_input else {}
        if self.ship_inputs and keys:
            task = replace(task, cwd=None)
        with self._lock:
            n = self._counts[task.task_id] = self._counts.get(task.task_id, 0) + 1
            key = f"nbtrack-{self.job}-{task.task_id}-{n}"
            future = self.client.submit(run_on_worker, task, keys, key, key=key, pure=False, retries=0)
            self._futures[task.task_id] = future
            self._task_of[key] = task.task_id
            self._submitted[task.task_id] = time.monotonic()
        self._completed.add(future)

    @property
    def pending(self) -> int:
        """Tasks submitted whose result has not been taken yet."""
        with self._lock:
            return len(self._futures)

    def results(self, timeout: float | None = None) -> Iterator[TaskResult]:
        """Each result as its task completes; returns when nothing is pending, or after ``timeout`` s idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._futures:
                    return
            if not self._completed.has_ready():
                if deadline is not None and time.monotonic() >= deadline:
                    return
                with self._completed.thread_condition:
                    self._completed.thread_condition.wait(timeout=0.1)
                continue
            future = next(self._completed)
            if future is None:
                continue
            with self._lock:
                task_id = self._task_of.pop(str(future.key), None)
                if task_id is None or task_id not in self._futures or self._futures[task_id] is not future:
                    continue  # cancelled
                del self._futures[task_id]
                since = self._submitted.pop(task_id, time.monotonic())
            yield self._result(task_id, future, time.monotonic() - since)
            if timeout is not None:
                deadline = time.monotonic() + timeout

    def _result(self, task_id: str, future: Future, seconds: float) -> TaskResult:
        if future.status == "finished":
            result = future.result()
            if isinstance(result, TaskResult):
                return result
            return TaskResult(task_id, CANNOT_START, "", f"the worker returned {type(result).__name__}", seconds, "")
        try:
            exc = future.exception()
        except Exception as other:  # cancelled by the scheduler, lost connection...
            exc = other
        if isinstance(exc, KilledWorker):
            last = getattr(exc.last_worker, "address", str(exc.last_worker))
            why = (
                f"KilledWorker: every worker that ran this task died while running it "
                f"({exc.allowed_failures + 1} attempts, Dask's allowed-failures); the last was {last}"
            )
            return TaskResult(task_id, -signal.SIGKILL, "", why, seconds, _host(last))
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if exc else "no result"
        return TaskResult(task_id, CANNOT_START, "", f"the Dask task failed: {text}", seconds, "")

    def shipped(self) -> dict[str, dict[str, int]]:
        """Worker address -> digest -> bytes of that input the worker fetched (each at most once)."""
        return dict(self.client.run(input_bytes_received, on_error="ignore"))

    def cancel(self) -> None:
        """Drop pending tasks and kill the scripts of running ones on every worker; results of tasks that had
        completed before stay to be taken (finished runs to keep), as with the local engine."""
        with self._lock:
            futures = [f for f in self._futures.values() if not f.done()]
            for future in futures:
                task_id = self._task_of.pop(str(future.key), "")
                self._futures.pop(task_id, None)
                self._submitted.pop(task_id, None)
        if not futures:
            return
        keys = [f.key for f in futures]
        with contextlib.suppress(Exception):
            self.client.cancel(futures, force=True)
        with contextlib.suppress(Exception):
            self.client.run(kill_running, keys, on_error="ignore")

    def close(self) -> None:
        """Cancel what is pending, release the inputs; close the client if this engine made it."""
        self.cancel()
        inputs = list(self._inputs.values())
        self._inputs.clear()
        with contextlib.suppress(Exception):
            for future in inputs:
                Variable(future.key, client=self.client).delete()
            if inputs:
                self.client.cancel(inputs)
        self._completed.clear()
        if self._owns_client:
            with contextlib.suppress(Exception):
                self.client.close()
