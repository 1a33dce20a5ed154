"""Scale benchmark (issue 17): nbtrack with 100,000 runs, next to MLflow's SQLite store at 10,000 runs.

Run it with the interpreter of the environment nbtrack is installed in (MLflow from the ``bench`` extra)::

    python bench/bench_scale.py                     # 100,000 runs (~10-15 min on 2 quiet cores)
    python bench/bench_scale.py --runs 20000 --no-mlflow

Every figure is printed with its target beside it; nothing is asserted. The machine is shared and noisy:
medians, and the load average at the start and the end.

How the stores are built: the 100,000-run store (and the 10,000-run one) through the store's own API,
``Store.journal.append`` of run records cloned from one real small run recorded with ``nbtrack.track``
(each with its own id, times, params and metrics, a ``running`` record then the final one, as the
lifecycle leaves them), in batches of 4,000 records, then one ``Store.compact()`` when the store has one
(what a long-lived store looks like). MLflow's 10,000 runs go through ``MlflowClient`` (create_run,
log_batch, set_terminated), as bench_foundation.py does.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_foundation as bf

import nbtrack
from nbtrack.store.local import Store

ms = 1e-3


def _du(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (what ``du`` reports, not the files' lengths)."""
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def _files(path: Path) -> int:
    return sum(len(names) for _root, _dirs, names in os.walk(path))


def build_store(root: Path, size: int) -> tuple[Store, float]:
    """A store of ``size`` small runs of experiment ``bench``, through the store API (see the module docstring)."""
    store = Store(root)
    store.ensure()
    started = time.perf_counter()
    template_run = bf.nbtrack_small_run(store, 0)
    template = store.get_doc(template_run.id)
    bf.populate_nbtrack(store, template, 1, size)
    compact = getattr(store, "compact", None) or getattr(store.journal, "compact", None)
    if callable(compact):
        compact()
    return store, time.perf_counter() - started


WRITER = """
import json, sys, time
import nbtrack
from nbtrack.store.local import Store
store, n = Store(sys.argv[1]), int(sys.argv[2])
samples = []
for i in range(n):
    t = time.perf_counter()
    with nbtrack.track(experiment="bench-writers", params={"i": i, "w": sys.argv[3]}, store=store,
                       environment=False) as run:
        run.log_metric("loss", 1.0 / (i + 1))
    samples.append(time.perf_counter() - t)
print(json.dumps(samples))
"""

COLD_WHERE = """
import json, sys, time
import pandas
import nbtrack
start = time.perf_counter()
frame = nbtrack.runs(experiment="bench", where=sys.argv[2], store=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(frame)}))
"""

COLD_GET = """
import json, sys, time
import nbtrack
start = time.perf_counter()
run = nbtrack.get_run(sys.argv[2], store=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "rows": 1}))
"""

KERNEL_MEMORY = """
import json as _j, nbtrack as _n
def _rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
_before = _rss()
_frame = _n.runs()
_after = _rss()
_nbb_mem = _j.dumps([_before, _after, len(_frame)])
"""


def concurrent_writes(root: Path, writers: int, each: int) -> tuple[list[float], list[float]]:
    """Run ``writers`` processes recording ``each`` runs at once into one store; every run's time after
    each process's first, and the first ones (those import the run lifecycle: a cost of its own)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), str(each), str(w)], stdout=subprocess.PIPE, text=True
        )
        for w in range(writers)
    ]
    samples: list[float] = []
    firsts: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"a writer process failed ({proc.returncode})")
        first, *rest = json.loads(out.strip().splitlines()[-1])
        firsts.append(first)
        samples.extend(rest)
    return samples, firsts


def writes_during_compaction(store: Store, least: int = 200) -> tuple[list[float], float]:
    """Every write's time while a background compaction of ``store`` runs (as the write crossing the
    threshold starts it), at least ``least`` writes; and how long the compaction took (what one write
    paid when compaction ran in it)."""
    from nbtrack import ids
    from nbtrack.store import compaction

    store.run_docs()
    samples: list[float] = []
    started = time.perf_counter()
    compaction.compact_soon(store.journal)
    took = None
    while took is None or len(samples) < least:
        doc = {"id": ids.new_run_id(), "experiment": "bench-compaction", "params": {"i": len(samples)}}
        t = time.perf_counter()
        store.put_run({**doc, "status": "running"}, durable=False)
        store.put_run({**doc, "status": "finished"})
        samples.append(time.perf_counter() - t)
        if took is None and not any(th.name == "nbtrack-compaction" for th in threading.enumerate()):
            took = time.perf_counter() - started
    return samples, took


FIRST_AND_SECOND = """
import json, sys, time
import nbtrack
from nbtrack.store.local import Store
store = Store(sys.argv[1])
took = []
for i in range(2):
    t = time.perf_counter()
    with nbtrack.track(experiment="warm", params={"i": i}, store=store) as run:
        run.log_metric("loss", 1.0 / (i + 1))
    took.append(time.perf_counter() - t)
