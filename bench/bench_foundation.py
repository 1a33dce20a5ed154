"""Foundation benchmark: what nbtrack costs, next to MLflow with a local SQLite backend.

Run it with the interpreter of the environment nbtrack is installed in (see bench/README.md)::

    python bench/bench_foundation.py            # full: 100, 1,000 and 10,000 runs (~6-9 min on 2 quiet cores)
    python bench/bench_foundation.py --quick    # stops at 1,000 runs

It prints a table of medians and ratios and writes the same figures, with every raw sample, as JSON into
bench/results/. Machines are shared and noisy: only medians are quoted, and nothing is asserted.

Workloads
  1. An empty ``%%track -e bench`` cell vs the same cell untracked (``pass``) in a real kernel, timed from
     the client (execute request -> reply) and inside the kernel (perf_counter around run_cell), on a fresh
     store and on a store already holding the largest size of runs in the same experiment.
  2. ``%load_ext nbtrack`` in fresh kernels (perf_counter inside the kernel).
  3. One full run through the Python API: 20 params, 10 metrics x 100 steps, 5 tags.
  4. Recording one small run into a store already holding 100 / 1,000 / 10,000 runs of the same experiment.
  5. ``nbtrack.runs()`` vs ``mlflow.search_runs()`` over those runs, cold (first call in a fresh process)
     and warm (a repeated call in the same process).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# MLflow 3 sends usage telemetry unless told not to; it must be off before mlflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Anything that would point nbtrack at another store or notebook than the benchmark's own.
for _var in ("NBTRACK_DIR", "NBTRACK_EXPERIMENT", "JPY_SESSION_NAME"):
    os.environ.pop(_var, None)

import nbtrack  # noqa: E402
from nbtrack import ids  # noqa: E402
from nbtrack.store.local import RUNS, Store  # noqa: E402

EXPERIMENT = "bench"
FULL_EXPERIMENT = "bench-full"
DEFAULT_SIZES = (100, 1_000, 10_000)
RESULTS_DIR = Path(__file__).resolve().parent / "results"

TRACKED_CELL = "%%track -e bench\npass"
UNTRACKED_CELL = "pass"

FULL_PARAMS = 20
FULL_METRICS = 10
FULL_STEPS = 100
FULL_TAGS = 5

MS = 1e-3


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


# results --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the final table. Times are in seconds; ``unit="x"`` rows hold plain ratios."""

    workload: str
    nbtrack: float | None = None
    mlflow: float | None = None
    unit: str = "s"
    n: str = ""
    target: str = ""
    met: str = ""
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row, check: Callable[[float | None, float | None], bool] | None = None) -> Row:
        if check is not None and row.target:
            try:
                row.met = "yes" if check(row.nbtrack, row.mlflow) else "NO"
            except TypeError:  # a figure is missing
                row.met = "n/a"
        self.rows.append(row)
        return row

    def keep(self, key: str, samples: list[float]) -> list[float]:
        self.samples[key] = [round(s, 9) for s in samples]
        return samples


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds / MS
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    if ms < 10_000:
        return f"{ms:,.0f} ms"
    return f"{seconds:,.1f} s"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value:,.1f} MB"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.2f}x" if unit == "x" else fmt_time(value)


def ratio_text(row: Row) -> str:
    if row.unit != "s" or row.nbtrack is None or row.mlflow is None or row.nbtrack <= 0:
        return "-"
    return f"{row.mlflow / row.nbtrack:,.1f}x"


def render_table(rows: list[Row]) -> str:
    header = ("workload", "nbtrack", "MLflow", "MLflow/nbtrack", "n (nbt/mlf)", "target", "met")
    lines = [
        (r.workload, fmt_value(r.nbtrack, r.unit), fmt_value(r.mlflow, r.unit), ratio_text(r), r.n, r.target, r.met)
        for r in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [
            cell.rjust(width) if i < 4 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells[1:], widths[1:], strict=True), start=1)
        ]
        return "  ".join([first, *rest]).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(cells) for cells in lines)])


# timing helpers -------------------------------------------------------------------------------------


