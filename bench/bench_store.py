"""Store benchmark: what the run store costs at 10,000 runs, each figure printed beside its target.

    python bench/bench_store.py               # 100 and 10,000 runs (~2 min on 2 quiet cores)
    python bench/bench_store.py --record-n 50 --cold-n 3   # quicker, noisier
    python bench/bench_store.py --only-size                # just the size and durability section

Workloads (medians; the machine is shared, so quote the load average printed at the top and the end):
  - record one small run through ``nbtrack.track`` into a store of 100 and of 10,000 runs (sizes alternated)
  - ``runs()`` over 10,000 runs: warm (repeated call in this process) and cold (first call, fresh process)
  - ``runs()`` filtered by a string ``where=``, by a TinyDB ``Query`` and not at all (warm)
  - ``get_run`` by the shortest unique prefix of an id (warm)

Stores are populated like bench_foundation.py does: clones of a real small run, each written as its
``running`` record and then its final one. Nothing is asserted.

Size and durability (issue 17, items 1 and 4): two more stores of 10,000 runs each, built through the
store API exactly as a run's lifecycle writes (``Store.open_run``, ``put_run`` of the ``running`` record,
``put_blob`` of the run's own compact series blob from ``store/series.py``, ``put_run`` of the final
record, compaction whenever the journal decides), but without the fsync of each final record, so that
building takes seconds; the fsyncs are counted on real ``nbtrack.track`` runs afterwards. "Summary" runs
are the small run above (3 params, 2 metrics logged once, 1 tag); "full" runs have 20 params, 10 metrics
x 100 steps and 5 tags, with float32-valued curves (what ``loss.item()`` of a float32 tensor logs;
``--full-values float64`` logs full-precision doubles instead). Printed: the allocated size (``du -sk``)
against 10 MB and 60 MB, fsyncs per ``nbtrack.track`` run (target 1), one full run and one small run
(medians, fsync included) in those stores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("NBTRACK_DIR", "NBTRACK_EXPERIMENT", "JPY_SESSION_NAME"):
    os.environ.pop(_var, None)

import nbtrack  # noqa: E402
from nbtrack import ids  # noqa: E402
from nbtrack.store import files, series  # noqa: E402
from nbtrack.store.local import RUNS, Store  # noqa: E402

EXPERIMENT = "bench"
MS = 1e-3
COLD = """
import json, sys, time
import pandas  # a notebook has it loaded already
import nbtrack
start = time.perf_counter()
frame = nbtrack.runs(experiment=sys.argv[2], store=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(frame)}))
"""


def small_values(i: int) -> tuple[dict[str, Any], dict[str, float]]:
    params = {"lr": round(0.1 / (1 + i % 97), 6), "batch_size": 32 * (1 + i % 4), "optimizer": "adam"}
    metrics = {"loss": 1.0 / (i + 2), "accuracy": 1.0 - 1.0 / (i + 3)}
    return params, metrics


# Compiled without a source file, as a notebook cell is: track() then stores no script text with the run.
_SMALL_RUN = compile(
    """
def small_run(store, i):
    params, metrics = small_values(i)
    with nbtrack.track(experiment=EXPERIMENT, params=params, tags={"stage": "bench"}, store=store) as run:
        for name, value in metrics.items():
            run.log_metric(name, value)
    return run
