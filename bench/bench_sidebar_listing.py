"""Benchmark of the sidebar's runs listing (``nbtrack.server.api.list_runs``) with what the compact list adds: a
notebook's runs by its id and the primary metric's sparkline per run (a series blob read and downsampled).

    python bench/bench_sidebar_listing.py                # 2,000 runs of 200 steps each, 15 repetitions
    python bench/bench_sidebar_listing.py --runs 10000 --steps 50

It prints the median (min / max) wall time of one page of 50 runs: (1) by experiment, as before; (2) by
notebook id, sparklines cold (every series blob read); (3) the same, warm (the poll's case: series blobs never
change, their sparklines are cached). Targets: (3) within 20 ms of (1), (2) within 100 ms of (1): what the
compact list adds to a page. Nothing is asserted: machines are shared and noisy, so only medians are quoted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbtrack
from nbtrack.server import api, runs_listing
from nbtrack.store import local as store_mod

NOTEBOOK = "bench-0000-4000-8000-000000000000"


def fill(path: Path, runs: int, steps: int) -> store_mod.Store:
    store = store_mod.get_store(path)
    for i in range(runs):
        with nbtrack.track(f"run-{i}", "bench", {"lr": i % 10}, store=store, environment=False) as run:
            run.record.notebook_id = NOTEBOOK if i % 2 == 0 else None
            for step in range(steps):
                run.log_metric("loss", 1.0 / (1 + step + i % 7), step=step)
            run.log_metric("val_acc", 0.5 + (i % 50) / 100)
    return store


def timed(call, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def show(label: str, samples: list[float], target: str) -> None:
    ms = [s * 1000 for s in samples]
    print(f"{label}: median {statistics.median(ms):.1f} ms (min {min(ms):.1f}, max {max(ms):.1f}); target {target}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store = fill(Path(tmp) / ".nbtrack", args.runs, args.steps)
        print(f"{args.runs} runs x {args.steps} steps written in {time.perf_counter() - started:.1f} s")
        api.list_runs(store, experiments=["bench"])  # the runs table, built once (as the server keeps it)
        show("(1) page by experiment", timed(lambda: api.list_runs(store, experiments=["bench"]), args.repeat), "-")

        def cold() -> None:
            runs_listing._cache.clear()
            api.list_runs(store, notebook=NOTEBOOK, notebook_name="bench")

        show("(2) page by notebook id, sparklines cold", timed(cold, args.repeat), "(1) + 100 ms")
        page = api.list_runs(store, notebook=NOTEBOOK, notebook_name="bench")
        warm = timed(lambda: api.list_runs(store, notebook=NOTEBOOK, notebook_name="bench"), args.repeat)
        show("(3) page by notebook id, sparklines warm", warm, "(1) + 20 ms")
        points = sum(len(p) for p in page["sparklines"].values())
        print(f"sparklines: {len(page['sparklines'])} runs, {points} points; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
