"""Panel first show in a real kernel: how long ``%nbtrack panel`` takes from the cell's execute request to the
kernel going idle with the panel displayed (target: <= 1 s, issue 16; 4.5 s before).

Run it with the interpreter of the environment nbtrack is installed in (``PYTHONPATH`` picks the sources)::

    python bench/bench_panel_show.py                  # 500 runs, 3 fresh kernels per scenario
    python bench/bench_panel_show.py --runs 2000 --repeat 5

A standalone script, not a test: it prints medians (and min / max) and asserts nothing. Each sample is a fresh
IPython kernel (``jupyter_client``) with ``NBTRACK_DIR`` on a temporary store of ``--runs`` runs, timed from the
client (``perf_counter`` around execute -> idle). Scenarios:

  cold        ``%load_ext nbtrack`` and, in the next cell straight away, ``p = %nbtrack panel; p``
  after work  ``%load_ext nbtrack``, a 6 s cell (the user doing something else), then the panel cell
  pandas in   ``import pandas`` and ``%load_ext nbtrack`` first (a data-science notebook), then the panel

The kernel-side breakdown of the panel cell (imports of pandas / ipywidgets, building the widgets) is printed
for the cold scenario of the first kernel.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

TARGET_S = 1.0
PANEL = "p = %nbtrack panel --static\np"
SCENARIOS = {
    "cold": ["%load_ext nbtrack"],
    "after work": ["%load_ext nbtrack", "import time; time.sleep(6)"],
    "pandas in": ["import pandas\n%load_ext nbtrack"],
}
BREAKDOWN = (
    "import sys, time\n"
    "t0 = time.perf_counter(); import pandas; t1 = time.perf_counter()\n"
    "import nbtrack.views.widgets; t2 = time.perf_counter()\n"
    "p2 = nbtrack.panel(live=False); t3 = time.perf_counter(); p2.close()\n"
    "print(f'pandas import {t1 - t0:.3f} s, panel modules {t2 - t1:.3f} s, building the panel {t3 - t2:.3f} s')"
)


def run(kc: Any, code: str, timeout: float = 120) -> tuple[float, list[str]]:
    """Execute ``code``; (seconds from request to idle, the text printed or displayed)."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    texts: list[str] = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            texts.append(content["text"])
        elif kind in ("display_data", "execute_result"):
            texts.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return time.perf_counter() - t0, texts


def sample(store_dir: Path, setup: list[str], breakdown: bool) -> float:
    env = {**os.environ, "NBTRACK_DIR": str(store_dir)}
    env.pop("JPY_SESSION_NAME", None)
    km, kc = start_new_kernel(env=env)
    try:
        for cell in setup:
            run(kc, cell)
        seconds, texts = run(kc, PANEL)
        if not any("nbtrack panel" in t for t in texts):
            raise RuntimeError(f"the panel was not displayed: {texts}")
        if breakdown:
            _, printed = run(kc, BREAKDOWN)
            print("  kernel side, after the first show (so imports are warm):", "".join(printed).strip())
        return seconds
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="fresh kernels per scenario (default 3)")
    args = parser.parse_args(argv)
    from panel_helpers import add_runs

    from nbtrack.store.local import get_store

    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-show-") as work:
        store_dir = Path(work) / "store"
        add_runs(get_store(store_dir), args.runs)
        print(f"nbtrack from {sys.modules['nbtrack'].__file__}; {args.runs} runs; load {os.getloadavg()[0]:.1f}")
        for name, setup in SCENARIOS.items():
            samples = [sample(store_dir, setup, i == 0 and name == "cold") for i in range(args.repeat)]
            med = statistics.median(samples)
            print(
                f"first show, {name:<10}: median {med:.2f} s (min {min(samples):.2f}, max {max(samples):.2f}, "
                f"n={len(samples)}); target <= {TARGET_S:.1f} s"
            )
        print(f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
