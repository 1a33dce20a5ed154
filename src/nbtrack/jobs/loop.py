"""``run_more`` and ``sweep``: rounds of tasks on an engine until the comparison is decided or the budget is spent.

Each round gives every group that needs runs (jobs/plan.py) the same new seeds, at most about ``workers``
tasks; results are ingested as they complete (so ``nbtrack.runs()``, the panel and the sidebar see them at
once), a crashed attempt is retried up to ``retries`` times, and after the round ``compare(...,
sequential=True)`` looks again: the anytime-valid test, so stopping as soon as a pair is decided does not
inflate false verdicts. A sweep is the same loop over new configurations of one run's script; a clearly
worse configuration stops early only because its pair is decided by that test.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nbtrack import values
from nbtrack.jobs import plan
from nbtrack.jobs.ingest import ingest
from nbtrack.jobs.job import PENDING, Job
from nbtrack.jobs.local import LocalEngine
from nbtrack.jobs.progress import Progress
from nbtrack.jobs.tasks import Engine, Task, TaskResult

DEFAULT_MAX_RUNS = 30
RESERVED = {"params", "allow_data_change", "metrics_file", "help"}  # the exported script's own options
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(s|sec|m|min|h)?\s*$", re.I)


def parse_budget(budget: int | str | None) -> tuple[int | None, float | None]:
    """``(runs, seconds)``: an int is a number of runs, a string a wall time (``"90s"``, ``"10m"``, ``"2h"``)."""
    if budget is None:
        return None, None
    if isinstance(budget, bool):
        raise ValueError("budget must be a number of runs or a wall time such as '10m'")
    if isinstance(budget, int):
        return budget, None
    match = _DURATION.match(str(budget))
    if not match:
        raise ValueError(f"budget {budget!r}: give a number of runs (30) or a wall time ('90s', '10m', '2h')")
    unit = (match.group(2) or "s").lower()[0]
    return None, float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]


def resolve_engine(engine: Any, workers: int | None) -> tuple[Engine, bool]:
    """The engine to use and whether the job owns it (then closes it): ``"local"``, an Engine, or a Dask
    ``Client`` / scheduler address (``"tcp://host:port"``), for which ``nbtrack.jobs.dask`` is imported."""
    if engine is None or engine == "local":
        return LocalEngine(workers), True
    is_dask = (isinstance(engine, str) and "://" in engine) or type(engine).__module__.split(".")[0] == "distributed"
    if is_dask:
        module = importlib.import_module("nbtrack.jobs.dask")  # needs `pip install "nbtrack[dask]"`
        return module.DaskEngine(engine, workers=workers), True
    if isinstance(engine, Engine):
        return engine, False
    raise ValueError(f"engine must be 'local', an Engine, a dask Client or a 'tcp://' address, not {engine!r}")


def cli_args(params: Mapping[str, Any]) -> list[str]:
    """The exported script's command line for these (decoded) param values."""
    out: list[str] = []
    for name, value in params.items():
        flag = f"param-{name}" if name in RESERVED else name
        if isinstance(value, bool):
            out.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            out += [f"--{flag}", value if isinstance(value, str) else repr(value)]
    return out


# one job's loop -------------------------------------------------------------------------------------------------