print(json.dumps(took))
"""


def warm_start(store_root: Path, processes: int) -> list[float]:
    """What the first ``track()`` of each of ``processes`` fresh processes costs beyond its second one: the
    environment scan and the imports a first run does (issue 17's warm-start target)."""
    extra = []
    for _ in range(processes + 1):
        out = subprocess.run(
            [sys.executable, "-c", FIRST_AND_SECOND, str(store_root)], capture_output=True, text=True, check=True
        )
        first, second = json.loads(out.stdout.strip().splitlines()[-1])
        extra.append(first - second)
    return extra[1:]  # the first process made the store


def first_cells(store_root: Path, cwd: Path, kernels: int) -> list[float]:
    """The first ``%%track`` cell after ``%load_ext`` in each of ``kernels`` fresh kernels."""
    samples = []
    for _ in range(kernels):
        kernel = bf.Kernel(store_root, cwd, cwd / "kernels.log")
        try:
            kernel.value(bf.KERNEL_SETUP, "_nbb_json.dumps(0)")
            kernel.execute("%load_ext nbtrack")
            samples.append(kernel.value(f"_nbb_t = _nbb_once({bf.TRACKED_CELL!r})", "_nbb_json.dumps(_nbb_t)"))
        finally:
            kernel.close()
    return samples


def kernel_memory(store_root: Path, cwd: Path) -> tuple[int, int, int]:
    kernel = bf.Kernel(store_root, cwd, cwd / "kernels.log")
    try:
        kernel.execute("import nbtrack")
        before, after, rows = kernel.value(KERNEL_MEMORY, "_nbb_mem")
    finally:
        kernel.close()
    return before, after, rows


def limit(seconds: float) -> Any:
    return lambda nbt, _mlf: nbt <= seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000, help="size of the large store (default 100,000)")
    parser.add_argument("--compare-runs", type=int, default=10_000, help="size of the store compared with MLflow")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (no ratios)")
    parser.add_argument("--no-kernel", action="store_true", help="skip the kernel measurements")
    parser.add_argument("--repeat", type=int, default=30, help="samples per in-process timing")
    parser.add_argument("--cold", type=int, default=5, help="fresh processes per cold timing")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)

    os.environ.pop("NBTRACK_DIR", None)
    # Installing the wheel compiles nbtrack's bytecode; a source checkout on a machine that sets
    # PYTHONDONTWRITEBYTECODE would otherwise compile every module again in each fresh process measured.
    compileall.compile_dir(str(Path(nbtrack.__file__).parent), quiet=1)
    res = bf.Results()
    work = Path(tempfile.mkdtemp(prefix="nbtrack-scale-"))
    (work / "cwd").mkdir()
    # A package-list cache of this run only: the first kernel then scans the packages, as the first kernel after
    # an install does, and every later process finds the list cached (capture/package_cache.py).
    os.environ["NBTRACK_CACHE_DIR"] = str(work / "cache")
    load_start = bf.load_average()
    started = time.time()
    bf.log(f"nbtrack {nbtrack.__version__} ({bf.source_commit()}), {os.cpu_count()} CPUs, load {load_start}")
    n = args.runs
    label = f"{n:,} runs"
    try:
        with bf.working_directory(work / "cwd"):
            big, seconds = build_store(work / "big" / ".nbtrack", n)
            bf.log(f"built a {label} store in {seconds:.1f} s")
            res.info["build_seconds"] = round(seconds, 1)

            # size on disk, before anything else writes to it
            size = _du(big.root)
            res.add(
                bf.Row(f"{label}: store size on disk (MB)", size / 1e6, unit="MB", target="(10k summary runs <= 10 MB)")
            )
            res.add(bf.Row(f"{label}: files in the store", float(_files(big.root)), unit="count"))

            # queries
            cold = [bf.run_cold(bf.COLD_NBTRACK, str(big.root), "bench")[0] for _ in range(args.cold)]
            res.add(
                bf.Row(
                    f"{label}: runs() cold",
                    bf.median(res.keep("big.cold", cold)),
                    target="<= 1 s",
                    note=f"the first fresh process after the compaction {cold[0]:.2f} s: it builds and saves the table",
                ),
                limit(1),
            )
            fresh = Store(big.root)
            warm = bf.time_calls(lambda: nbtrack.runs(experiment="bench", store=fresh), max(3, args.repeat // 5))
            res.add(
                bf.Row(f"{label}: runs() warm", bf.median(res.keep("big.warm", warm)), target="<= 0.5 s"), limit(0.5)
            )
            where = "params.lr == 0.1"  # 1 run in 97
            rows = len(nbtrack.runs(experiment="bench", where=where, store=fresh))
            res.info["where_rows"] = rows
            cold_where = [bf.run_cold(COLD_WHERE, str(big.root), where)[0] for _ in range(args.cold)]
            res.add(
                bf.Row(
                    f"{label}: runs(where=...) {rows / n:.1%} cold",
                    bf.median(res.keep("big.where.cold", cold_where)),
                    target="<= 100 ms",
                ),
                limit(0.1),
            )
            warm_where = bf.time_calls(lambda: nbtrack.runs(experiment="bench", where=where, store=fresh), 10)
            res.add(
                bf.Row(
                    f"{label}: runs(where=...) {rows / n:.1%} warm",
                    bf.median(res.keep("big.where.warm", warm_where)),
                    target="<= 100 ms",
                ),
                limit(0.1),
            )
            ids = sorted(fresh.run_docs())
            some_id = ids[n // 2]
            prefix = next(  # the shortest prefix of that id no other id shares, as a user would type it
                some_id[:k] for k in range(6, len(some_id) + 1) if sum(i.startswith(some_id[:k]) for i in ids) == 1
            )
            res.info["prefix_length"] = len(prefix)
            cold_get = [bf.run_cold(COLD_GET, str(big.root), prefix)[0] for _ in range(args.cold)]
            res.add(bf.Row(f"{label}: get_run(prefix) cold", bf.median(res.keep("big.get.cold", cold_get))))
            warm_get = bf.time_calls(lambda: nbtrack.get_run(prefix, store=fresh), args.repeat)
            res.add(bf.Row(f"{label}: get_run(prefix) warm", bf.median(res.keep("big.get.warm", warm_get))))

            # writes
            values = bf.full_run_values()
            full = bf.time_calls(lambda: bf.nbtrack_full_run_nofile(big, values), args.repeat)
            res.add(
                bf.Row(f"{label}: one full run", bf.median(res.keep("big.full", full)), target="<= 5 ms"), limit(5 * ms)
            )
            counter = iter(range(n, 10 * n))
            insert = bf.time_calls(lambda: bf.nbtrack_small_run(big, next(counter)), args.repeat)
            res.add(
                bf.Row(f"{label}: insert (small run)", bf.median(res.keep("big.insert", insert)), target="<= 5 ms"),
                limit(5 * ms),
            )
            writes, firsts = concurrent_writes(big.root, 4, 100)
            res.keep("big.concurrent", writes)
            res.keep("big.concurrent.first", firsts)
            res.add(bf.Row(f"{label}: 4 writers: median write", bf.median(writes), n=str(len(writes))))
            res.add(
                bf.Row(
                    f"{label}: 4 writers: worst single write",
                    max(writes),
                    n=str(len(writes)),
                    target="<= 50 ms",
                    note=f"after each process's first run; first runs (imports) {max(firsts) * 1e3:.0f} ms at worst",
                ),
                limit(0.05),
            )

            during, took = writes_during_compaction(big)
            res.keep("big.during_compaction", during)
            res.add(
                bf.Row(
                    f"{label}: worst write while the store compacts",
                    max(during),
                    n=str(len(during)),
                    target="<= 50 ms",
                    note=f"the background compaction took {took:.2f} s, what one write paid when it ran in the write",
                ),
                limit(0.05),
            )

            if not args.no_kernel:
                bf.kernel_cells(res, label, "big.kernel", big.root, work / "cwd", 40, 0, ("10 ms", 0.010))
                first = res.samples["big.kernel.first_tracked_cell"][0]
                res.add(
                    bf.Row(
                        f"{label}: first %%track, first kernel after an install",
                        first,
                        n="1",
                        target="<= 300 ms",
                        note="it scans the installed packages into the cache every later process reads",
                    ),
                    limit(0.3),
                )
                firsts = res.keep("big.kernel.first_cells", first_cells(big.root, work / "cwd", 3))
                res.add(
                    bf.Row(
                        f"{label}: first %%track in a fresh kernel",
                        bf.median(firsts),
                        n=str(len(firsts)),
                        target="<= 300 ms",
                    ),
                    limit(0.3),
                )
                extra = res.keep("warm_start.extra", warm_start(work / "warm" / ".nbtrack", 5))
                res.add(
                    bf.Row(
                        "first run in a fresh process, beyond the second's cost",
                        bf.median(extra),
                        n=str(len(extra)),
                        target="<= 30 ms",
                        note="track() in `python -c`, a store of a few runs: the package list read from its cache",
                    ),
                    limit(0.03),
                )
                before, after, listed = kernel_memory(big.root, work / "cwd")
                res.add(
                    bf.Row(
                        f"{label}: kernel resident memory after runs() (MB)",
                        after / 1e6,
                        unit="MB",
                        target="<= 300 MB",
                        note=f"{before / 1e6:.0f} MB before opening the store; {listed:,} rows",
                    ),
                    lambda nbt, _m: nbt <= 300,
                )
                load_ext = bf.load_ext_times(5, work)
                res.add(
                    bf.Row("%load_ext nbtrack, fresh kernel", bf.median(load_ext), n="5", target="<= 100 ms"),
                    limit(0.1),
                )

            # 10,000 runs next to MLflow
            m = args.compare_runs
            small, seconds = build_store(work / "small" / ".nbtrack", m)
            res.add(
                bf.Row(f"{m:,} runs: store size on disk (MB)", _du(small.root) / 1e6, unit="MB", target="<= 10 MB"),
                lambda nbt, _m: nbt <= 10,
            )
            ml = None
            if not args.no_mlflow:
                ml = bf.MlflowBench(work / "mlflow.db")
                bf.log(f"MLflow {ml.version}: recording {m:,} runs")
                ml.populate(m)
            cold_nbt = [bf.run_cold(bf.COLD_NBTRACK, str(small.root), "bench")[0] for _ in range(args.cold)]
            cold_mlf = [bf.run_cold(bf.COLD_MLFLOW, ml.uri, "bench")[0] for _ in range(args.cold)] if ml else None
            res.add(
                bf.Row(
                    f"{m:,} runs: runs() cold vs search_runs cold",
                    bf.median(cold_nbt),
                    bf.median(cold_mlf) if cold_mlf else None,
                    target="<= 150 ms and >= 10x",
                    note=f"the first fresh process after the compaction {cold_nbt[0] * 1e3:.0f} ms (saves the table)",
                ),
                lambda nbt, mlf: nbt <= 0.15 and (mlf is None or mlf / nbt >= 10),
            )
            full_nbt = bf.time_calls(lambda: bf.nbtrack_full_run_nofile(small, values), args.repeat)
            full_mlf = bf.time_calls(lambda: ml.full_run(values), max(5, args.repeat // 3)) if ml else None
            res.add(
                bf.Row(
                    "one full run (20 params, 10 metrics x 100 steps, 5 tags)",
                    bf.median(full_nbt),
                    bf.median(full_mlf) if full_mlf else None,
                    target="<= 5 ms and >= 50x",
                ),
                lambda nbt, mlf: nbt <= 5 * ms and (mlf is None or mlf / nbt >= 50),
            )
    finally:
        if args.keep:
            bf.log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"nbtrack scale benchmark: {platform.python_version()}, {os.cpu_count()} CPUs, load average {load_start} "
        f"at start, {bf.load_average()} at end, {(time.time() - started) / 60:.1f} min; medians; rows marked (MB) "
        "are sizes, not times"
    )
    print(bf.render_table(res.rows))
    for row in res.rows:
        if row.note:
            print(f"  {row.workload}: {row.note}")
    out = bf.RESULTS_DIR / f"scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"rows": [vars(r) for r in res.rows], "info": res.info, "samples": res.samples}, indent=1)
    )
    print(f"\nResults written to bench/results/{out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
