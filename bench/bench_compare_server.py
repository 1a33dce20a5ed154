"""Benchmark of the first comparison of 9 runs through the server's heavy lane (issue 16, target <= 1 s).

Run it with the interpreter of the environment nbtrack is installed in::

    python bench/bench_compare_server.py            # 3 repetitions of each case, each in a fresh process

Each case starts a fresh Python process (the forkserver is per process), writes 9 runs (3 learning rates x 3
seeds, two metrics) to a temporary store and times ``Offload.run_heavy("compare", ...)``, the call behind
``GET /nbtrack/api/compare``:

- ``before``: the forkserver preloading what it did before this change (pandas, the analysis modules) and
  started by the request itself, the view asking for the tables and the box plot in one request;
- ``after``: the forkserver preloading scipy and matplotlib too and started at server start (``warm_heavy``,
  then 30 s as a person opens a notebook and ticks runs), the view asking for the tables first (the headline
  then shows) and the plot in a second request.

It prints the median of the repetitions beside the target. Nothing is asserted: machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

OLD_PRELOAD = ["nbtrack.server.offload", "pandas", "nbtrack.analysis.comparison", "nbtrack.analysis.plots"]
TARGET = 1.0


def one_case(case: str, wait: float) -> dict[str, float]:
    import nbtrack
    from nbtrack.server import offload
    from nbtrack.server.paths import ConfinedStore
    from nbtrack.store import local as store_mod

    folder = tempfile.mkdtemp(prefix="nbtrack-bench-")
    store = store_mod.get_store(os.path.join(folder, ".nbtrack"))
    ids = []
    for i, (lr, seed) in enumerate((lr, seed) for lr in (0.1, 0.3, 1.0) for seed in range(3)):
        with nbtrack.track("fit", "bench", {"lr": lr, "seed": seed}, store=store, environment=False) as run:
            nbtrack.log_metrics({"val_acc": 0.8 + 0.02 * lr + 0.003 * i, "loss": 0.2 - 0.003 * i})
        ids.append(run.id)
    lane = offload.Offload()
    if case == "before":
        offload._PRELOAD[:] = OLD_PRELOAD
    else:
        lane.warm_heavy()
        time.sleep(wait)
    confined = ConfinedStore(store.root, None)

    async def timed(plots: list[str]) -> float:
        started = time.perf_counter()
        await lane.run_heavy("compare", confined, ids, None, plots)
        return time.perf_counter() - started

    out: dict[str, float] = {}
    if case == "before":
        out["tables and box plot"] = asyncio.run(timed(["box"]))
    else:
        out["tables (headline)"] = asyncio.run(timed([]))
        out["box plot, second request"] = asyncio.run(timed(["box"]))
    lane.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wait", type=float, default=30.0, help="seconds between server start and the click")
    parser.add_argument("--case", choices=["before", "after"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(one_case(args.case, args.wait)))
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for case in ("before", "after"):
        samples: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            command = [sys.executable, __file__, "--case", case, "--wait", str(args.wait)]
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            for key, value in result.items():
                samples.setdefault(key, []).append(value)
        for key, values in samples.items():
            print(
                f"{case:6s} {key:26s} median {statistics.median(values):6.2f} s "
                f"(min {min(values):.2f}, max {max(values):.2f}; target <= {TARGET:g} s for the headline)"
            )


if __name__ == "__main__":
    main()
