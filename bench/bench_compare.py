"""Benchmark of ``nbtrack.compare``: 20 configurations x 30 seeds x 3 metrics, IQM bootstrap included.

Run it with the interpreter of the environment nbtrack is installed in::

    python bench/bench_compare.py                 # 15 repetitions, 2,000 bootstrap resamples
    python bench/bench_compare.py --repeat 30 --n-boot 5000 --no-store

It prints the median (and min / max) wall time of:

1. ``compare(frame)`` on a ``runs()``-shaped DataFrame of 600 runs: grouping, per-group statistics (the IQM
   bootstrap: 20 x 3 groups x n_boot resamples, vectorized), the tests of all 190 pairs per metric (the
   reference is picked from the data, so every pair is in the Holm family), P(A>B) intervals, power.
2. ``compare("experiment")`` end to end from a store holding the same 600 runs (adds ``nbtrack.runs()``).
3. The bootstrap alone (``intervals.bootstrap_iqm_intervals`` on the 60 groups).

The target from issue #4 is <= 1 s for (1). Nothing is asserted: machines are shared and noisy, so only
medians are quoted. The figures and raw samples also go to bench/results/compare-<time>.json (git-ignored).
The first call of each workload (imports, caches) is reported separately and not in the median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _var in ("NBTRACK_DIR", "NBTRACK_EXPERIMENT", "JPY_SESSION_NAME"):
    os.environ.pop(_var, None)

import numpy as np  # noqa: E402

import nbtrack  # noqa: E402
from nbtrack.analysis import intervals  # noqa: E402

GROUPS, SEEDS, METRICS = 20, 30, ("acc", "loss", "f1")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def make_rows(seed: int = 0) -> list[dict[str, Any]]:
    """600 runs: 20 learning rates x 30 seeds; acc normal, loss lognormal (skewed), f1 normal."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(GROUPS):
        lr = round(10 ** (-3 + 3 * g / (GROUPS - 1)), 6)
        quality = -(((g - 12) / 8) ** 2)  # best near the 13th learning rate
        for s in range(SEEDS):
            rows.append(
                {
                    "params": {"lr": lr, "seed": s, "epochs": 10},
                    "metrics": {
                        "acc": 0.85 + 0.02 * quality + rng.normal(0, 0.01),
                        "loss": float(np.exp(-1.0 - 0.2 * quality + rng.normal(0, 0.3))),
                        "f1": 0.80 + 0.03 * quality + rng.normal(0, 0.02),
                    },
                }
            )
    return rows


def as_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "run_id": f"run{k:04d}",
                "experiment": "bench",
                "status": "finished",
                **{f"params.{p}": v for p, v in r["params"].items()},
                **{f"metrics.{m}": v for m, v in r["metrics"].items()},
            }
            for k, r in enumerate(rows)
        ]
    )


def timed(fn: Any, repeat: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return first, samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed repetitions per workload (default 15)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--no-store", action="store_true", help="skip the end-to-end workload from a store")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/compare-<time>.json)")
    args = parser.parse_args(argv)

    rows = make_rows()
    frame = as_frame(rows)
    results: dict[str, Any] = {}

    def frame_workload() -> None:
        nbtrack.compare(frame, metric=list(METRICS), n_boot=args.n_boot)

    cmp = nbtrack.compare(frame, metric=list(METRICS), n_boot=args.n_boot)
    tests = cmp.pairs["test"].value_counts().to_dict()
    results["compare(frame)"] = timed(frame_workload, args.repeat)

    stacks = {
        m: np.stack(
            [
                frame.loc[frame["params.lr"] == lr, f"metrics.{m}"].to_numpy()
                for lr in sorted(frame["params.lr"].unique())
            ]
        )
        for m in METRICS
    }

    def bootstrap_workload() -> None:
        for values in stacks.values():
            intervals.bootstrap_iqm_intervals(values, n_boot=args.n_boot)

    results["bootstrap alone"] = timed(bootstrap_workload, args.repeat)

    if not args.no_store:
        with tempfile.TemporaryDirectory(prefix="nbtrack-bench-compare-") as tmp:
            store = Path(tmp) / ".nbtrack"
            for r in rows:
                with nbtrack.track(
                    name="fit", experiment="bench", params=r["params"], store=store, environment=False
                ) as run:
                    run.log_metrics(r["metrics"])

            def store_workload() -> None:
                nbtrack.compare("bench", metric=list(METRICS), n_boot=args.n_boot, store=store)

            results["compare('bench') from a store"] = timed(store_workload, args.repeat)

    print(
        f"nbtrack.compare: {GROUPS} groups x {SEEDS} runs x {len(METRICS)} metrics, n_boot = {args.n_boot}, "
        f"{args.repeat} repetitions (python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cpus)"
    )
    print(f"tests chosen: {tests}; pairs tested per metric: {GROUPS * (GROUPS - 1) // 2}")
    print(f"{'workload':34} {'median':>9} {'min':>9} {'max':>9} {'first call':>11}   target")
    for name, (first, samples) in results.items():
        target = "<= 1 s" if name == "compare(frame)" else ""
        met = ("  met" if statistics.median(samples) <= 1.0 else "  NOT met") if target else ""
        print(
            f"{name:34} {statistics.median(samples):8.3f}s {min(samples):8.3f}s {max(samples):8.3f}s "
            f"{first:10.3f}s   {target}{met}"
        )

    out = args.output or RESULTS_DIR / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "argv": sys.argv[1:],
                "n_boot": args.n_boot,
                "tests": tests,
                "workloads": {
                    name: {"median_s": statistics.median(s), "first_s": first, "samples_s": s}
                    for name, (first, s) in results.items()
                },
            },
            indent=1,
        )
    )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