""",
    "<notebook-style>",
    "exec",
)
_defined: dict[str, Any] = {}
exec(_SMALL_RUN, globals(), _defined)
small_run: Callable[[Store, int], Any] = _defined["small_run"]


def populate(store: Store, size: int) -> None:
    template = {k: v for k, v in small_run(store, 0).doc.items() if k != "series"}
    entries: list[dict[str, Any]] = []
    for i in range(1, size):
        run_id = ids.new_run_id()
        params, metrics = small_values(i)
        start = time.time()
        final = {
            **template,
            "id": run_id,
            "name": None,
            "status": "finished",
            "start_time": start,
            "end_time": start + 0.004,
            "duration": 0.004,
            "params": params,
            "metrics": metrics,
            "tags": {"stage": "populate"},
        }
        running = {k: v for k, v in final.items() if k != "env"}
        running.update(status="running", end_time=None, duration=None, metrics={})
        entries.append({"op": "put", "t": RUNS, "id": run_id, "doc": running})
        entries.append({"op": "put", "t": RUNS, "id": run_id, "doc": final})
        if len(entries) >= 4000:
            store.journal.append(entries)
            entries = []
    if entries:
        store.journal.append(entries)


def full_values(n: int, kind: str) -> dict[str, Any]:
    rng = random.Random(n)
    if kind == "float64":
        return {f"m{k}": [rng.random() / (s + 1) for s in range(100)] for k in range(10)}
    as32 = struct.Struct("f")
    return {f"m{k}": [as32.unpack(as32.pack(rng.random() / (s + 1)))[0] for s in range(100)] for k in range(10)}


def full_run(store: Store, n: int, kind: str = "float32", curves: dict[str, Any] | None = None) -> Any:
    """20 params, 10 metrics x 100 steps, 5 tags, from notebook-style code (no script text stored)."""
    curves = curves or full_values(n, kind)
    params = {f"param_{k}": k * 0.5 + n for k in range(20)}
    tags = {f"tag_{k}": f"value {k}" for k in range(5)}
    with nbtrack.track(experiment=EXPERIMENT, params=params, tags=tags, store=store) as run:
        for step in range(100):
            for name, points in curves.items():
                run.log_metric(name, points[step], step=step)
    return run


class _Owner:  # what Store.open_run holds weakly while the build writes
    pass


def build(store: Store, size: int, full: bool, kind: str) -> None:
    """``size`` runs written as a run's lifecycle writes them (see the module docstring), without fsyncs."""
    sample = full_run(store, 0, kind) if full else small_run(store, 0)
    template = {k: v for k, v in sample.doc.items() if k != "series"}
    owner = _Owner()
    store.open_run("bench-build", owner)
    for i in range(1, size):
        run_id = ids.new_run_id()
        start = time.time()
        if full:
            curves = full_values(i, kind)
            params = {f"param_{k}": k * 0.5 + i for k in range(20)}
            metrics = {name: points[-1] for name, points in curves.items()}
            logged = {
                name: {"step": list(range(100)), "value": points, "time": [start + s * 0.0004 for s in range(100)]}
                for name, points in curves.items()
            }
        else:
            params, metrics = small_values(i)
            logged = {k: {"step": [0], "value": [v], "time": [start]} for k, v in metrics.items()}
        running = {**template, "id": run_id, "status": "running", "start_time": start, "params": params}
        running.update(end_time=None, duration=None, metrics={})
        running.pop("env", None)
        store.put_run(running, durable=False)
        digest = store.put_blob(series.encode(logged))
        final = {**template, "id": run_id, "status": "finished", "start_time": start, "end_time": start + 0.004}
        final.update(duration=0.004, params=params, metrics=metrics, series=digest)
        store.put_run(final, durable=False)
    del owner


def allocated_mb(root: Path) -> float:
    done = subprocess.run(["du", "-sk", str(root)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0]) / 1024


def section_size(work: Path, size: int, n: int, kind: str) -> None:
    label = f"{size:,}"
    rows = []
    for full, target in ((False, 10.0), (True, 60.0)):
        what = "full" if full else "summary"
        store = Store(work / f"size-{what}")
        started = time.perf_counter()
        build(store, size, full, kind)
        built = time.perf_counter() - started
        mb = allocated_mb(store.root)
        count = sum(1 for p in store.root.rglob("*") if p.is_file())
        store.journal.compact()
        compacted = allocated_mb(store.root)
        samples, before = [], files.fsync_count()
        for i in range(n):
            curves = full_values(10_000 + i, kind)  # made before the clock starts
            start = time.perf_counter()
            if full:
                full_run(store, 10_000 + i, kind, curves)
            else:
                small_run(store, 10_000 + i)
            samples.append(time.perf_counter() - start)
        fsyncs = (files.fsync_count() - before) / n
        rows.append((what, target, mb, compacted, count, built, fsyncs, statistics.median(samples)))
    print(f"size and durability ({label} runs each, built in-process through the store API); {load()}")
    for what, target, mb, compacted, count, built, fsyncs, median in rows:
        print(
            f"  {what + ' runs: store size (du -sk)':<52} {mb:9.2f} MB   target <= {target:.0f} MB "
            f"({count:,} files; {compacted:.2f} MB right after a compaction; built in {built:.1f} s)"
        )
        print(f"  {what + ' runs: fsyncs per nbtrack.track run':<52} {fsyncs:12.2f}   target 1")
        line(
            f"one {what} run (nbtrack.track, fsync included), {label} in store",
            median,
            "target <= 5 ms" if what == "full" else "",
        )
    print(f"  (full-run metric values: {kind})")


