"""Model capture benchmark: saving a ~50 MB scikit-learn model with its run, next to writing its bytes to a file.

Run it with the interpreter of the environment nbtrack is installed in (skops installed)::

    python bench/bench_models.py               # ~50 MB ExtraTrees, 7 samples each (~1 min)
    python bench/bench_models.py --trees 10 --repeat 3   # a quicker look

Nothing is asserted (machines are shared and noisy); each figure is printed with its target beside it, with
the load average. Workloads, in the same process, alternated sample by sample:
  1. baseline: the model's skops bytes written to a new file (temporary name, fsync, rename, as the store does);
  2. capture: ``run.log_model(model)`` into a store that does not hold it (hash, skops, blob write);
     target: <= 0.5 s beyond the baseline;
  3. rerun: the same model logged again by a new process (the in-process memory cleared: found through the
     store's records), and within the same process; target: no more than hashing it (``content_hash``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier

import nbtrack
from nbtrack.capture import models as models_mod
from nbtrack.store import local as store_mod


def log(message: str) -> None:
    print(f"[bench_models] {message}", file=sys.stderr, flush=True)


def write_file(folder: Path, data: bytes) -> None:
    tmp = folder / f".model.{time.perf_counter_ns()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / "model.skops")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", type=int, default=34, help="ExtraTrees estimators (34: about 50 MB)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import skops.io as sio

    X, y = make_classification(n_samples=30_000, n_features=20, flip_y=0.2, random_state=0)
    log(f"fitting ExtraTrees with {args.trees} trees")
    model = ExtraTreesClassifier(n_estimators=args.trees, random_state=0, n_jobs=1).fit(X, y)
    data = sio.dumps(model)
    log(f"skops size {len(data) / 1e6:.1f} MB")
    root = Path(tempfile.mkdtemp(prefix="nbtrack-bench-models-"))
    try:
        baseline, capture, rerun_new, rerun_same, hashing = [], [], [], [], []
        for i in range(args.repeat):
            start = time.perf_counter()
            write_file(root, data)
            baseline.append(time.perf_counter() - start)

            store = store_mod.get_store(root / f"store{i}")
            models_mod._stored.clear()
            with nbtrack.track(store=store, environment=False) as run:
                start = time.perf_counter()
                record = run.log_model(model, "forest")
                capture.append(time.perf_counter() - start)
            assert record is not None and "blob" in record, record
            models_mod._stored.clear()  # a new kernel: the model is found through the store's records
            with nbtrack.track(store=store, environment=False) as run:
                start = time.perf_counter()
                again = run.log_model(model, "forest")
                rerun_new.append(time.perf_counter() - start)
                start = time.perf_counter()
                run.log_model(model, "forest")
                rerun_same.append(time.perf_counter() - start)
            assert again is not None and again["blob"] == record["blob"], (again, record)
            start = time.perf_counter()
            models_mod.content_hash(model)
            hashing.append(time.perf_counter() - start)
            shutil.rmtree(root / f"store{i}")
        med = statistics.median
        beyond = med(capture) - med(baseline)
        load = os.getloadavg()
        print(f"bench_models: ExtraTrees {args.trees} trees, skops {len(data) / 1e6:.1f} MB, {args.repeat} samples")
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
        print(f"  write its bytes to a file (baseline)   {med(baseline):7.3f} s")
        print(f"  log_model into a new store             {med(capture):7.3f} s")
        print(f"  beyond the baseline                    {beyond:7.3f} s   target <= 0.500 s  {_met(beyond <= 0.5)}")
        print(f"  hash only (content_hash)               {med(hashing):7.3f} s")
        new, same, ref = med(rerun_new), med(rerun_same), med(hashing)
        for label, value in (("new process", new), ("same process", same)):
            ok = value <= ref * 1.25 + 0.01
            print(f"  rerun, unchanged model ({label + ')':<13} {value:7.3f} s   target ~ hash only  {_met(ok)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


if __name__ == "__main__":
    main()
