"""Jobs benchmark (issue 15): what ``run_more``'s local engine costs per run, and 20 one-second runs on 2 workers.

Run it with the interpreter of the environment nbtrack is installed in (see bench/README.md)::

    python bench/bench_jobs.py                 # 20 no-op runs for the overhead, then 20 one-second runs
    python bench/bench_jobs.py --runs 40 --workers 2

1. Scheduling overhead per run: a job of one group (3 recorded runs, ``until=None``, one worker) reruns a script
   that records a run and does nothing else; the job's wall time per run is set against running that same
   script directly with ``subprocess.run`` (the interpreter start, nbtrack's import and the run it records,
   median over as many calls, half before and half after the job). The analysis imports are warmed up first,
   as in the notebook that made the comparison. The difference is what the job adds: the task's temporary
   folders, reading the record and its blobs back, ingest into the user's store, the job's state file, the
   comparison after each round. Target: <= 150 ms.
2. 20 one-second runs (``time.sleep(1)`` then a recorded run), two groups of 10, ``workers=2``: wall time of the
   whole job. Target: <= 12 s on 2 cores.
3. The same 20 runs on a Dask LocalCluster of 2 worker processes (started before the clock), each task needing a
   1 MB input the workers fetch as if they shared no file system: wall time against part 2's (target <= 1.3x),
   and the bytes of that input each worker received (target: once per worker, 1 MB). Skipped without dask.

It prints each figure with its target and the load average, and writes JSON into bench/results/. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbtrack
from nbtrack.jobs.job import Job
from nbtrack.jobs.loop import run_job
from nbtrack.jobs.plan import GroupState

RESULTS_DIR = Path(__file__).resolve().parent / "results"
OVERHEAD_TARGET_MS = 150.0
PARALLEL_TARGET_S = 12.0

SCRIPT = """import sys, time
import nbtrack
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
seed, variant = int(args.get("--seed", 0)), args.get("--variant", "a")
time.sleep({sleep})
with nbtrack.track("noop", experiment="bench-jobs", params={{"variant": variant, "seed": seed}}, environment=False):
    nbtrack.log_metric("x", float(seed))
"""


def make_job(root: Path, sleep: float, groups: int, runs_per_group: int) -> Job:
    """A store with 3 recorded runs per group and a job rerunning ``SCRIPT`` (not exported: no verification)."""
    store = nbtrack.set_store(root / ".nbtrack")
    assert store is not None
    script = root / "noop.py"
    script.write_text(SCRIPT.format(sleep=sleep))
    states = []
    for g in range(groups):
        variant = "ab"[g]
        ids = []
        for seed in range(3):
            with nbtrack.track(
                "noop", experiment="bench-jobs", params={"variant": variant, "seed": seed}, environment=False
            ) as run:
                nbtrack.log_metric("x", float(seed))
            ids.append(run.id)
        states.append(
            GroupState(
                f"g{g}",
                f"variant={variant}",
                ids[-1],
                {"variant": variant},
                "seed",
                0.0,
                str(script),
                str(root),
                {},
                ids,
                args={"variant": variant},
            )
        )
    return Job.new(
        store,
        "run_more",
        options={"until": None, "max_runs": 3 + runs_per_group, "retries": 0},
        compare={"metric": ["x"], "by": ["variant"], "higher_is_better": {"x": True}, "seed_params": ["seed"]},
        groups=states,
    )


def warm_up(job: Job) -> None:
    """Import what the job's comparison uses (pandas, scipy) once: a notebook that made the comparison has."""
    nbtrack.compare([r for g in job.groups for r in g.runs], store=job.store, metric="x", by=["variant"])


def direct(root: Path, n: int) -> list[float]:
    """Seconds of each direct execution of the same script, with a temporary store."""
    times = []
    for i in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "NBTRACK_DIR": tmp}
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, str(root / "noop.py"), "--seed", str(100 + i)],
                env=env,
                cwd=root,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - start)
    return times


