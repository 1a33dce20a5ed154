"""Panel benchmark: how long the runs panel takes to refresh over a store of 10,000 runs (target: <= 200 ms).

Run it with the interpreter of the environment nbtrack is installed in::

    python bench/bench_panel.py                 # 10,000 runs, 30 samples per figure
    python bench/bench_panel.py --runs 2000 --repeat 10

A standalone script, not a test: it prints medians (and the 90th percentile and maximum of the headline
figure), never asserts on a timing, and writes every raw sample as JSON into bench/results/.

Set-up: a temporary store with ``--runs`` run records in 5 experiments (8 params, 4 metrics, 2 tags and a
data fingerprint each, written straight to the journal as the API leaves them), and ``nbtrack.panel()`` on it
with live refresh off, outside a kernel (the widgets talk to a dummy comm, so the state they would send is
still computed and serialized). Then, timed with ``perf_counter``:

  refresh, nothing new      ``panel.refresh()`` when the store did not change (one ``stat``)
  refresh, run starts       a new run is recorded through ``nbtrack.track`` (its ``running`` record; not timed),
                            then ``panel.refresh()``: the table is patched, the page re-rendered, widgets updated
  refresh, run finishes     the same run's final record replaces the running one, then ``panel.refresh()``
  sort / where / search     changing a control (value set from Python, as a frontend message would)
  next page                 clicking the next-page button

The live-refresh thread does exactly what ``panel.refresh()`` does, once per changed stamp.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _var in ("NBTRACK_DIR", "NBTRACK_EXPERIMENT", "JPY_SESSION_NAME"):
    os.environ.pop(_var, None)

import nbtrack  # noqa: E402
from nbtrack import ids  # noqa: E402
from nbtrack.store.local import RUNS, Store  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_MS = 200.0


def populate(store: Store, n: int, seed: int = 0) -> None:
    rnd = random.Random(seed)
    start = time.time() - 2 * n
    entries: list[dict[str, Any]] = []
    for i in range(n):
        run_id = ids.new_run_id()
        t = start + 2 * i
        doc = {
            "id": run_id,
            "experiment": f"exp{i % 5}",
            "name": f"run {i}",
            "status": "finished",
            "start_time": t,
            "end_time": t + 1.5,
            "duration": 1.5,
            "params": {
                "lr": rnd.choice([0.1, 0.01, 0.001]),
                "batch": rnd.choice([32, 64]),
                "opt": rnd.choice(["adam", "sgd"]),
                "seed": i % 10,
                "layers": rnd.randint(1, 6),
                "dropout": 0.1,
                "model": "mlp",
                "epochs": 10,
            },
            "metrics": {"acc": rnd.random(), "loss": rnd.random(), "f1": rnd.random(), "time": rnd.random()},
            "tags": {"stage": rnd.choice(["explore", "final"]), "user": "bench"},
            "data": {"X": {"hash": f"{rnd.getrandbits(128):032x}", "kind": "ndarray"}},
            "source": "api",
            "format": 1,
        }
        entries.append({"op": "put", "t": RUNS, "id": run_id, "doc": doc})
        if len(entries) >= 4000:
            store.journal.append(entries)
            entries = []
    if entries:
        store.journal.append(entries)


def timed(action: Any) -> float:
    t0 = time.perf_counter()
    action()
    return (time.perf_counter() - t0) * 1000


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered),
        "p90_ms": ordered[int(0.9 * (len(ordered) - 1))],
        "max_ms": ordered[-1],
        "n": len(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the store (default 10,000)")
    parser.add_argument("--repeat", type=int, default=30, help="samples per figure (default 30)")
    parser.add_argument("--output", help="JSON results file (default: bench/results/panel-<time>.json)")
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON results file")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="nbtrack-bench-panel-"))
    results: dict[str, Any] = {}
    try:
        store = Store(work / "store")
        store.ensure()
        populate(store, args.runs)
        t0 = time.perf_counter()
        panel = nbtrack.panel(store=store, live=False)
        results["open"] = {"median_ms": (time.perf_counter() - t0) * 1000, "n": 1}

        samples: dict[str, list[float]] = {
            k: []
            for k in (
                "refresh, nothing new",
                "refresh, run starts",
                "refresh, run finishes",
                "sort",
                "where",
                "search",
                "next page",
            )
        }
        for i in range(args.repeat):
            samples["refresh, nothing new"].append(timed(panel.refresh))
            with nbtrack.track(
                name=f"landing {i}",
                experiment="exp0",
                params={"lr": 0.05, "landing": i},
                store=store,
                environment=False,
            ) as run:
                run.log_metric("acc", 0.5)
                samples["refresh, run starts"].append(timed(panel.refresh))
            samples["refresh, run finishes"].append(timed(panel.refresh))
            shown = panel.grid.text()
            assert f"landing {i}" in shown, "the new run is not on the first page"
            samples["sort"].append(
                timed(lambda i=i: setattr(panel.sort_by, "value", ("metrics.acc", "params.lr", "start_time")[i % 3]))
            )
            samples["where"].append(
                timed(
                    lambda i=i: setattr(
                        panel.where, "value", f"params.lr < 0.05 and metrics.acc > {0.1 + (i % 5) / 10}"
                    )
                )
            )
            samples["search"].append(timed(lambda i=i: setattr(panel.search, "value", f"run {i}")))
            samples["next page"].append(timed(panel.next_button.click))
            panel.where.value = ""
            panel.search.value = ""
            panel.sort_by.value = "start_time"
        panel.close()
        for name, values in samples.items():
            results[name] = summary(values)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"nbtrack panel over {args.runs:,} runs ({args.repeat} samples each; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(f"{'':28}{'median':>10}{'p90':>10}{'max':>10}")
    for name, figure in results.items():
        if "p90_ms" in figure:
            print(f"{name:28}{figure['median_ms']:>8.1f}ms{figure['p90_ms']:>8.1f}ms{figure['max_ms']:>8.1f}ms")
        else:
            print(f"{name:28}{figure['median_ms']:>8.1f}ms   (one sample: store load, first render)")
    worst = max(results["refresh, run starts"]["median_ms"], results["refresh, run finishes"]["median_ms"])
    verdict = "within" if worst <= TARGET_MS else "OVER"
    print(f"refresh when a run lands: median {worst:.1f} ms, {verdict} the {TARGET_MS:.0f} ms target")

    if not args.no_save:
        output = Path(args.output) if args.output else RESULTS_DIR / f"panel-{time.strftime('%Y%m%d-%H%M%S')}.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "runs": args.runs,
            "repeat": args.repeat,
            "python": sys.version,
            "cpus": os.cpu_count(),
            "results": results,
        }
        output.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"raw figures: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