def time_calls(fn: Callable[[], Any], n: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def time_rotating(tasks: list[tuple[Callable[[], Any], int]], warmup: int = 1) -> list[list[float]]:
    """Time several workloads in turn (the order rotating each round), so that a noisy neighbour hurts all
    alike; task k runs ``n_k`` times. Returns the samples of each task."""
    for fn, count in tasks:
        for _ in range(warmup if count else 0):
            fn()
    samples: list[list[float]] = [[] for _ in tasks]
    for i in range(max((n for _, n in tasks), default=0)):
        shift = i % len(tasks)
        for k in [*range(shift, len(tasks)), *range(shift)]:
            fn, count = tasks[k]
            if i < count:
                start = time.perf_counter()
                fn()
                samples[k].append(time.perf_counter() - start)
    return samples


# workloads: nbtrack ---------------------------------------------------------------------------------


def full_run_values() -> list[list[float]]:
    """Metric values computed once, so both tools log the same numbers and neither pays for making them."""
    return [
        [1.0 / (step + 1) + 0.01 * metric + 1e-7 * step * metric for metric in range(FULL_METRICS)]
        for step in range(FULL_STEPS)
    ]


FULL_PARAM_VALUES = {
    f"param_{i:02d}": (0.001 * (i + 1) if i % 3 == 0 else 16 * i if i % 3 == 1 else f"choice-{i}")
    for i in range(FULL_PARAMS)
}
FULL_TAG_VALUES = {f"tag_{i}": f"value-{i}" for i in range(FULL_TAGS)}
METRIC_NAMES = [f"metric_{i}" for i in range(FULL_METRICS)]


def nbtrack_full_run(store: Store, values: list[list[float]]) -> None:
    with nbtrack.track(
        name="full", experiment=FULL_EXPERIMENT, params=FULL_PARAM_VALUES, tags=FULL_TAG_VALUES, store=store
    ) as run:
        for step, row in enumerate(values):
            for name, value in zip(METRIC_NAMES, row, strict=True):
                run.log_metric(name, value, step)


def small_values(i: int) -> tuple[dict[str, Any], dict[str, float]]:
    params = {"lr": round(0.1 / (1 + i % 97), 6), "batch_size": 32 * (1 + i % 4), "optimizer": "adam"}
    metrics = {"loss": 1.0 / (i + 2), "accuracy": 1.0 - 1.0 / (i + 3)}
    return params, metrics


# Workloads compiled without a source file, as code typed in a notebook cell is: nbtrack then stores no
# script text with the run (``track()`` stores the whole text of the calling script in every record, see
# _attach_script in tracking.py). The small run (workload 4, and the records that populate the stores) is
# notebook-style so that the store sizes do not depend on the size of this file.
_NOTEBOOK_STYLE = compile(
    textwrap.dedent("""
    def nbtrack_full_run_nofile(store, values):
        with nbtrack.track(name="full", experiment=FULL_EXPERIMENT, params=FULL_PARAM_VALUES,
                           tags=FULL_TAG_VALUES, store=store) as run:
            for step, row in enumerate(values):
                for name, value in zip(METRIC_NAMES, row, strict=True):
                    run.log_metric(name, value, step)

    def nbtrack_small_run(store, i):
        params, metrics = small_values(i)
        with nbtrack.track(experiment=EXPERIMENT, params=params, tags={"stage": "bench"}, store=store) as run:
            for name, value in metrics.items():
                run.log_metric(name, value)
        return run
"""),
    "<notebook-style>",
    "exec",
)
_defined: dict[str, Any] = {}
exec(_NOTEBOOK_STYLE, globals(), _defined)
nbtrack_full_run_nofile: Callable[[Store, list[list[float]]], None] = _defined["nbtrack_full_run_nofile"]
nbtrack_small_run: Callable[[Store, int], nbtrack.ActiveRun] = _defined["nbtrack_small_run"]


def nbtrack_count(store: Store) -> int:
    """Runs of the benchmark experiment, read through a throw-away Store so the measured one stays as it is."""
    fresh = Store(store.root)
    return sum(1 for doc in fresh.run_docs().values() if doc.get("experiment") == EXPERIMENT)


def populate_nbtrack(store: Store, template: dict[str, Any], have: int, target: int) -> int:
    """Append run records as the API leaves them (a ``running`` record, then the final one), in batches.

    The records are clones of a real small run (``template``, recorded from notebook-style code) with their
    own id, times, params and metrics.
    """
    base = {k: v for k, v in template.items() if k != "series"}
    entries: list[dict[str, Any]] = []
    for i in range(have, target):
        run_id = ids.new_run_id()
        params, metrics = small_values(i)
        start = time.time()
        final = {
            **base,
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
    return target


# workloads: MLflow ----------------------------------------------------------------------------------


class MlflowBench:
    """MLflow through its public client, SQLite backend; all writes use MlflowClient.log_batch."""

    def __init__(self, db_path: Path) -> None:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
        import mlflow
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # mlflow sets its own level on import
            logging.getLogger(name).setLevel(logging.WARNING)
        self.mlflow = mlflow
        self.Metric, self.Param, self.RunTag = Metric, Param, RunTag
        self.uri = f"sqlite:///{db_path}"
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)
        self.exp_id = self._experiment(EXPERIMENT)
        self.full_exp_id = self._experiment(FULL_EXPERIMENT)
        self.count = 0

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found is not None else self.client.create_experiment(name)

    @property
    def version(self) -> str:
        return self.mlflow.__version__

    def full_run(self, values: list[list[float]]) -> None:
        """Params and tags in one log_batch at the start; metrics buffered per step and sent with log_batch
        (at most 1000 metrics per call, MLflow's limit), which is what nbtrack does too (it writes at the end)."""
        Metric, Param, RunTag = self.Metric, self.Param, self.RunTag
        self.mlflow.set_tracking_uri(self.uri)
        with self.mlflow.start_run(experiment_id=self.full_exp_id, run_name="full") as active:
            run_id = active.info.run_id
            self.client.log_batch(
                run_id,
                params=[Param(k, str(v)) for k, v in FULL_PARAM_VALUES.items()],
                tags=[RunTag(k, v) for k, v in FULL_TAG_VALUES.items()],
            )
            buffer = []
            for step, row in enumerate(values):
                stamp = int(time.time() * 1000)
                buffer.extend(Metric(name, value, stamp, step) for name, value in zip(METRIC_NAMES, row, strict=True))
            for start in range(0, len(buffer), 1000):
                self.client.log_batch(run_id, metrics=buffer[start : start + 1000])

    def full_run_per_step(self, values: list[list[float]]) -> None:
        """The plain fluent idiom: log_params, set_tags, then mlflow.log_metrics once per step."""
        mlflow = self.mlflow
        mlflow.set_tracking_uri(self.uri)
        with mlflow.start_run(experiment_id=self.full_exp_id, run_name="full-per-step"):
            mlflow.log_params(FULL_PARAM_VALUES)
            mlflow.set_tags(FULL_TAG_VALUES)
            for step, row in enumerate(values):
                mlflow.log_metrics(dict(zip(METRIC_NAMES, row, strict=True)), step=step)

    def _small_batch(self, i: int, stage: str) -> dict[str, Any]:
        params, metrics = small_values(i)
        stamp = int(time.time() * 1000)
        return {
            "metrics": [self.Metric(k, v, stamp, 0) for k, v in metrics.items()],
            "params": [self.Param(k, str(v)) for k, v in params.items()],
            "tags": [self.RunTag("stage", stage)],
        }

    def small_run(self, i: int, stage: str = "bench") -> None:
        """create_run + one log_batch + set_terminated: the cheapest public path, and free of the fluent API's
        global tracking URI (each store size has its own database)."""
        run = self.client.create_run(self.exp_id)
        self.client.log_batch(run.info.run_id, **self._small_batch(i, stage))
        self.client.set_terminated(run.info.run_id)
        self.count += 1

    def populate(self, target: int) -> None:
        start = time.perf_counter()
        first = self.count
        while self.count < target:
            self.small_run(self.count, "populate")
            done = self.count - first
            if done % 1000 == 0 and self.count < target:
                rate = done / (time.perf_counter() - start)
                log(
                    f"  MLflow: {self.count:,}/{target:,} runs ({rate:,.0f} runs/s, "
                    f"~{(target - self.count) / rate:,.0f} s left)"
                )

    def search(self) -> Any:
        self.mlflow.set_tracking_uri(self.uri)
        return self.mlflow.search_runs(experiment_ids=[self.exp_id])


# cold queries in fresh processes --------------------------------------------------------------------

COLD_NBTRACK = """
import json, sys, time
import pandas  # imported up front in both tools' cold runs: a notebook has it loaded already
import nbtrack
start = time.perf_counter()
frame = nbtrack.runs(experiment=sys.argv[2], store=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(frame)}))
"""

COLD_MLFLOW = """
import json, logging, sys, time, warnings
import pandas  # imported up front in both tools' cold runs: a notebook has it loaded already
import mlflow
logging.getLogger("mlflow").setLevel(logging.WARNING)
warnings.simplefilter("ignore")
mlflow.set_tracking_uri(sys.argv[1])
start = time.perf_counter()
frame = mlflow.search_runs(experiment_names=[sys.argv[2]])
print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(frame)}))
"""


def run_cold(code: str, *args: str) -> tuple[float, int]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, env=os.environ.copy()
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold query process failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["rows"]


# kernels --------------------------------------------------------------------------------------------

KERNEL_SETUP = r'''
import json as _nbb_json, sys as _nbb_sys, time as _nbb_time

def _nbb_once(code):
    ip = get_ipython()
    start = _nbb_time.perf_counter()
    result = ip.run_cell(code, store_history=True)
    elapsed = _nbb_time.perf_counter() - start
    if not result.success:
        raise RuntimeError(f"benchmark cell failed: {result.error_before_exec or result.error_in_exec!r}")
    return elapsed

def _nbb_pairs(a, b, n):
    """Alternate two cells n times, as real cells run (store_history=True); seconds of each."""
    ta, tb = [], []
    for i in range(n):
        order = [(a, ta), (b, tb)] if i % 2 == 0 else [(b, tb), (a, ta)]
        for code, out in order:
            out.append(_nbb_once(code))
    return _nbb_json.dumps([ta, tb])
'''


class Kernel:
    """A python3 kernel (this interpreter) with its own NBTRACK_DIR and working directory."""

    def __init__(self, store_dir: Path, cwd: Path, log_file: Path) -> None:
        from jupyter_client.manager import KernelManager

        env = os.environ.copy()
        env["NBTRACK_DIR"] = str(store_dir)
        self.km = KernelManager(kernel_name="python3")
        # The kernel process's own stdout/stderr (start-up warnings) go to a file, not into the table.
        self._log = open(log_file, "ab")  # noqa: SIM115 - closed in close()
        self.km.start_kernel(env=env, cwd=str(cwd), stdout=self._log, stderr=self._log)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        self.stderr: list[str] = []

    def execute(
        self, code: str, expressions: dict[str, str] | None = None, timeout: float = 600
    ) -> tuple[float, dict[str, Any]]:
        """Seconds from sending the execute request to receiving its reply, and the reply content."""
        start = time.perf_counter()
        msg_id = self.kc.execute(code, user_expressions=expressions or {}, store_history=True, allow_stdin=False)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        elapsed = time.perf_counter() - start
        self._drain(msg_id, timeout)
        content = reply["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"kernel error: {content.get('ename')}: {content.get('evalue')}")
        return elapsed, content

    def _drain(self, msg_id: str, timeout: float) -> None:
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream" and msg["content"].get("name") == "stderr":
                self.stderr.append(msg["content"]["text"])
            elif kind == "error":
                self.stderr.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return

    def value(self, code: str, expression: str) -> Any:
        """Run code, then return ``expression`` (which must give a JSON string) decoded."""
        _, content = self.execute(code, {"v": expression})
        result = content["user_expressions"]["v"]
        if result.get("status") != "ok":
            raise RuntimeError(f"kernel expression failed: {result.get('ename')}: {result.get('evalue')}")
        return json.loads(ast.literal_eval(result["data"]["text/plain"]))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        with contextlib.suppress(Exception):
            self.km.shutdown_kernel(now=True)
        self._log.close()


def kernel_cells(
    res: Results,
    label: str,
    key: str,
    store_dir: Path,
    cwd: Path,
    n_kernel: int,
    n_client: int,
    target: tuple[str, float] | None,
) -> None:
    """Tracked vs untracked empty cell in one fresh kernel: in-kernel and client-side."""
    kernel = Kernel(store_dir, cwd, store_dir.parent / "kernels.log")
    try:
        same = kernel.value(KERNEL_SETUP, f"_nbb_json.dumps(_nbb_sys.executable == {sys.executable!r})")
        res.info.setdefault("kernel_is_this_interpreter", same)
        kernel.execute("%load_ext nbtrack")
        first = kernel.value(f"_nbb_first = _nbb_once({TRACKED_CELL!r})", "_nbb_json.dumps(_nbb_first)")
        cells = f"{TRACKED_CELL!r}, {UNTRACKED_CELL!r}"
        kernel.value(f"_nbb_pairs({cells}, 5)", "_nbb_json.dumps(0)")  # warm-up
        tracked, untracked = kernel.value(f"_nbb_r = _nbb_pairs({cells}, {n_kernel})", "_nbb_r")
        client_tracked: list[float] = []
        client_untracked: list[float] = []
        if n_client:
            for _ in range(3):  # warm-up
                kernel.execute(TRACKED_CELL)
                kernel.execute(UNTRACKED_CELL)
            for i in range(n_client):
                order = [(TRACKED_CELL, client_tracked), (UNTRACKED_CELL, client_untracked)]
                for code, out in order if i % 2 == 0 else reversed(order):
                    out.append(kernel.execute(code)[0])
        runs_after = kernel.value(
            "import nbtrack as _nbb_nbtrack", "_nbb_json.dumps(len(_nbb_nbtrack.get_store().run_docs()))"
        )
    finally:
        kernel.close()
    if kernel.stderr:
        res.info[f"{key}.stderr_messages"] = len(kernel.stderr)  # the text may hold paths: only logged
        log(f"  note: the kernel wrote to stderr: {''.join(kernel.stderr)[-300:].strip()!r}")
    res.info[f"{key}.store_runs_after"] = runs_after

    res.keep(f"{key}.inkernel.tracked", tracked)
    res.keep(f"{key}.inkernel.untracked", untracked)
    diffs = res.keep(f"{key}.inkernel.overhead", [t - u for t, u in zip(tracked, untracked, strict=True)])
    res.keep(f"{key}.first_tracked_cell", [first])
    check = None
    target_text = ""
    if target is not None:
        target_text = f"<= {target[0]}"
        limit = target[1]

        def check(nbt: float | None, _mlf: float | None) -> bool:
            return nbt <= limit

    res.add(Row(f"{label}: untracked, in-kernel", median(untracked), n=str(n_kernel)))
    res.add(Row(f"{label}: %%track, in-kernel", median(tracked), n=str(n_kernel)))
    res.add(Row(f"{label}: overhead, in-kernel", median(diffs), n=str(n_kernel), target=target_text), check)
    if n_client:
        res.keep(f"{key}.client.tracked", client_tracked)
        res.keep(f"{key}.client.untracked", client_untracked)
        cdiffs = res.keep(
            f"{key}.client.overhead", [t - u for t, u in zip(client_tracked, client_untracked, strict=True)]
        )
        res.add(Row(f"{label}: untracked, client execute->reply", median(client_untracked), n=str(n_client)))
        res.add(Row(f"{label}: %%track, client execute->reply", median(client_tracked), n=str(n_client)))
        res.add(
            Row(f"{label}: overhead, client execute->reply", median(cdiffs), n=str(n_client), target=target_text), check
        )
    res.add(Row(f"{label}: first %%track after %load_ext", first, n="1"))
    log(f"  {label}: overhead in-kernel {fmt_time(median(diffs))}, first tracked cell {fmt_time(first)}")


def load_ext_times(n_kernels: int, workdir: Path) -> list[float]:
    samples = []
    for i in range(n_kernels):
        store_dir = workdir / f"load-ext-{i}"
        store_dir.mkdir()
        kernel = Kernel(store_dir / ".nbtrack", store_dir, workdir / "kernels.log")
        try:
            kernel.execute(KERNEL_SETUP)
            code = (
                "_nbb_t = _nbb_time.perf_counter(); get_ipython().run_line_magic('load_ext', 'nbtrack'); "
                "_nbb_t = _nbb_time.perf_counter() - _nbb_t"
            )
            samples.append(kernel.value(code, "_nbb_json.dumps(_nbb_t)"))
        finally:
            kernel.close()
    return samples


# store set-up ---------------------------------------------------------------------------------------


def git_work_tree(path: Path) -> bool:
    """A throw-away git repository with one commit (for the 'cwd inside a git work tree' variants)."""
    if shutil.which("git") is None:
        return False
    path.mkdir(parents=True)
    (path / "train.py").write_text("print('hello')\n")
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q"], ["add", "train.py"], [*ident, "commit", "-q", "-m", "init"]):
        if subprocess.run(["git", *cmd], cwd=path, capture_output=True, check=False).returncode != 0:
            return False
    return True


@contextlib.contextmanager
def working_directory(path: Path):  # type: ignore[no-untyped-def]
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def source_files() -> dict[str, str]:
    """A hash of each file of nbtrack's installed source: compared at the start and the end of the run, they
    tell whether the package changed meanwhile (processes started later, such as kernels, would load new code)."""
    root = Path(nbtrack.__file__).resolve().parent
    return {
        path.relative_to(root).as_posix(): hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()
        for path in sorted(root.rglob("*.py"))
    }


def fingerprint_of(files: dict[str, str]) -> str:
    return hashlib.blake2b(json.dumps(files, sort_keys=True).encode(), digest_size=8).hexdigest()


def source_commit() -> str:
    """The git commit nbtrack's source is at, with ``+changes`` when the package has uncommitted changes."""
    root = Path(nbtrack.__file__).resolve().parent
    if shutil.which("git") is None:
        return "unknown"
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return "not a git checkout"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "."], cwd=root, capture_output=True, text=True, check=False
    )
    return head.stdout.strip() + ("+changes" if status.stdout.strip() else "")