def timed(fn: Callable[[], Any], n: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def cold(root: Path) -> float:
    done = subprocess.run([sys.executable, "-c", COLD, str(root), EXPERIMENT], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def line(what: str, seconds: float | None, target: str = "") -> None:
    value = "n/a" if seconds is None else f"{seconds / MS:9.2f} ms"
    print(f"  {what:<52} {value:>12}   {target}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="runs in the large store (default 10,000)")
    parser.add_argument("--record-n", type=int, default=200, help="small runs recorded per store size")
    parser.add_argument("--warm-n", type=int, default=9, help="repetitions of each warm query")
    parser.add_argument("--cold-n", type=int, default=5, help="fresh processes for the cold query")
    parser.add_argument("--size-n", type=int, default=50, help="runs timed (and fsyncs counted) per size store")
    parser.add_argument("--full-values", choices=("float32", "float64"), default="float32")
    parser.add_argument("--only-size", action="store_true", help="only the size and durability section")
    args = parser.parse_args(argv)
    print(f"nbtrack from {Path(nbtrack.__file__).parent}; {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-store-") as tmp:
        work = Path(tmp)
        os.chdir(work)
        section_size(work, args.size, args.size_n, args.full_values)
        if args.only_size:
            return
        stores = {}
        for size in (100, args.size):
            stores[size] = Store(work / f"store-{size}")
            populate(stores[size], size)
        big = stores[args.size]
        label = f"{args.size:,}"

        record: dict[int, list[float]] = {100: [], args.size: []}
        for size in record:
            small_run(stores[size], 1)  # warm-up
        for i in range(args.record_n):
            for size in record if i % 2 else reversed(list(record)):
                start = time.perf_counter()
                small_run(stores[size], 1_000 + i)
                record[size].append(time.perf_counter() - start)
        at_big, at_small = statistics.median(record[args.size]), statistics.median(record[100])

        warm = timed(lambda: nbtrack.runs(experiment=EXPERIMENT, store=big), args.warm_n)
        colds = [cold(big.root) for _ in range(args.cold_n)]

        plain = timed(lambda: nbtrack.runs(store=big), args.warm_n)
        filters: list[tuple[str, Any, int, list[float], list[float] | None]] = []
        for text, op in (("params.lr > 0.01", "gt"), ("params.lr < 0.01", "lt")):  # ~9% and ~91% of the runs
            rows = len(nbtrack.runs(where=text, store=big))
            by_text = timed(lambda t=text: nbtrack.runs(where=t, store=big), args.warm_n)
            by_query: list[float] | None = None
            try:
                from tinydb import Query

                query = getattr(Query().params.lr, f"__{op}__")(0.01)
                if len(nbtrack.runs(where=query, store=big)) != rows:
                    raise ValueError("the Query and the string filter gave different rows")
                by_query = timed(lambda q=query: nbtrack.runs(where=q, store=big), args.warm_n)
            except Exception as exc:  # the store before TinyDB queries: report, do not stop
                print(f"  (Query filter not measured: {type(exc).__name__}: {str(exc)[:100]})")
            filters.append((text, op, rows, by_text, by_query))

        every = sorted(big.run_docs())

        def shared(a: str, b: str) -> int:
            return next((k for k, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))

        length, prefix = min(
            (1 + max(shared(every[k - 1], every[k]), shared(every[k], every[k + 1])), every[k])
            for k in range(1, len(every) - 1)
        )
        prefix = prefix[:length]
        by_prefix = timed(lambda: nbtrack.get_run(prefix, store=big), max(args.warm_n, 50))

    print(f"medians; {load()}")
    line(f"record one small run, {label} runs in store", at_big, "target <= 1.7 ms")
    line("record one small run, 100 runs in store", at_small)
    print(f"  {'record: cost at ' + label + ' / cost at 100':<52} {at_big / at_small:11.2f}x   target <= 1.05x")
    line(f"runs(experiment=...) warm, {label} runs", statistics.median(warm), "target <= 100 ms")
    line(f"runs(experiment=...) cold (fresh process), {label} runs", statistics.median(colds), "target <= 350 ms")
    line(f"runs() no filter, {label} runs", statistics.median(plain))
    for text, op, rows, by_text, by_query in filters:
        line(f"runs(where={text!r}), {rows:,} rows", statistics.median(by_text))
        sign = {"gt": ">", "lt": "<"}[op]
        line(
            f"runs(where=Query().params.lr {sign} 0.01)",
            statistics.median(by_query) if by_query else None,
            "target <= the string filter",
        )
    line(f"get_run({length}-character prefix), {label} runs", statistics.median(by_prefix))


if __name__ == "__main__":
    main()