class Driver:
    """Runs a job's rounds on an engine (one instance per ``run_more``/``sweep`` call)."""

    def __init__(self, job: Job, engine: Engine, progress: Any) -> None:
        self.job, self.engine, self.store = job, engine, job.store
        opts = job.options
        self.max_runs = opts.get("max_runs") or DEFAULT_MAX_RUNS
        self.until = opts.get("until", "decided")
        self.retries = int(opts.get("retries", 1))
        self.budget_runs, self.budget_seconds = parse_budget(opts.get("budget"))
        self.scripts: dict[str, bytes] = {}
        self.started = time.monotonic()
        self.elapsed_before = job.elapsed
        self.progress = Progress(job, progress, total=self.total())

    def total(self) -> int:
        left = sum(max(0, self.max_runs - len(g.runs)) for g in self.job.groups)
        done = len(self.job.run_ids)
        return done + (min(left, self.budget_runs - done) if self.budget_runs is not None else left)

    # budget ---------------------------------------------------------------------------------------------

    def runs_left(self) -> int | None:
        return None if self.budget_runs is None else self.budget_runs - len(self.job.tasks) + self.job.count(*PENDING)

    def seconds_left(self) -> float | None:
        if self.budget_seconds is None:
            return None
        return self.budget_seconds - self.elapsed_before - (time.monotonic() - self.started)

    def budget_text(self) -> str:
        runs, seconds = self.runs_left(), self.seconds_left()
        if runs is not None:
            return f"{max(runs, 0)} runs"
        if seconds is not None:
            return f"{max(seconds, 0):.0f} s"
        return "no budget set"

    def spent(self) -> bool:
        runs, seconds = self.runs_left(), self.seconds_left()
        return (runs is not None and runs <= 0) or (seconds is not None and seconds <= 0)

    # looking ----------------------------------------------------------------------------------------------

    def counted_runs(self, group: plan.GroupState, superseded: set[str]) -> list[str]:
        return [r for r in group.runs if r not in superseded]

    def look(self) -> dict[str, int]:
        """Group key -> runs to add next (compare(..., sequential=True) on the job's runs)."""
        job = self.job
        superseded = job.superseded()
        floor = min(plan.MIN_RUNS, self.max_runs)
        counts = {g.key: len(self.counted_runs(g, superseded)) for g in job.groups}
        short = {k: floor - n for k, n in counts.items() if n < floor}
        if short:  # no test decides below 3 runs a side: fill up first
            return short
        from nbtrack.analysis.comparison import compare

        run_ids = [r for g in job.groups for r in self.counted_runs(g, superseded)]
        cmp = compare(run_ids, store=self.store, sequential=True, **job.compare)
        job.comparison = cmp
        job.decided = plan.decided_pairs(cmp)
        by_run = {r: g.key for g in job.groups for r in g.runs}
        label_of: dict[str, str] = {}
        for label, ids in plan.comparison_runs(cmp).items():
            key = next((by_run[r] for r in ids if r in by_run), None)
            if key is not None:
                label_of[key] = label
        by_label = {label_of[k]: n for k, n in counts.items() if k in label_of}
        want = plan.needs(cmp, by_label, self.max_runs, self.until)
        key_of = {v: k for k, v in label_of.items()}
        return {key_of[label]: n for label, n in want.items()}

    def plan_round(self, wanted: Mapping[str, int]) -> list[str]:
        job = self.job
        k_round = max(wanted.values())  # nothing to decide between rounds: everything at once
        if self.until is not None:  # a round of about `workers` runs, then look again
            k_round = max(1, min(k_round, self.engine.workers // max(1, len(wanted))))
        seed_params = {g.seed_param for g in job.groups}
        recorded = [r for g in job.groups for r in g.runs] + [g.run for g in job.groups]  # a sweep's base run too
        used = plan.used_seeds(self.store, recorded, seed_params)
        used |= {t["seed"] for t in job.tasks.values()}
        seeds = plan.new_seeds(used, k_round, job.options.get("seeds"))
        keys = [job.add_task(g, seed) for i, seed in enumerate(seeds) for g, k in wanted.items() if i < k]
        left = self.runs_left()
        if left is not None:
            for key in keys[max(left, 0) :]:
                del job.tasks[key]
            keys = keys[: max(left, 0)]
        return keys

    # running ----------------------------------------------------------------------------------------------

    def task(self, key: str) -> Task:
        job = self.job
        spec = job.tasks[key]
        group = job.group(spec["group"])
        if group.script is None:
            twin = next((g for g in job.groups if g.run == group.run and g.script), None)
            if twin is not None:
                group.script, group.cwd, group.inputs = twin.script, twin.cwd, twin.inputs
            else:
                plan.export_group(self.store, group, job.folder)
        script = group.script or ""
        if script not in self.scripts:
            self.scripts[script] = Path(script).read_bytes()
        params = {name: values.decode(v) for name, v in group.args.items()}
        params[group.seed_param] = spec["seed"]
        timeout = job.options.get("timeout") or 10 * (group.seconds or 0.0) + 120.0
        inputs = {} if isinstance(self.engine, LocalEngine) else plan.ship_inputs(self.store, group)
        return Task(key, self.scripts[script], Path(script).name, cli_args(params), group.cwd, inputs, timeout)

    def submit(self, keys: Iterable[str]) -> None:
        for key in keys:
            task = self.task(key)
            self.job.mark(key, "submitted")
            self.engine.submit(task)
        self.job.save()

    def handle(self, result: TaskResult, retry: bool = True) -> None:
        job = self.job
        spec = job.tasks.get(result.task_id)
        if spec is None:
            return
        group = job.group(spec["group"])
        rep = self.store.run_docs().get(group.run) or {}
        params = {name: values.decode(v) for name, v in group.params.items()}
        params[group.seed_param] = spec["seed"]
        run_id = ingest(
            self.store,
            result,
            job_id=job.id,
            kind=job.kind,
            params=params,
            experiment=rep.get("experiment") or "default",
            name=rep.get("name"),
        )
        if run_id not in group.runs:
            group.runs.append(run_id)
        ok = result.ok
        error = None if ok else (result.stderr_tail.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        job.mark(result.task_id, "done" if ok else "failed", run=run_id, error=error, host=result.host)
        if not ok and retry and spec["attempt"] <= self.retries and not job.cancelled:
            left = self.runs_left()
            if left is None or left > 0:
                key = job.add_task(spec["group"], spec["seed"], spec["attempt"] + 1)
                self.submit([key])
        job.save()
        self.progress.update(job, self.budget_text())

    def drive(self) -> Job:
        job, engine = self.job, self.engine
        pending = [k for k, t in job.tasks.items() if t["state"] in PENDING]
        while not job.cancelled:
            if not pending:
                if self.spent():
                    job.stop_reason = "budget spent"
                    break
                wanted = self.look()
                self.progress.update(job, self.budget_text(), step=0)
                if not wanted:
                    job.stop_reason = "decided" if job.decided[0] == job.decided[1] else f"max_runs ({self.max_runs})"
                    break
                pending = self.plan_round(wanted)
                if not pending:
                    job.stop_reason = "budget spent" if self.spent() else "no new seeds left"
                    break
            self.submit(pending)
            pending = []
            for result in engine.results():
                self.handle(result)
                left = self.seconds_left()
                if left is not None and left <= 0 and not job.cancelled:
                    job.stop_reason = "budget spent"
                    job.cancel()
        if job.cancelled:
            job.stop_reason = job.stop_reason or "cancelled"
        return job

    def finish(self, cancelled: bool) -> None:
        job = self.job
        if cancelled:
            self.engine.cancel()
            for result in self.engine.results(timeout=30):  # finished before the cancel: keep them
                self.handle(result, retry=False)
        for key, spec in job.tasks.items():
            if spec["state"] in ("planned", "submitted"):
                job.mark(key, "cancelled")
        job.elapsed = self.elapsed_before + (time.monotonic() - self.started)
        job.state = "cancelled" if job.cancelled and job.stop_reason != "budget spent" else "done"
        job.save()
        self.progress.close(job, self.budget_text())


def run_job(job: Job, engine: Any, workers: int | None, progress: Any) -> Job:
    """Run (or resume) ``job`` on ``engine`` until decided, spent or cancelled; KeyboardInterrupt cancels it
    (finished runs kept, none left running) and is raised again."""
    eng, owned = resolve_engine(engine, workers)
    if getattr(eng, "fetch_input", False) is None:
        eng.fetch_input = job.store.get_blob  # type: ignore[attr-defined]  # engines that ship inputs have it
    if hasattr(eng, "job"):
        eng.job = job.id  # Dask names its tasks after the job (nbtrack-<job>-<task>-<attempt>)
    job._cancel.clear()
    job._engine, job.state, job.stop_reason = eng, "running", None
    job.save()
    driver = Driver(job, eng, progress)
    try:
        driver.drive()
    except KeyboardInterrupt:
        job.stop_reason = "interrupted (KeyboardInterrupt)"
        job._cancel.set()
        driver.finish(cancelled=True)
        raise
    except BaseException:
        job._cancel.set()
        job.stop_reason = job.stop_reason or "failed"
        driver.finish(cancelled=True)
        job.state = "failed"
        job.save()
        raise
    else:
        driver.finish(cancelled=job.cancelled)
    finally:
        job._engine = None
        if owned:
            eng.close()
    return job
