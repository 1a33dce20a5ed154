"""Benchmark of ``nbtrack.charts``: how long the Python side takes to build each Vega-Lite spec of a comparison
of 9 runs (3 configurations x 3 seeds, 50 logged steps each) and of 90 runs (30 configurations x 3 seeds), and
the spec's size. The browser side (switching chart <= 200 ms, issue 16) is measured by
``tests/browser/test_browser_charts.py``, which prints its timings in the test report.

    python bench/bench_charts.py [--repeat 9]

Prints the median (min-max) per kind; nothing is asserted (shared, noisy machines). Target: every spec of the
9-run comparison in <= 100 ms, so /compare can send the cheap kinds with the tables and a switch is a render.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import nbtrack

KINDS = ("box", "curves", "parallel", "scatter", "matrix")


def fill(configs: int, seeds: int, steps: int) -> None:
    for c in range(configs):
        lr = round(0.05 * (c + 1), 3)
        for seed in range(seeds):
            with nbtrack.track("fit", "bench", {"lr": lr, "seed": seed}, environment=False):
                for step in range(steps):
                    nbtrack.log_metric("acc", 0.5 + lr * step / 100 + 0.001 * seed, step=step)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    os.environ["NBTRACK_OUTPUTS"] = "off"
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores shared)")
    for configs, seeds in ((3, 3), (30, 3)):
        with tempfile.TemporaryDirectory() as folder:
            nbtrack.set_store(os.path.join(folder, "store"))
            fill(configs, seeds, 50)
            cmp = nbtrack.compare("bench", metric="acc")
            print(f"{configs * seeds} runs, {configs} groups, 50 steps:")
            for kind in KINDS:
                cmp.chart(kind)  # first call: imports and caches, not in the median
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    chart = cmp.chart(kind)
                    times.append((time.perf_counter() - start) * 1000)
                size = len(chart.to_json()) / 1000
                print(
                    f"  {kind:9s} {statistics.median(times):7.1f} ms  ({min(times):.1f}-{max(times):.1f})  "
                    f"{size:7.1f} kB   target <= 100 ms at 9 runs"
                )
            nbtrack.set_store(None)


if __name__ == "__main__":
    main()
