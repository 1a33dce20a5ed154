"""Benchmark of ``nbtrack.compare``: 20 configurations x 30 seeds x 3 metrics, IQM bootstrap included, a sweep of
200 configurations x 5 seeds x 3 metrics, and seeded simulations of the false-verdict rate under repeated looks
(sequential), of the sweep's family-wise error and of its power (issue 14).

Run it with the interpreter of the environment nbtrack is installed in::

    python bench/bench_compare.py                 # 15 repetitions, 2,000 bootstrap resamples
    python bench/bench_compare.py --repeat 30 --n-boot 5000 --no-store

It prints the median (and min / max) wall time of:

1. ``compare(frame)`` on a ``runs()``-shaped DataFrame of 600 runs: grouping, per-group statistics (the IQM
   bootstrap: 20 x 3 groups x n_boot resamples, vectorized), the tests of all 190 pairs per metric (the
   reference is picked from the data, so every pair is in the Holm family), P(A>B) intervals, power.
2. ``compare("experiment")`` end to end from a store holding the same 600 runs (adds ``nbtrack.runs()``).
3. The bootstrap alone (``intervals.bootstrap_iqm_intervals`` on the 60 groups).

4. ``compare(frame)`` and ``compare("sweep")`` on 200 groups x 5 runs x 3 metrics (Hsu's MCB / Tukey-Kramer).
5. Simulations (``--no-sims`` skips them): vectorized simulations with fixed seeds, the figures beside
   their targets.

Targets: <= 1 s for (1) (issue #4); <= 0.5 s for (2); <= 2 s for (4) (issue 14; 4.8 s before). Nothing is
asserted: machines are shared and noisy, so only medians are quoted. The figures and raw samples also go to
bench/results/compare-<time>.json (git-ignored).
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


def make_sweep(seed: int = 1) -> list[dict[str, Any]]:
    """1,000 runs: 200 configurations x 5 seeds, normal scores; configuration 7 better by 2 sd."""
    rng = np.random.default_rng(seed)
    return [
        {
            "params": {"cfg": g, "seed": s},
            "metrics": {m: float(rng.normal(0.8, 0.01) + (0.02 if g == 7 else 0.0)) for m in METRICS},
        }
        for g in range(200)
        for s in range(5)
    ]


TARGETS = {
    "compare(frame)": 1.0,
    "compare('bench') from a store": 0.5,
    "compare(frame) 200 x 5": 2.0,
    "compare('sweep') from a store": 2.0,
}


def simulations() -> dict[str, float]:
    """Seeded, vectorized: false verdicts under a look after every run (sequential vs fixed-n), time to decide
    a d = 1.5 effect, the sweep's family-wise error with equal groups and its power at 200 x 5."""
    import math

    from scipy import stats

    from nbtrack.analysis import best, sequential

    out: dict[str, float] = {}
    rng = np.random.default_rng(2024)
    for dist in ("normal", "lognormal"):
        shape = (20000, 30)
        a, b = (
            (rng.normal(0, 1, shape), rng.normal(0, 1, shape))
            if dist == "normal"
            else (
                rng.lognormal(0, 0.5, shape),
                rng.lognormal(0, 0.5, shape),
            )
        )
        mean, hw = sequential.running_sequences(b - a, 0.05)
        out[f"sequential false verdicts, looks 3..30, {dist}"] = float((np.abs(mean) > hw)[:, 2:].any(1).mean())
        n = np.arange(1, 31)
        var = np.maximum((np.cumsum((b - a) ** 2, 1) - n * mean**2) / np.maximum(n - 1, 1), 1e-300)
        t = np.abs(mean) / np.sqrt(var / n)
        out[f"fixed-n t false verdicts, looks 3..30, {dist}"] = float(
            (t > stats.t.ppf(0.975, np.maximum(n - 1, 1)))[:, 2:].any(1).mean()
        )
    a, b = rng.normal(0, 1, (20000, 30)), rng.normal(1.5, 1, (20000, 30))
    mean, hw = sequential.running_sequences(b - a, 0.05)
    first = np.where((mean - hw > 0)[:, 2:].any(1), (mean - hw > 0)[:, 2:].argmax(1) + 3, 999)
    out["sequential d=1.5: median runs per group to decide"] = float(np.median(first))
    out["sequential d=1.5: decided by 30 runs"] = float((first <= 30).mean())
    for k, n, effect, experiments in ((20, 5, 0.0, 4000), (200, 5, 0.0, 1000), (200, 5, 2.0, 1000), (200, 5, 4.0, 500)):
        df = float(k * (n - 1))
        d = best.dunnett_quantile(np.full(k - 1, math.sqrt(0.5)), df)
        q = best.range_quantile(k, df) / math.sqrt(2)
        hits = {"any worse": 0.0, "top": 0.0, "candidate": 0.0, "not best": 0.0, "worse": 0.0, "only": 0.0}
        for start in range(0, experiments, 100):
            x = rng.normal(0, 1, (min(100, experiments - start), k, n))
            x[:, 0] += effect
            y = x.mean(2)
            se = np.sqrt(x.var(2, ddof=1).mean(1, keepdims=True) * 2 / n)
            top2 = np.sort(y, axis=1)[:, -2:]
            cand = y - np.where(y == top2[:, 1:], top2[:, :1], top2[:, 1:]) + d * se > 0
            strict = (y.max(1, keepdims=True) - y) > q * se
            hits["any worse"] += strict.any(1).sum()
            hits["top"] += (y.argmax(1) == 0).sum()
            hits["candidate"] += cand[:, 0].sum()
            hits["not best"] += (~cand[:, 1:]).mean(1).sum()
            hits["worse"] += strict[:, 1:].mean(1).sum()
            hits["only"] += ((cand.sum(1) == 1) & cand[:, 0]).sum()
        label = f"sweep {k} x {n}, d={effect:g}"
        if effect == 0:
            out[f"{label}: family-wise error (any 'worse')"] = hits["any worse"] / experiments
        else:
            out[f"{label}: best config is the reference"] = hits["top"] / experiments
            out[f"{label}: best config among MCB candidates"] = hits["candidate"] / experiments
            out[f"{label}: share of others 'not best' (MCB)"] = hits["not best"] / experiments
            out[f"{label}: share of others 'worse' (Tukey-Kramer)"] = hits["worse"] / experiments
            out[f"{label}: identified as the only candidate"] = hits["only"] / experiments
    targets = {"false verdicts": "<= 0.05", "family-wise": "<= 0.05", "decided by 30": ">= 0.95 (well before 30)"}
    print("simulations (fixed seeds):")
    for name, value in out.items():
        target = next((t for key, t in targets.items() if key in name and "fixed-n" not in name), "")
        print(f"  {name:62} {value:8.4f}   {target}")
    return out


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
    parser.add_argument("--no-sims", action="store_true", help="skip the seeded simulations")
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

    sweep_rows = make_sweep()
    sweep = as_frame(sweep_rows)
    results["compare(frame) 200 x 5"] = timed(
        lambda: nbtrack.compare(sweep, metric=list(METRICS), n_boot=args.n_boot), args.repeat
    )

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
            for r in sweep_rows:
                with nbtrack.track(
                    name="fit", experiment="sweep", params=r["params"], store=store, environment=False
                ) as run:
                    run.log_metrics(r["metrics"])

            def sweep_workload() -> None:
                nbtrack.compare("sweep", metric=list(METRICS), n_boot=args.n_boot, store=store)

            results["compare('sweep') from a store"] = timed(sweep_workload, args.repeat)

    print(
        f"nbtrack.compare: {GROUPS} groups x {SEEDS} runs x {len(METRICS)} metrics, n_boot = {args.n_boot}, "
        f"{args.repeat} repetitions (python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cpus)"
    )
    print(f"tests chosen: {tests}")
    print(f"{'workload':34} {'median':>9} {'min':>9} {'max':>9} {'first call':>11}   target")
    for name, (first, samples) in results.items():
        limit = TARGETS.get(name)
        target = f"<= {limit:g} s" if limit else ""
        met = ("  met" if statistics.median(samples) <= limit else "  NOT met") if limit else ""
        print(
            f"{name:34} {statistics.median(samples):8.3f}s {min(samples):8.3f}s {max(samples):8.3f}s "
            f"{first:10.3f}s   {target}{met}"
        )

    sims = {} if args.no_sims else simulations()

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
                "simulations": sims,
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
