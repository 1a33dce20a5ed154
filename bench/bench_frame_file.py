"""Frame file codec (nbtrack.query.frame_file): encode/decode of a build_frame frame of 100,000 runs.

    python bench/bench_frame_file.py [--runs 100000] [--repeat 7]

Targets: decode <= 60 ms, encode (with its verification) <= 400 ms, next to build_frame itself. Medians,
with the load average at the start and the end (the machine is shared). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from nbtrack import ids
from nbtrack.query import frame_file
from nbtrack.query.table import build_frame


def docs(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Run records like a real store's: 15 columns (text, times, floats, ints, a mixed-type param)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        start = 1.7e9 + i * 3.7 + rng.random()
        done = rng.random() < 0.95
        params: dict[str, Any] = {"lr": round(0.1 / (1 + i % 97), 6), "batch_size": 32 * (1 + i % 4)}
        params["optimizer"] = rng.choice(["adam", "sgd", "rmsprop"])
        params["seed"] = rng.choice([i, None, "auto", 1.5, True])  # an object column
        if i % 3:
            params["note"] = rng.choice(["", "baseline", "ünïcode ✓"])
        metrics = {"loss": 1.0 / (i + 2), "accuracy": 1.0 - 1.0 / (i + 3)} if done else {}
        out.append(
            {
                "id": ids.new_run_id(),
                "experiment": rng.choice(["bench", "tuning", None]),
                "name": rng.choice([None, f"run {i}"]),
                "status": "finished" if done else "failed",
                "start_time": start,
                "end_time": start + 4.2 if done else None,
                "duration": 4.2 if done else None,
                "params": params,
                "metrics": metrics,
                "tags": {"stage": "populate"},
            }
        )
    return out


FRESH = """
import sys, time
import pandas
from nbtrack.query import frame_file
started = time.perf_counter()
with open(sys.argv[1], "rb") as file:
    frame = frame_file.decode(file.read())
assert frame is not None
print((time.perf_counter() - started) * 1e3)
"""


def median_ms(call: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"load at start: {os.getloadavg()}")
    records = docs(args.runs)
    frame = build_frame(records)
    print(f"frame: {frame.shape[0]} rows x {frame.shape[1]} columns; dtypes: {sorted(set(map(str, frame.dtypes)))}")
    data = frame_file.encode(frame)
    assert data is not None, "the frame could not be encoded"
    print(f"file: {len(data) / 1e6:.1f} MB")
    print(f"build_frame: {median_ms(lambda: build_frame(records), max(1, args.repeat // 2)):.0f} ms")
    print(f"encode (with verification): {median_ms(lambda: frame_file.encode(frame), args.repeat):.0f} ms (<= 400)")
    print(f"decode: {median_ms(lambda: frame_file.decode(data), args.repeat):.1f} ms (<= 60)")
    with tempfile.TemporaryDirectory() as folder:  # what the cache saves: a fresh process reads and decodes
        path = os.path.join(folder, "frame")
        with open(path, "wb") as file:
            file.write(data)
        fresh = [float(subprocess.check_output([sys.executable, "-c", FRESH, path])) for _ in range(args.repeat)]
    print(f"fresh process, read + decode (pandas already imported): {statistics.median(fresh):.1f} ms")
    print(f"load at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
