"""The local engine: each task a subprocess of this machine, ``workers`` at a time (the default engine).

A thread pool calls :func:`~nbtrack.jobs.worker.execute_task`; each script runs in its own process group, so
:meth:`LocalEngine.cancel` kills what runs (and its children) and drops what waits. Inputs are normally read
where the run ran; ``fetch_input`` (the owner's blobs) covers a working directory that is gone.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from nbtrack.jobs.tasks import Task, TaskResult
from nbtrack.jobs.worker import execute_task, kill_group


class LocalEngine:
    """Run tasks as subprocesses here, ``workers`` in parallel (default: the CPU count)."""

    def __init__(self, workers: int | None = None, fetch_input: Callable[[str], bytes] | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.fetch_input = fetch_input
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="nbtrack-job")
        self._done: queue.Queue[TaskResult] = queue.Queue()
        self._guard = threading.Lock()
        self._futures: dict[str, Future[TaskResult]] = {}
        self._pids: dict[str, int] = {}
        self._cancelled: set[str] = set()

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers})"

    def submit(self, task: Task) -> None:
        with self._guard:
            self._cancelled.discard(task.task_id)
            future = self._pool.submit(self._run, task)
            self._futures[task.task_id] = future

    def _run(self, task: Task) -> TaskResult:
        def started(pid: int) -> None:
            with self._guard:
                self._pids[task.task_id] = pid
                cancelled = task.task_id in self._cancelled
            if cancelled:  # cancelled between the pool picking it up and the process starting
                kill_group(pid)

        try:
            result = execute_task(task, self.fetch_input, on_start=started)
        finally:
            with self._guard:
                self._pids.pop(task.task_id, None)
        with self._guard:
            if task.task_id not in self._cancelled:
                self._done.put(result)
            self._futures.pop(task.task_id, None)
        return result

    @property
    def pending(self) -> int:
        """Tasks submitted whose result has not been taken yet."""
        with self._guard:
            return len(self._futures) + self._done.qsize()

    def results(self, timeout: float | None = None) -> Iterator[TaskResult]:
        """Each result as its task completes; returns when nothing is pending, or after ``timeout`` s idle."""
        while True:
            with self._guard:
                if not self._futures and self._done.empty():
                    return
            try:
                yield self._done.get(timeout=0.05 if timeout is None else min(timeout, 0.05))
            except queue.Empty:
                if timeout is not None:
                    timeout -= 0.05
                    if timeout <= 0:
                        return

    def cancel(self) -> None:
        """Drop waiting tasks and kill running ones; their results are never yielded. Results of tasks that
        had completed before stay to be taken (they are finished runs to keep)."""
        with self._guard:
            for task_id, future in list(self._futures.items()):
                self._cancelled.add(task_id)
                if future.cancel():
                    self._futures.pop(task_id, None)
            pids = list(self._pids.values())
        for pid in pids:
            kill_group(pid)

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(wait=True)
