"""What recording output files costs a tracked cell (target: <= 5 ms in an ordinary project folder).

A standalone script (not a test): it builds a project folder in a temporary directory (notebooks, a
``src/`` package, ``data/`` and ``results/`` folders: ~400 files the walk looks at; plus a ``.git``,
a ``.venv`` and a ``node_modules`` of ~9,000 files it must skip without entering), then prints medians:

1. the walk alone (``outputs.scan``) over that folder;
2. a ``%%track`` cell that writes nothing, with output files on and off (IPython's in-process shell,
   alternated; the overhead is the median of the paired differences);
3. the same cell writing one small file (kept in the store).

Nothing is asserted; machines are shared, so the load average is printed beside the figures.

    python bench/bench_outputs.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 5.0


def build_project(root: Path) -> int:
    """An ordinary data-science project folder; returns how many entries the walk looks at."""
    seen = 0
    for i in range(20):
        (root / f"notebook_{i}.ipynb").write_text("{}")
        seen += 1
    for package in range(5):
        folder = root / "src" / f"pkg{package}"
        folder.mkdir(parents=True)
        for i in range(40):
            (folder / f"mod{i}.py").write_text("x = 1\n")
        (folder / "__pycache__").mkdir()
        for i in range(40):
            (folder / "__pycache__" / f"mod{i}.pyc").write_bytes(b"\0")
        seen += 41
    for name, count in (("data/raw", 60), ("data/clean", 40), ("results", 100)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"part-{i}.csv").write_text("a,b\n1,2\n")
        seen += count + 1
    for name, count in ((".git/objects", 3000), (".venv/lib/site-packages", 4000), ("node_modules/x", 2000)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"f{i}").write_bytes(b"\0")
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    old = time.time() - 3600
    for folder, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), (old, old))
    return seen + 3  # .git, .venv, node_modules themselves


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        entries = build_project(root)
        home = os.getcwd()
        os.chdir(root)
        os.environ["NBTRACK_DIR"] = str(Path(tmp) / "store")  # outside: the store's own writes cost nothing here

        from IPython.testing.globalipapp import start_ipython

        from nbtrack.capture.outputs import fs_now, scan

        walk = []
        for _ in range(args.repeat):
            since = fs_now()
            t0 = time.perf_counter()
            found = scan(root, since)
            walk.append(time.perf_counter() - t0)
        assert not found.files and not found.truncated

        ip = start_ipython()
        ip.run_line_magic("load_ext", "nbtrack")
        empty, writing = "%%track -q\npass", "%%track -q\n_ = open('results/metrics.json', 'w').write('{}')"
        diffs: dict[str, list[float]] = {"empty": [], "writing": []}
        for _ in range(3):  # warm up
            ip.run_cell(empty)
        for _ in range(args.repeat):
            for kind, cell in (("empty", empty), ("writing", writing)):
                times = {}
                for setting in ("on", "off") if len(diffs[kind]) % 2 else ("off", "on"):
                    os.environ["NBTRACK_OUTPUTS"] = setting
                    t0 = time.perf_counter()
                    ip.run_cell(cell)
                    times[setting] = time.perf_counter() - t0
                diffs[kind].append(times["on"] - times["off"])
        os.chdir(home)
    load = os.getloadavg()
    print(f"bench_outputs: {entries} entries walked, ~9,000 in skipped folders; {args.repeat} samples each")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", end=", ")
    print(f"Python {sys.version.split()[0]}")
    print(f"{'workload':58} {'median':>10} {'target':>10}")
    rows = [
        ("walk of the project folder (outputs.scan)", median_ms(walk)),
        ("%%track cell writing nothing: outputs on - off", median_ms(diffs["empty"])),
        ("%%track cell writing one small file: outputs on - off", median_ms(diffs["writing"])),
    ]
    for label, value in rows:
        print(f"{label:58} {value:8.2f} ms {'<= ' + str(TARGET_MS) + ' ms':>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
