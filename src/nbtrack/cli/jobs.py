"""``nbtrack run-more`` and ``nbtrack sweep``: the job commands, thin over nbtrack.jobs."""

from __future__ import annotations

import argparse
from typing import Any


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", default="local", help="local (default) or a Dask scheduler address tcp://host:port")
    p.add_argument("--workers", type=int, metavar="N", help="parallel runs (default: the CPU count)")
    p.add_argument("--until", choices=["decided", "none"], default="decided", help="stop each pair once decided")
    p.add_argument("--budget", metavar="RUNS|TIME", help="total runs (30) or wall time (90s, 10m, 2h)")
    p.add_argument("--retries", type=int, default=1, metavar="N", help="retries of a crashed run (default: 1)")
    p.add_argument("--seed-param", metavar="NAME", help="the param to vary (default: the seed-like one)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="time limit of each run")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def add_cli(sub: Any, handler: Any) -> None:
    """``nbtrack run-more EXPERIMENT|RUN...|JOB`` and ``nbtrack sweep RUN --grid key=v1,v2 ... --seeds N``."""
    p = sub.add_parser("run-more", help="add runs with new seeds until the comparison is decided")
    p.add_argument("target", nargs="+", metavar="EXPERIMENT|RUN|JOB", help="an experiment, run ids, or a job to resume")
    p.add_argument("--max-runs", type=int, metavar="N", help="runs per group at most (default: 30)")
    p.add_argument("--metric", "-m", action="append", help="metric to decide on (default: every metric)")
    _common(p)
    p.set_defaults(func=handler, job_command="run-more")
    p = sub.add_parser("sweep", help="run new configurations of a run's script, each with several seeds")
    p.add_argument("run", help="run id or unambiguous prefix")
    p.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2", help="values of one param")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds per configuration at most (default: 5)")
    p.add_argument("--metric", "-m", action="append", help="metric to decide on (default: the run's metrics)")
    _common(p)
    p.set_defaults(func=handler, job_command="sweep")


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["C=0.1,1", "kind='a','b'"]`` -> ``{"C": [0.1, 1], "kind": ["a", "b"]}`` (values typed like labels)."""
    from nbtrack.analysis.keys import parse_value

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise ValueError(f"--grid {item!r}: give KEY=V1,V2,...")
        grid[key.strip()] = [parse_value(v) for v in text.split(",") if v.strip()]
    return grid


def _budget(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


def _target(targets: list[str], store: Any) -> Any:
    from nbtrack import ids
    from nbtrack.errors import RunNotFoundError
    from nbtrack.jobs.job import is_job

    if len(targets) == 1 and not ids.is_id_prefix(targets[0].lower()):
        return targets[0]  # an experiment name
    if len(targets) == 1 and is_job(store, targets[0]):
        return targets[0]  # a job to resume
    try:
        return [store.resolve(t) for t in targets]
    except RunNotFoundError:
        if len(targets) == 1:
            return targets[0]  # an experiment whose name looks like an id
        raise


def cli_jobs(args: argparse.Namespace, store: Any) -> int:
    from nbtrack.jobs.job import is_job
    from nbtrack.jobs.start import run_more, sweep

    options: dict[str, Any] = {
        "until": None if args.until == "none" else "decided",
        "budget": _budget(args.budget),
        "engine": args.engine,
        "workers": args.workers,
        "retries": args.retries,
        "progress": not args.quiet,
        "seed_param": args.seed_param,
        "timeout": args.timeout,
        "store": store,
    }
    if args.job_command == "sweep":
        job = sweep(store.resolve(args.run), parse_grid(args.grid), seeds=args.seeds, metric=args.metric, **options)
    else:
        target = _target(args.target, store)
        if args.metric and not is_job(store, target):
            from nbtrack.analysis.comparison import compare

            target = compare(target, metric=args.metric, store=store, sequential=True)
        job = run_more(target, max_runs=args.max_runs, **options)
    print(repr(job))
    if job.comparison is not None:
        print(job.comparison.to_text())
    return 0
