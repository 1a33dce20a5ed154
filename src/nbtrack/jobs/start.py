"""The public entry points ``nbtrack.run_more`` and ``nbtrack.sweep``: build (or load) a job, then run it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from nbtrack import values
from nbtrack.analysis.keys import format_value
from nbtrack.errors import JobError
from nbtrack.jobs import plan
from nbtrack.jobs.job import Job, is_job
from nbtrack.jobs.loop import DEFAULT_MAX_RUNS, parse_budget, run_job
from nbtrack.run import Run
from nbtrack.store.local import Store, get_store


def _options(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


def _comparison(target: Any, store: Store) -> Any:
    from nbtrack.analysis.comparison import Comparison, compare

    if isinstance(target, Comparison):
        return target
    return compare(target, store=store, sequential=True)


def run_more(
    target: Any,
    *,
    until: str | None = "decided",
    max_runs: int | None = None,
    budget: int | str | None = None,
    seeds: Sequence[Any] | None = None,
    engine: Any = "local",
    workers: int | None = None,
    retries: int = 1,
    progress: Any = None,
    seed_param: str | None = None,
    timeout: float | None = None,
    store: Any = None,
) -> Job:
    """Add runs to the groups of a comparison until it is decided; returns the :class:`~nbtrack.jobs.job.Job`.

    ``target``: a Comparison, an experiment name, a list of run ids (or a ``runs()`` frame), or a job id to
    resume. Each group that needs runs (a pair not ``decided`` by ``compare(..., sequential=True)``, or under
    3 runs) reruns its verified exported script with new seeds (its seed-like param, or ``seed_param``; never a
    seed already recorded; ``seeds=`` to choose them) and otherwise its params. ``until="decided"`` stops each
    pair once decided (None: run every group to ``max_runs``); ``max_runs`` per group (default 30);
    ``budget``: total runs (int) or wall time (``"10m"``). ``engine``: ``"local"`` (subprocesses here,
    ``workers`` at a time, default the CPU count), an Engine, a dask Client or ``"tcp://host:port"``.
    A crashed script is a failed run, retried ``retries`` times. KeyboardInterrupt or ``job.cancel()`` stops
    it keeping every finished run; ``run_more(job.id)`` resumes."""
    st = get_store(store if store is not None else getattr(target, "store", None))
    parse_budget(budget)  # a bad budget fails before anything runs
    given = _options(until=until, max_runs=max_runs, budget=budget, seeds=seeds, retries=retries, timeout=timeout)
    if is_job(st, target):
        job = Job.load(st, target)
        job.options.update({k: v for k, v in given.items() if k not in ("until", "retries")})
        return run_job(job, engine, workers, progress)
    cmp = _comparison(target, st)
    groups = plan.groups_of(cmp, st, seed_param)
    if not groups:
        raise JobError("the comparison has no groups: nothing to run more of")
    seed_params = sorted({g.seed_param for g in groups})
    job = Job.new(
        st,
        "run_more",
        options={"until": until, "max_runs": max_runs or DEFAULT_MAX_RUNS, **given},
        compare={
            "metric": list(cmp.metrics),
            "by": list(cmp.params),
            "higher_is_better": dict(cmp.directions),
            "confidence": cmp.confidence,
            "seed_params": seed_params,
        },
        groups=groups,
    )
    job.comparison = cmp
    job.save()
    return run_job(job, engine, workers, progress)


def configs_of(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A grid ``{"C": [0.1, 1]}`` as its configurations (every combination), or a list of them as given."""
    if isinstance(grid, Mapping):
        names = list(grid)
        options = [list(v) if isinstance(v, (list, tuple, range)) else [v] for v in grid.values()]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*options)]
    return [dict(c) for c in grid]


def _like(recorded: Any, value: Any) -> Any:
    """``C=1`` for a run whose C was 1.0 is the float 1.0 (one setting, one label)."""
    if isinstance(recorded, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def sweep(
    run: Any,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    *,
    seeds: int | Sequence[Any] = 5,
    until: str | None = "decided",
    budget: int | str | None = None,
    engine: Any = "local",
    workers: int | None = None,
    retries: int = 1,
    progress: Any = None,
    seed_param: str | None = None,
    metric: str | Sequence[str] | None = None,
    higher_is_better: bool | Mapping[str, bool] | None = None,
    timeout: float | None = None,
    store: Any = None,
) -> Job:
    """New configurations of one run's (verified exported) script: each config of ``grid`` (``{"C": [0.1, 1]}``
    or a list of param dicts) runs with up to ``seeds`` seeds (a number, or the seeds themselves); with
    ``until="decided"`` a configuration stops early once ``compare(..., sequential=True)`` decides its pair
    (a clearly worse one, say). Other options as :func:`run_more`; returns the Job (``job.comparison``)."""
    st = get_store(store if store is not None else getattr(run, "store", None))
    parse_budget(budget)
    rep = Run.from_doc(st.get_doc(run.id if isinstance(run, Run) else str(run)), st)
    configs = [{k: _like(rep.params.get(k), v) for k, v in c.items()} for c in configs_of(grid)]
    if not configs:
        raise JobError("the grid has no configurations")
    keys = list(dict.fromkeys(k for c in configs for k in c))
    unknown = [k for k in keys if k not in rep.params]
    if unknown:
        raise JobError(
            f"run {rep.id} has no param {', '.join(unknown)}: its exported script takes only {', '.join(rep.params)}"
        )
    seed = plan.pick_seed_param(rep.params, keys, seed_param)
    explicit = None if isinstance(seeds, int) else list(seeds)
    per_config = seeds if isinstance(seeds, int) else len(seeds)
    base = {k: v for k, v in st.get_doc(rep.id).get("params", {}).items() if k != seed}
    groups = []
    for i, config in enumerate(configs):
        encoded = {k: values.encode(v)[0] for k, v in config.items()}
        label = ", ".join(f"{k}={format_value(config[k])}" for k in keys if k in config)
        groups.append(plan.GroupState(f"g{i}", label, rep.id, {**base, **encoded}, seed, rep.duration, args=encoded))
    metrics = [metric] if isinstance(metric, str) else list(metric or rep.metrics)
    job = Job.new(
        st,
        "sweep",
        options=_options(
            until=until, max_runs=per_config, budget=budget, seeds=explicit, retries=retries, timeout=timeout
        ),
        compare={"metric": metrics, "by": keys, "higher_is_better": higher_is_better, "seed_params": [seed]},
        groups=groups,
    )
    job.options["until"] = until
    job.save()
    return run_job(job, engine, workers, progress)
