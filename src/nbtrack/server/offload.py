"""Work off Jupyter's IO loop, bounded in number and time, so no request can stall the server.

Two lanes, each with a concurrency limit (past it: 503 ``busy``) and a time limit (past it: 504
``time_limit``), both set by :class:`ServerLimits`:

- **reads** (pages of runs, records, details, the first table of a store) run on a small thread pool: their
  work is pure Python that hands the GIL back every few milliseconds, so ``/api/status`` stays quick. A read
  past its time limit is answered 504; its thread finishes on its own and keeps its slot until then.
- **heavy** work (compare with its plots, diff, export) runs in a child process per request, forked from a
  forkserver that has pandas, matplotlib and nbtrack's analysis imported (so a job starts in tens of
  milliseconds), and is killed at its time limit. Threads do not suffice here: a 500-run compare with box and
  matrix plots ran for over 10 minutes in 5 GB (measured; see the issue 18 report), and a thread cannot be
  stopped. The child opens the store itself, through the same :class:`~nbtrack.server.paths.ConfinedStore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbtrack.errors import NbtrackError
from nbtrack.server import api, charts_api, compare_api
from nbtrack.server.paths import ConfinedStore, scrub

# scipy.stats and matplotlib are imported lazily by the analysis; a child importing them costs ~7 s, so the
# forkserver imports them once (measured with cProfile on a 9-run compare: 10-15 s before, see docs/compare.md)
_PRELOAD = [
    "nbtrack.server.offload",
    "pandas",
    "scipy.stats",
    "scipy.optimize",
    "scipy.special",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "nbtrack.analysis.comparison",
    "nbtrack.analysis.plots",
    "nbtrack.analysis.headline",
    "nbtrack.server.compare_view",
    "nbtrack.charts",
]
HEAVY_JOBS: dict[str, Callable[..., Any]] = {
    "compare": compare_api.compare_runs,
    "diff": api.diff_runs,
    "export": api.export_run,
    "charts": charts_api.chart_for_runs,
}
_WHAT = {"compare": "comparison", "diff": "diff", "export": "export", "charts": "chart"}


@dataclass(frozen=True)
class ServerLimits:
    """How much the server extension does at once, and for how long (``web_app.settings["nbtrack_limits"]``)."""

    read_workers: int = 4  # threads for reads
    max_reads: int = 16  # reads running or queued; one more is answered 503
    read_seconds: float = 30.0
    max_heavy: int = 2  # child processes for compare, diff and export at once
    heavy_seconds: float = 120.0


class Offload:
    """The two lanes of one server. Counters are touched on the IO loop only."""

    def __init__(self, limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits()
        self._readers = ThreadPoolExecutor(self.limits.read_workers, thread_name_prefix="nbtrack-read")
        self._waiters = ThreadPoolExecutor(self.limits.max_heavy, thread_name_prefix="nbtrack-heavy")
        self._context: Any = None
        self._context_lock = threading.Lock()
        self.reads = 0
        self.heavy = 0

    def submit_read(self, func: Callable[..., Any], *args: Any) -> None:
        """Start ``func`` on the read lane without waiting (startup warm-up)."""
        self._readers.submit(func, *args)

    async def read(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.reads >= self.limits.max_reads:
            raise api.ApiError(503, "busy", f"nbtrack is busy with {self.reads} requests; try again in a moment")
        self.reads += 1
        future = asyncio.get_running_loop().run_in_executor(self._readers, lambda: func(*args, **kwargs))

        def release(_: Any) -> None:
            self.reads -= 1

        future.add_done_callback(release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.limits.read_seconds)
        except asyncio.TimeoutError:
            raise api.ApiError(
                504, "time_limit", f"nbtrack could not read the store within {self.limits.read_seconds:g} s"
            ) from None

    async def run_heavy(self, job: str, store: ConfinedStore, *args: Any, **kwargs: Any) -> Any:
        """``HEAVY_JOBS[job](store, *args, **kwargs)`` in a child process, within the limits."""
        if self.heavy >= self.limits.max_heavy:
            raise api.ApiError(
                503,
                "busy",
                f"nbtrack is busy with {self.heavy} comparisons, diffs or exports; try again when one is done",
            )
        self.heavy += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._waiters, self._in_child, job, store, args, kwargs)
        finally:
            self.heavy -= 1

    def context(self) -> Any:
        with self._context_lock:
            if self._context is None:
                methods = multiprocessing.get_all_start_methods()
                self._context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
                if "forkserver" in methods:
                    self._context.set_forkserver_preload(_PRELOAD)
            return self._context

    def warm_heavy(self) -> None:
        """Start the forkserver now (it imports ``_PRELOAD`` once), so the first comparison does not wait ~10 s
        for pandas, scipy and matplotlib."""
        if "forkserver" not in multiprocessing.get_all_start_methods():
            return
        self.context()
        from multiprocessing import forkserver

        with contextlib.suppress(OSError):  # else the first heavy request starts it, as before
            forkserver.ensure_running()

    def _in_child(self, job: str, store: ConfinedStore, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ctx = self.context()
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=child_main,
            args=(sender, job, str(store.root), store.boundary, args, kwargs),
            name=f"nbtrack-{job}",
            daemon=True,
        )
        process.start()
        sender.close()
        try:
            if not receiver.poll(self.limits.heavy_seconds):
                raise api.ApiError(
                    504,
                    "time_limit",
                    f"nbtrack stopped the {_WHAT[job]} after {self.limits.heavy_seconds:g} s; "
                    f"try fewer runs or fewer plots",
                )
            try:
                outcome = receiver.recv()
            except EOFError:
                raise api.ApiError(
                    500, "worker_failed", f"the process running the {_WHAT[job]} stopped (out of memory?)"
                ) from None
        finally:
            receiver.close()
            if process.is_alive():
                process.kill()
            process.join(5)
        kind, *rest = outcome
        if kind == "ok":
            return rest[0]
        if kind == "error":
            raise api.ApiError(*rest)
        raise WorkerCrash(*rest)

    def shutdown(self) -> None:
        self._readers.shutdown(wait=False, cancel_futures=True)
        self._waiters.shutdown(wait=False, cancel_futures=True)


class WorkerCrash(NbtrackError):
    """An unexpected exception in a child process: ``message`` for the client, ``details`` for the log."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def child_main(
    sender: Any, job: str, root: str, boundary: Path | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """The child's side: open the store, run the job, send ``("ok", result)`` or the error, and exit."""
    try:
        store = ConfinedStore(root, boundary)
        outcome: tuple[Any, ...] = ("ok", HEAVY_JOBS[job](store, *args, **kwargs))
    except api.ApiError as exc:
        outcome = ("error", exc.status, exc.code, exc.message)
    except Exception as exc:
        text = scrub(f"{type(exc).__name__}: {exc}", boundary)
        outcome = ("crash", f"the {_WHAT[job]} failed ({text})", traceback.format_exc())
    sender.send(outcome)
    sender.close()