def load_average() -> str:
    """The 1-minute load average: how much else the machine was doing (the figures are only as quiet as it)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def size_label(n: int) -> str:
    return f"{n:,} runs"


# sections -------------------------------------------------------------------------------------------


def section_kernels(res: Results, args: argparse.Namespace, work: Path, populated: int) -> None:
    log("1. %%track empty cell in a real kernel")
    plain = work / "kernel-cwd"
    plain.mkdir()
    kernel_cells(
        res,
        "1 empty cell, fresh store",
        "kernel.fresh",
        work / "kernel-fresh-store",
        plain,
        args.kernel_pairs,
        args.client_pairs,
        ("5 ms", 5 * MS),
    )

    store_dir = work / "kernel-populated-store"
    store = Store(store_dir)
    template = nbtrack_small_run(store, 0).doc
    assert template is not None
    populate_nbtrack(store, template, 1, populated)
    log(f"  populated a store with {populated:,} runs in experiment {EXPERIMENT!r}")
    target = ("10 ms", 10 * MS) if populated == 10_000 else None
    kernel_cells(
        res,
        f"1 empty cell, {size_label(populated)} in store",
        "kernel.populated",
        store_dir,
        plain,
        args.kernel_pairs,
        args.client_pairs,
        target,
    )

    git_cwd = work / "kernel-git-cwd"
    if git_work_tree(git_cwd):
        kernel_cells(
            res,
            "1 empty cell, fresh store, cwd in git repo",
            "kernel.git",
            work / "kernel-git-store",
            git_cwd,
            args.kernel_pairs,
            0,
            None,
        )
    else:
        log("  git not available: skipping the git work tree variant")

    log(f"2. %load_ext nbtrack in {args.load_ext_kernels} fresh kernels")
    samples = res.keep("load_ext", load_ext_times(args.load_ext_kernels, work))
    res.add(
        Row("2 %load_ext nbtrack, fresh kernel (in-kernel)", median(samples), n=str(len(samples)), target="<= 150 ms"),
        lambda nbt, _mlf: nbt <= 150 * MS,
    )
    log(f"  %load_ext: {fmt_time(median(samples))}")


def section_full_run(res: Results, args: argparse.Namespace, work: Path, ml: MlflowBench | None) -> None:
    log(f"3. one full run: {FULL_PARAMS} params, {FULL_METRICS} metrics x {FULL_STEPS} steps, {FULL_TAGS} tags")
    values = full_run_values()
    store = Store(work / "full-run-store")
    plain = work / "api-cwd"
    git_cwd = work / "api-git-cwd"
    has_git = git_work_tree(git_cwd)

    def in_git_repo() -> None:  # chdir costs microseconds
        with working_directory(git_cwd):
            nbtrack_full_run(store, values)

    tasks: list[tuple[Callable[[], Any], int]] = [
        (lambda: nbtrack_full_run(store, values), args.full_n),
        (lambda: nbtrack_full_run_nofile(store, values), args.full_n),
        (in_git_repo, args.full_n if has_git else 0),
    ]
    if ml:
        tasks.append((lambda: ml.full_run(values), args.full_n_mlflow))
        tasks.append((lambda: ml.full_run_per_step(values), 3))
    with working_directory(plain):
        nbt, nofile, in_git, *ml_samples = time_rotating(tasks)
    mlf, per_step = ml_samples if ml else ([], [])
    res.keep("full_run.nbtrack", nbt)
    res.keep("full_run.nbtrack_notebook_style", nofile)
    res.keep("full_run.nbtrack_git_cwd", in_git)
    res.keep("full_run.mlflow_log_batch", mlf)
    res.keep("full_run.mlflow_log_metrics_per_step", per_step)
    last = Store(store.root).run_docs()
    script_chars = max((len(doc.get("code") or "") for doc in last.values()), default=0)
    res.info["full_run.script_chars_stored_per_record"] = script_chars
    res.add(
        Row(
            "3 full run, API called from a script (script text stored)",
            median(nbt),
            median(mlf) if mlf else None,
            n=f"{len(nbt)}/{len(mlf)}",
            target="<= 8 ms",
        ),
        lambda n, _m: n <= 8 * MS,
    )
    res.add(
        Row(
            "3 full run, API called from notebook-style code (no file)",
            median(nofile),
            n=str(len(nofile)),
            target="<= 8 ms",
        ),
        lambda n, _m: n <= 8 * MS,
    )
    if in_git:
        res.add(Row("3 full run, from a script, cwd in a git work tree", median(in_git), n=str(len(in_git))))
    if per_step:
        res.add(Row("3 full run, MLflow fluent log_metrics per step", None, median(per_step), n=f"-/{len(per_step)}"))
    log(
        f"  nbtrack {fmt_time(median(nbt))} (notebook-style {fmt_time(median(nofile))}"
        + (f", git cwd {fmt_time(median(in_git))}" if in_git else "")
        + ")"
        + (
            f"; MLflow log_batch {fmt_time(median(mlf))}, per-step log_metrics {fmt_time(median(per_step))}"
            if ml
            else ""
        )
    )


def section_sizes(res: Results, args: argparse.Namespace, work: Path, use_mlflow: bool) -> None:
    """One nbtrack store and one MLflow database per size, so that recording can be timed at every size in
    the same stretch of time (alternating sizes and tools): a burst of load then hits every size alike."""
    sizes = args.sizes
    log(f"4./5. stores of {', '.join(f'{n:,}' for n in sizes)} runs")
    stores: dict[int, Store] = {}
    mls: dict[int, MlflowBench] = {}
    with working_directory(work / "api-cwd"):
        for size in sizes:
            t0 = time.perf_counter()
            store = stores[size] = Store(work / f"store-{size}")
            template = nbtrack_small_run(store, 0).doc
            assert template is not None
            populate_nbtrack(store, template, 1, size)
            res.info[f"size.{size}.nbtrack_runs"] = nbtrack_count(store)
            res.info[f"size.{size}.journal_bytes"] = os.path.getsize(store.journal.path)
            log(f"  nbtrack: {size:,} runs in {time.perf_counter() - t0:.1f} s")
            if use_mlflow:
                t0 = time.perf_counter()
                ml = mls[size] = MlflowBench(work / f"mlflow-{size}.db")
                ml.populate(size)
                log(f"  MLflow: {size:,} runs in {time.perf_counter() - t0:.1f} s")

        # 5. queries: cold in fresh processes, then warm in this one
        for level, size in enumerate(sizes):
            store, ml = stores[size], mls.get(size)
            n_cold_ml = args.cold_n if size <= 1_000 else max(2, args.cold_n - 2)
            cold_nbt, rows_nbt = [], set()
            cold_ml, rows_ml = [], set()
            for i in range(max(args.cold_n, n_cold_ml if ml else 0)):
                if i < args.cold_n:
                    seconds, rows = run_cold(COLD_NBTRACK, str(store.root), EXPERIMENT)
                    cold_nbt.append(seconds)
                    rows_nbt.add(rows)
                if ml and i < n_cold_ml:
                    seconds, rows = run_cold(COLD_MLFLOW, ml.uri, EXPERIMENT)
                    cold_ml.append(seconds)
                    rows_ml.add(rows)
            res.info[f"size.{size}.rows_returned"] = {"nbtrack": sorted(rows_nbt), "mlflow": sorted(rows_ml)}
            nbt_warm = time_calls(lambda s=store: nbtrack.runs(experiment=EXPERIMENT, store=s), args.warm_n, warmup=1)
            ml_warm: list[float] = []
            if ml:
                n_warm_ml = args.warm_n_mlflow if size <= 1_000 else max(2, args.warm_n_mlflow - 2)
                # This process has searched before at any size but the first: no warm-up call at 10,000 (5+ s).
                ml_warm = time_calls(ml.search, n_warm_ml, warmup=1 if level == 0 or size <= 1_000 else 0)
            res.keep(f"runs.{size}.nbtrack.cold", cold_nbt)
            res.keep(f"runs.{size}.mlflow.cold", cold_ml)
            res.keep(f"runs.{size}.nbtrack.warm", nbt_warm)
            res.keep(f"runs.{size}.mlflow.warm", ml_warm)
            log(
                f"  query {size:,}: nbtrack cold {fmt_time(median(cold_nbt))} warm {fmt_time(median(nbt_warm))}"
                + (f"; MLflow cold {fmt_time(median(cold_ml))} warm {fmt_time(median(ml_warm))}" if ml else "")
                + f" (rows {sorted(rows_nbt)}/{sorted(rows_ml)})"
            )

        # 4. record one small run, alternating sizes and tools
        log(
            f"  recording one small run: {args.record_n} per size (nbtrack), {args.record_n_mlflow if mls else 0} "
            f"per size (MLflow), sizes and tools alternated"
        )
        nbt_rec: dict[int, list[float]] = {size: [] for size in sizes}
        ml_rec: dict[int, list[float]] = {size: [] for size in sizes}
        for size in sizes:  # warm-up
            nbtrack_small_run(stores[size], 1)
            if size in mls:
                mls[size].small_run(1)
        for i in range(max(args.record_n, args.record_n_mlflow if mls else 0)):
            order = sizes[i % len(sizes) :] + sizes[: i % len(sizes)]
            for size in order:
                tasks: list[tuple[Callable[..., Any], Any, int, list[float]]] = [
                    (nbtrack_small_run, stores[size], args.record_n, nbt_rec[size])
                ]
                if size in mls:
                    tasks.append((MlflowBench.small_run, mls[size], args.record_n_mlflow, ml_rec[size]))
                if i % 2:
                    tasks.reverse()
                for fn, target, count, out in tasks:
                    if i < count:
                        t0 = time.perf_counter()
                        fn(target, 1_000_000 + i)
                        out.append(time.perf_counter() - t0)

    for size in sizes:
        res.keep(f"record.{size}.nbtrack", nbt_rec[size])
        res.keep(f"record.{size}.mlflow", ml_rec[size])
        nbt, mlf = nbt_rec[size], ml_rec[size]
        res.add(
            Row(
                f"4 record one small run, {size_label(size)} in store",
                median(nbt),
                median(mlf) if mlf else None,
                n=f"{len(nbt)}/{len(mlf)}",
                target="<= 10 ms" if size == 10_000 else "",
            ),
            lambda n, _m: n <= 10 * MS,
        )
        log(
            f"  record one run at {size:,}: nbtrack {fmt_time(median(nbt))}"
            + (f", MLflow {fmt_time(median(mlf))}" if mlf else "")
        )
    smallest, largest = min(sizes), max(sizes)
    if largest > smallest:
        nbt_ratio = median(nbt_rec[largest]) / median(nbt_rec[smallest])
        ml_ratio = median(ml_rec[largest]) / median(ml_rec[smallest]) if ml_rec[largest] else None
        res.add(
            Row(
                f"4 record one small run: cost at {largest:,} / at {smallest:,}",
                nbt_ratio,
                ml_ratio,
                unit="x",
                target="<= 2x" if (largest, smallest) == (10_000, 100) else "",
            ),
            lambda n, _m: n <= 2,
        )
    for size in sizes:
        for kind in ("cold", "warm"):
            nbt_s = res.samples[f"runs.{size}.nbtrack.{kind}"]
            ml_s = res.samples[f"runs.{size}.mlflow.{kind}"]
            what = "first call, fresh process" if kind == "cold" else "repeated call, same process"
            res.add(
                Row(
                    f"5 runs() vs search_runs, {size_label(size)}, {kind} ({what})",
                    median(nbt_s),
                    median(ml_s) if ml_s else None,
                    n=f"{len(nbt_s)}/{len(ml_s)}",
                    target="<= 300 ms, >= 20x" if size == 10_000 else "",
                ),
                lambda n, m: n <= 300 * MS and (m is None or m / n >= 20),
            )


# main -----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="stop at 1,000 runs (same as --sizes 100,1000)")
    parser.add_argument("--sizes", help="comma-separated store sizes (default: 100,1000,10000)")
    parser.add_argument("--no-mlflow", action="store_true", help="measure nbtrack only")
    parser.add_argument("--no-kernel", action="store_true", help="skip the kernel workloads (1 and 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores (their path is printed)")
    parser.add_argument("--output", help="JSON results file (default: bench/results/foundation-<time>.json)")
    repeat = parser.add_argument_group("repetitions")
    repeat.add_argument("--kernel-pairs", type=int, default=100, help="in-kernel tracked/untracked pairs")
    repeat.add_argument("--client-pairs", type=int, default=40, help="client-side tracked/untracked pairs")
    repeat.add_argument("--load-ext-kernels", type=int, default=7, help="fresh kernels for %%load_ext")
    repeat.add_argument("--full-n", type=int, default=40, help="nbtrack full runs")
    repeat.add_argument("--full-n-mlflow", type=int, default=15, help="MLflow full runs")
    repeat.add_argument("--record-n", type=int, default=40, help="nbtrack small runs recorded per size")
    repeat.add_argument("--record-n-mlflow", type=int, default=15, help="MLflow small runs recorded per size")
    repeat.add_argument("--cold-n", type=int, default=5, help="fresh processes per cold query")
    repeat.add_argument("--warm-n", type=int, default=10, help="nbtrack warm queries per size")
    repeat.add_argument("--warm-n-mlflow", type=int, default=5, help="MLflow warm queries per size")
    args = parser.parse_args(argv)
    if args.sizes:
        args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    elif args.quick:
        args.sizes = [100, 1_000]
    else:
        args.sizes = list(DEFAULT_SIZES)
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes needs positive integers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    res = Results()
    work = Path(tempfile.mkdtemp(prefix="nbtrack-bench-"))
    (work / "api-cwd").mkdir()
    ml: MlflowBench | None = None
    load_start = load_average()
    commit, files_start = source_commit(), source_files()
    fingerprint = fingerprint_of(files_start)
    log(
        f"nbtrack {nbtrack.__version__} (source {commit}, fingerprint {fingerprint}), Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {load_start}; sizes {args.sizes}; "
        f"scratch dir {work}"
    )
    try:
        if not args.no_kernel:
            section_kernels(res, args, work, max(args.sizes))
        if not args.no_mlflow:
            t0 = time.perf_counter()
            ml = MlflowBench(work / "mlflow-full.db")
            log(f"MLflow {ml.version}: SQLite store ready in {time.perf_counter() - t0:.1f} s")
        section_full_run(res, args, work, ml)
        section_sizes(res, args, work, use_mlflow=ml is not None)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    elapsed = time.time() - started
    table = render_table(res.rows)
    print()
    load_end = load_average()
    files_end = source_files()
    source_changed = sorted(
        name for name in files_start.keys() | files_end.keys() if files_start.get(name) != files_end.get(name)
    )
    print(
        f"nbtrack foundation benchmark: nbtrack source {commit}; medians; MLflow "
        f"{ml.version if ml else 'not measured'} with SQLite; ratio = MLflow median / nbtrack median; "
        f"total {elapsed / 60:.1f} min on {os.cpu_count()} CPUs, 1-min load average {load_start} at start, "
        f"{load_end} at end"
    )
    print(table)
    print()
    print(
        "Notes: overhead = median of paired differences (tracked - untracked, alternated). MLflow writes use "
        "MlflowClient.log_batch\n(full run: params+tags in one batch, metrics buffered and sent in batches of "
        "1000). Cold queries pre-import pandas."
    )
    if source_changed:
        print(
            f"\nWARNING: nbtrack's source changed during the run ({', '.join(source_changed)}): processes "
            "started after\nthe change (kernels, cold queries) may have run other code. Run again for consistent "
            "figures."
        )

    meta = {
        "benchmark": "bench_foundation",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_seconds": round(elapsed, 1),
        "nbtrack": nbtrack.__version__,
        "nbtrack_source": commit,
        "nbtrack_source_fingerprint": fingerprint,
        "nbtrack_source_changed_during_run": source_changed,
        "mlflow": ml.version if ml else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": load_end,
        "args": {k: v for k, v in vars(args).items() if k != "output"},
    }
    payload = {
        "meta": meta,
        "info": res.info,
        "rows": [asdict(r) for r in res.rows],
        "samples_seconds": res.samples,
        "table": table,
    }
    output = Path(args.output) if args.output else RESULTS_DIR / f"foundation-{time.strftime('%Y%m%d-%H%M%S')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nResults written to {output.relative_to(Path.cwd()) if output.is_relative_to(Path.cwd()) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
