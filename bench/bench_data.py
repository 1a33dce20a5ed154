"""Data fingerprint benchmark: nbtrack's content hashes and profiles next to a memory copy, pandas and MLflow.

Run it with the interpreter of the environment nbtrack is installed in (see bench/README.md)::

    python bench/bench_data.py                 # 10 million rows x 8 columns and a 1 GB file
    python bench/bench_data.py --rows 2000000 --file-gb 0.25 --no-mlflow   # a quicker look

It prints a table of medians and writes every figure and sample as JSON into bench/results/. Nothing is
asserted: machines are shared and noisy, and the targets are only reported as met or not.

Workloads, all measured in the same run and process:
  1. The numeric columns of a DataFrame (10M rows x 6 float64 + 1 int64): nbtrack.fingerprint vs a plain
     numpy copy of the same bytes (np.copyto into preallocated arrays), in GB/s.
  2. The whole 10M x 8 DataFrame (those plus one string column, as pandas stores it by default, and again
     as an object column): nbtrack.fingerprint vs pd.util.hash_pandas_object(df) vs MLflow's dataset
     digest (mlflow.data.digest_utils.compute_pandas_digest, which mlflow.data.from_pandas calls; it hashes
     only the first 10,000 rows, skips non-string/non-numeric columns, but calls type() on every cell).
  3. The profile of that DataFrame (nbtrack.fingerprint(df, profile=True) minus the hash) and its JSON size.
  4. A 1 GB file of random bytes written to a temporary directory (deleted afterwards): first hash (from
     the page cache: it was just written), a numpy copy of 1 GB for comparison, and re-fingerprinting the
     unchanged file (in-process cache hit, and on-disk cache hit after forgetting the in-process one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np
import pandas as pd

import nbtrack
from nbtrack.data import file_cache, profiling
from nbtrack.data import fingerprint as fpmod

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GB = 1e9


def log(message: str) -> None:
    print(f"[bench_data] {message}", file=sys.stderr, flush=True)


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """(median seconds, samples, last result)."""
    samples = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples, result


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {f"x{i}": rng.standard_normal(rows) for i in range(6)}
    columns["count"] = rng.integers(0, 1_000, rows)
    ids = rng.integers(0, 100_000, rows)
    columns["customer"] = pd.Series(np.char.add("cust-", ids.astype(str)))  # 100,000 distinct strings
    return pd.DataFrame(columns)


def write_file(path: Path, size: int) -> None:
    rng = np.random.default_rng(1)
    chunk = 64 * 1024 * 1024
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(rng.bytes(n))
            left -= n


class Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.samples: dict[str, list[float]] = {}

    def add(
        self,
        workload: str,
        what: str,
        value: float,
        unit: str,
        target: str = "",
        met: bool | None = None,
        samples: list[float] | None = None,
    ) -> None:
        self.rows.append(
            {"workload": workload, "what": what, "value": value, "unit": unit, "target": target, "met": met}
        )
        if samples is not None:
            self.samples[f"{workload}: {what}"] = samples
        flag = "" if met is None else ("  [met]" if met else "  [NOT met]")
        log(f"{workload}: {what} = {value:.4g} {unit}{flag}")


def render(rows: list[dict[str, Any]]) -> str:
    head = ["workload", "what", "value", "unit", "target", "met"]
    body = [
        [
            r["workload"],
            r["what"],
            f"{r['value']:.4g}",
            r["unit"],
            r["target"],
            "" if r["met"] is None else ("yes" if r["met"] else "NO"),
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


def mlflow_digest() -> tuple[Callable[[pd.DataFrame], str] | None, str | None]:
    try:
        import mlflow
        from mlflow.data.digest_utils import compute_pandas_digest
    except Exception as exc:  # not installed, or a broken install: skip the column
        log(f"MLflow not measured ({type(exc).__name__}: {exc})")
        return None, None
    return compute_pandas_digest, mlflow.__version__


def bench_frame(res: Rows, args: argparse.Namespace) -> dict[str, Any]:
    log(f"building a {args.rows:,} x 8 DataFrame")
    df = make_frame(args.rows)
    numeric_names = [c for c in df.columns if c != "customer"]
    numeric = df[numeric_names]
    numeric_bytes = int(sum(df[c].to_numpy().nbytes for c in numeric_names))
    info = {"rows": args.rows, "dtypes": {c: str(t) for c, t in df.dtypes.items()}, "numeric_bytes": numeric_bytes}
    log(f"dtypes: {info['dtypes']}")

    # 1. numeric columns vs a memory copy of the same bytes
    sources = [np.asarray(df[c]) for c in numeric_names]
    targets = [np.empty_like(a) for a in sources]
    for a, b in zip(sources, targets, strict=True):  # touch the pages once
        np.copyto(b, a)

    def copy_all() -> None:
        for a, b in zip(sources, targets, strict=True):
            np.copyto(b, a)

    copy_s, copy_samples, _ = timed(copy_all, args.repeat)
    hash_s, hash_samples, _ = timed(lambda: nbtrack.fingerprint(numeric).hash, args.repeat)
    copy_gbs, hash_gbs = numeric_bytes / copy_s / GB, numeric_bytes / hash_s / GB
    res.add("numeric columns", "numpy memory copy", copy_gbs, "GB/s", samples=copy_samples)
    res.add(
        "numeric columns",
        "nbtrack fingerprint",
        hash_gbs,
        "GB/s",
        ">= 50% of copy",
        hash_gbs >= 0.5 * copy_gbs,
        hash_samples,
    )
    res.add("numeric columns", "fingerprint / copy", hash_gbs / copy_gbs, "ratio")
    targets.clear()

    # 2. the whole mixed DataFrame
    whole_s, whole_samples, fp = timed(lambda: nbtrack.fingerprint(df), args.repeat)
    res.add(
        "10M x 8 mixed",
        f"nbtrack fingerprint (string column {df['customer'].dtype})",
        whole_s,
        "s",
        samples=whole_samples,
    )
    hpo_s, hpo_samples, _ = timed(lambda: pd.util.hash_pandas_object(df), args.repeat)
    res.add("10M x 8 mixed", "pd.util.hash_pandas_object", hpo_s, "s", samples=hpo_samples)
    res.add("10M x 8 mixed", "hash_pandas_object / nbtrack", hpo_s / whole_s, "x faster", ">= 5x", hpo_s / whole_s >= 5)
    # 3. the profile (before the object copy and MLflow, which churn memory)
    record = fpmod.fingerprint_data(df)

    def profile() -> dict[str, Any]:
        return profiling.profile(df, record)

    prof_s, prof_samples, prof = timed(profile, args.repeat)
    res.add("10M x 8 mixed", "profile", prof_s, "s", "<= 2 s", prof_s <= 2.0, prof_samples)
    sizes = [len(json.dumps(fpmod._plain(c))) for c in prof["columns"]]
    res.add("10M x 8 mixed", "stored profile, largest column", max(sizes), "bytes", "<= 2048", max(sizes) <= 2048)
    res.add("10M x 8 mixed", "stored profile, mean per column", statistics.mean(sizes), "bytes")
    fpmod._profile_cache.clear()
    full_s, full_samples, _ = timed(lambda: nbtrack.fingerprint(df, profile=True), 1)
    res.add("10M x 8 mixed", "fingerprint(profile=True), first call", full_s, "s", samples=full_samples)
    again_s, again_samples, _ = timed(lambda: nbtrack.fingerprint(df, profile=True), args.repeat)
    res.add("10M x 8 mixed", "fingerprint(profile=True), same content again", again_s, "s", samples=again_samples)
    info["profile_column_bytes"] = sizes

    # 2b. the string column as objects, and MLflow's digest last (the slowest)
    as_object = df.astype({"customer": object})
    obj_s, obj_samples, fp_obj = timed(lambda: nbtrack.fingerprint(as_object), args.repeat)
    hpo_obj_s, hpo_obj_samples, _ = timed(lambda: pd.util.hash_pandas_object(as_object), args.repeat)
    res.add("10M x 8 mixed", "nbtrack fingerprint (string column object)", obj_s, "s", samples=obj_samples)
    res.add("10M x 8 mixed", "pd.util.hash_pandas_object (object)", hpo_obj_s, "s", samples=hpo_obj_samples)
    res.add("10M x 8 mixed", "hash_pandas_object / nbtrack (object)", hpo_obj_s / obj_s, "x faster")
    info["same_hash_object_and_default_strings"] = fp.hash == fp_obj.hash
    as_object = None  # free the copy
    digest, version = (None, None) if args.no_mlflow else mlflow_digest()
    info["mlflow"] = version
    if digest is not None:
        log("MLflow digest: calls type() on every cell; this takes a while")
        ml_s, ml_samples, _ = timed(lambda: digest(df), 1)
        res.add("10M x 8 mixed", f"MLflow {version} dataset digest (first 10,000 rows)", ml_s, "s", samples=ml_samples)
        res.add("10M x 8 mixed", "MLflow digest / nbtrack", ml_s / whole_s, "x slower")

    return info


def bench_file(res: Rows, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    size = int(args.file_gb * GB)
    path = work / "data.bin"
    log(f"writing {size / GB:.2f} GB of random bytes to a temporary file")
    write_file(path, size)
    # A file modified in the last RACY_SECONDS is hashed but not cached (its next write could keep the same
    # mtime); wait that long so the first hash is cached, as it would be for any file not just written.
    wait = file_cache.RACY_SECONDS + 0.1 - (time.time() - path.stat().st_mtime)
    if wait > 0:
        time.sleep(wait)
    file_cache.clear_file_cache()
    start = time.perf_counter()
    first = nbtrack.fingerprint(path).hash
    first_s = time.perf_counter() - start
    res.add("1 GB file", "first fingerprint (from the page cache)", size / first_s / GB, "GB/s", samples=[first_s])
    buffer = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    target = np.empty_like(buffer)
    np.copyto(target, buffer)
    copy_s, copy_samples, _ = timed(lambda: np.copyto(target, buffer), args.repeat)
    res.add("1 GB file", "numpy memory copy of the same bytes", size / copy_s / GB, "GB/s", samples=copy_samples)
    buffer = target = None  # free 2 GB
    hit_s, hit_samples, again = timed(lambda: nbtrack.fingerprint(path).hash, 21)
    res.add(
        "1 GB file",
        "unchanged file again (in-process cache)",
        hit_s * 1000,
        "ms",
        "<= 5 ms",
        hit_s <= 0.005,
        hit_samples,
    )

    def disk_hit() -> str:
        file_cache.clear_file_cache()
        return nbtrack.fingerprint(path).hash

    disk_s, disk_samples, again_disk = timed(disk_hit, 21)
    res.add(
        "1 GB file",
        "unchanged file again (on-disk cache, new process)",
        disk_s * 1000,
        "ms",
        "<= 5 ms",
        disk_s <= 0.005,
        disk_samples,
    )
    return {"file_bytes": size, "same_hash": first == again == again_disk}


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on every platform
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="DataFrame rows (default 10,000,000)")
    parser.add_argument("--file-gb", type=float, default=1.0, help="size of the generated file in GB (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="samples per timing (median quoted; default 5)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow's digest")
    parser.add_argument("--no-file", action="store_true", help="skip the file workload")
    parser.add_argument("--output", help="JSON output path (default bench/results/data-TIMESTAMP.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    res = Rows()
    work = Path(tempfile.mkdtemp(prefix="nbtrack-bench-data-"))
    os.environ["NBTRACK_CACHE_DIR"] = str(work / "cache")  # the file-hash cache of this run only
    log(
        f"nbtrack {nbtrack.__version__}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; scratch dir {work}"
    )
    info: dict[str, Any] = {"load_average_start": _load()}
    log(
        f"load average {info['load_average_start']} (on {os.cpu_count()} CPUs; other work on the machine slows "
        "every figure alike, ratios less)"
    )
    try:
        info["frame"] = bench_frame(res, args)
        if not args.no_file:
            info["file"] = bench_file(res, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - started
    info["load_average_end"] = _load()
    table = render(res.rows)
    print()
    print(
        f"nbtrack data fingerprint benchmark: medians of {args.repeat} (cache hits: of 21); "
        f"total {elapsed / 60:.1f} min; load average {info['load_average_start']} -> {info['load_average_end']} "
        f"on {os.cpu_count()} CPUs"
    )
    print(table)
    payload = {
        "meta": {
            "benchmark": "bench_data",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "elapsed_seconds": round(elapsed, 1),
            "nbtrack": nbtrack.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "args": {k: v for k, v in vars(args).items() if k != "output"},
        },
        "info": info,
        "rows": res.rows,
        "samples_seconds": res.samples,
        "table": table,
    }
    output = Path(args.output) if args.output else RESULTS_DIR / f"data-{time.strftime('%Y%m%d-%H%M%S')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=1) + "\n")
    shown = output.relative_to(Path.cwd()) if output.is_relative_to(Path.cwd()) else output
    print(f"\nResults written to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