def overhead(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-jobs-") as tmp:
        root = Path(tmp)
        job = make_job(root, 0.0, groups=1, runs_per_group=n)
        warm_up(job)
        baseline = direct(root, n // 2)
        start = time.perf_counter()
        run_job(job, "local", 1, False)
        wall = time.perf_counter() - start
        baseline += direct(root, n - n // 2)  # half before, half after: the same load on both sides
        assert len(job.run_ids) == n, job
        per_run = wall / n
        base = statistics.median(baseline)
        return {"runs": n, "job_s_per_run": per_run, "direct_median_s": base, "overhead_ms": 1000 * (per_run - base)}


def parallel(n: int, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-jobs-") as tmp:
        job = make_job(Path(tmp), 1.0, groups=2, runs_per_group=n // 2)
        warm_up(job)
        start = time.perf_counter()
        run_job(job, "local", workers, False)
        wall = time.perf_counter() - start
        assert len(job.run_ids) == n, job
        return {"runs": n, "workers": workers, "wall_s": wall}


DASK_RATIO_TARGET = 1.3
DASK_INPUT_BYTES = 1 << 20  # an input every task needs: shipped to each worker once, not once per task


def dask_part(n: int, workers: int, local_s: float) -> dict[str, Any] | None:
    """Part 3, the Dask engine: the same ``n`` one-second runs on a LocalCluster of ``workers`` processes (one
    thread each, started before the clock: an existing cluster), every task needing a 1 MB input that the
    workers fetch as if they did not share the file system (``ship_inputs=True``). Wall time against the
    local engine's ``local_s`` of part 2, and the bytes of input each worker received. None without dask."""
    try:
        from distributed import Client, LocalCluster

        from nbtrack.jobs.dask import DaskEngine
    except ImportError:
        return None
    cluster = LocalCluster(
        n_workers=workers, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    client = Client(cluster)
    try:
        with tempfile.TemporaryDirectory(prefix="nbtrack-bench-jobs-") as tmp:
            job = make_job(Path(tmp), 1.0, groups=2, runs_per_group=n // 2)
            digest = job.store.put_blob(os.urandom(DASK_INPUT_BYTES))
            for group in job.groups:
                group.inputs = {"data.bin": digest}
            warm_up(job)
            engine = DaskEngine(client, ship_inputs=True)
            start = time.perf_counter()
            run_job(job, engine, workers, False)
            wall = time.perf_counter() - start
            shipped = {w: sum(got.values()) for w, got in engine.shipped().items()}
            engine.close()
            assert len(job.run_ids) == n and not job.count("failed"), job
    finally:
        client.close()
        cluster.close()
    return {
        "runs": n,
        "workers": workers,
        "wall_s": wall,
        "local_wall_s": local_s,
        "ratio": wall / local_s,
        "input_bytes": DASK_INPUT_BYTES,
        "uploaded_bytes": engine.uploaded,
        "shipped_bytes_per_worker": shipped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    load = os.getloadavg()
    over = overhead(args.runs)
    par = parallel(args.runs, args.workers)
    dask = dask_part(args.runs, args.workers, par["wall_s"])
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(
        f"overhead per run (local engine, no-op script): {over['overhead_ms']:.0f} ms beyond the "
        f"{1000 * over['direct_median_s']:.0f} ms of running it directly   target <= {OVERHEAD_TARGET_MS:.0f} ms"
    )
    print(
        f"{par['runs']} one-second runs on {par['workers']} workers: {par['wall_s']:.1f} s   "
        f"target <= {PARALLEL_TARGET_S:.0f} s"
    )
    if dask is not None:
        print(
            f"the same {dask['runs']} runs on a Dask LocalCluster of {dask['workers']} workers: "
            f"{dask['wall_s']:.1f} s, {dask['ratio']:.2f}x the local engine   target <= {DASK_RATIO_TARGET}x"
        )
        per_worker = ", ".join(f"{b / 1e6:.2f} MB" for b in dask["shipped_bytes_per_worker"].values())
        print(
            f"input of {dask['input_bytes'] / 1e6:.2f} MB needed by every task: uploaded "
            f"{dask['uploaded_bytes'] / 1e6:.2f} MB, received per worker {per_worker}   target: once per worker"
        )
    else:
        print("Dask part skipped: pip install 'nbtrack[dask]'")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = {"overhead": over, "parallel": par, "dask": dask, "load": load, "python": platform.python_version()}
    (RESULTS_DIR / f"jobs-{int(time.time())}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
