"""Corpus benchmark (issue 13): verified export measured on real public notebooks, not this repository's.

Run it with the interpreter of the environment nbtrack is installed in (see bench/README.md)::

    python bench/bench_corpus.py                     # every notebook of bench/corpus/manifest.json
    python bench/bench_corpus.py --only pdsh-05.02   # the notebooks whose id starts with this
    python bench/bench_corpus.py --keep              # keep the work folder (notebooks, stores, scripts)

``bench/corpus/manifest.json`` names each notebook's source (GitHub repository, path, commit) and the
steps to execute: original code cells (by index among the notebook's code cells) with small edits applied
(datasets replaced by scikit-learn's bundled ones, ``%%track -m ...`` added), new cells, and the ordinary
exploration of a notebook session (a cell edited and rerun, a helper redefined, an in-place mutation, a
cell that raised). The originals are never copied into this repository: they are read from the public
repositories' git directories fetched under ``--mirror`` (``<mirror>/<owner>+<name>/repo``) into a
cache folder outside it (``--cache``); a notebook whose repository is not there is skipped, with a message.

For each notebook it:

1. executes the steps in a real kernel (nbclient, cwd and ``NBTRACK_DIR`` in a fresh folder, the notebook
   written to disk and named by ``JPY_SESSION_NAME``), one notebook at a time, then again in a second
   fresh kernel: a run is *deterministic* when the second session records the same metrics;
2. exports every tracked run of the first session with ``nbtrack.export(run, verify=True)`` and records
   verified or not, the cause and the differing metrics, the cells the widening added, the time;
3. checks independently that no export is *silently wrong*: executes the exported script once more
   (a fresh interpreter, the run's working directory, a temporary store) and compares the metrics it
   prints on its last line with the run's. A script marked verified whose metrics differ (or that fails),
   or one marked unverified whose header does not say so, is WRONG (the target is 0).

It prints a table (notebook, run, deterministic, verified, wrong, cause) and the counts, and writes
everything as JSON into bench/results/. Nothing is asserted. Targets (issue 13): 100% of deterministic runs
export verified; 0 wrong exports.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "corpus" / "manifest.json"
RESULTS_DIR = HERE / "results"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nbtrack-corpus"
# where fetched repositories live as <owner>+<name>/repo git directories (--mirror, or NBTRACK_CORPUS_MIRROR)
DEFAULT_MIRROR = Path(os.environ.get("NBTRACK_CORPUS_MIRROR", DEFAULT_CACHE / "mirror"))
CELL_TIMEOUT = 600
SCRIPT_TIMEOUT = 900
# one thread per numerical library: the machine is shared, and threaded reductions can change the last bit
THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")}
SCRUBBED = ("NBTRACK_EXPERIMENT", "JPY_SESSION_NAME", "NBTRACK_TRACKING_URI", "JPY_PARENT_PID", "NBTRACK_DIR")


class CorpusError(Exception):
    """A notebook of the corpus could not be built or executed as the manifest says (not an nbtrack verdict)."""


# the sources ---------------------------------------------------------------------------------------------


def mirror_dir(mirror: Path, repo: str) -> Path:
    return mirror / repo.replace("/", "+") / "repo"


def fetch_original(entry: dict, mirror: Path, cache: Path) -> Path | None:
    """The original notebook in the cache (filled from the fetched git directory); None when unavailable."""
    target = cache / entry["repo"].replace("/", "+") / entry["commit"][:12] / entry["path"]
    if target.exists():
        return target
    git_dir = mirror_dir(mirror, entry["repo"])
    if not git_dir.exists():
        return None
    shown = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{entry['commit']}:{entry['path']}"],
        capture_output=True,
        check=False,
    )
    if shown.returncode != 0:
        raise CorpusError(f"{entry['repo']}@{entry['commit'][:12]}: {shown.stderr.decode().strip()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shown.stdout)
    return target


def code_cells(original: Path) -> list[str]:
    """The sources of the notebook's code cells (a ``.py`` with ``# %%`` markers is split at them)."""
    if original.suffix == ".py":
        chunks: list[str] = []
        current: list[str] = []
        for line in original.read_text(encoding="utf-8").splitlines():
            if line.startswith("# %%"):
                chunks.append("\n".join(current).strip("\n"))
                current = []
            else:
                current.append(line)
        chunks.append("\n".join(current).strip("\n"))
        return [c for c in chunks[1:] if c.strip()] if len(chunks) > 1 else chunks
    nb = json.loads(original.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def step_source(step: dict, originals: list[str], current: dict[Any, str], where: str) -> str:
    """The source a step executes: the original cell (or the new cell's last source) with the step's edits."""
    key = step["cell"]
    if "source" in step:
        source = step["source"]
    elif isinstance(key, int):
        if key >= len(originals):
            raise CorpusError(f"{where}: the notebook has {len(originals)} code cells, not {key + 1}")
        source = originals[key]
    elif key in current:
        source = current[key]
    else:
        raise CorpusError(f"{where}: new cell {key!r} needs a source the first time it runs")
    for old, new in step.get("replace", []):
        if old not in source:
            raise CorpusError(f"{where}: edit {old!r} does not match cell {key!r} (the source changed?)")
        source = source.replace(old, new, 1)  # the first occurrence: a commented-out copy may follow
    if step.get("track"):
        source = f"%%track {step['track']}\n{source}"
    return source


# executing a notebook ------------------------------------------------------------------------------------


@dataclass
class Session:
    folder: Path
    store: Path
    errors: list[str] = field(default_factory=list)  # unexpected cell errors
    seconds: float = 0.0


def execute_notebook(entry: dict, originals: list[str], folder: Path) -> Session:
    """Run the manifest's steps in one fresh kernel, the way a user would, cell object by cell object."""
    import nbformat
    from nbclient import NotebookClient

    folder.mkdir(parents=True)
    store = folder / ".nbtrack"
    cells: dict[Any, Any] = {"load": nbformat.v4.new_code_cell("%load_ext nbtrack")}
    order: list[tuple[Any, str, dict]] = [("load", cells["load"].source, {})]
    current: dict[Any, str] = {}
    for n, step in enumerate(entry["steps"]):
        source = step_source(step, originals, current, f"{entry['id']} step {n}")
        current[step["cell"]] = source
        cells.setdefault(step["cell"], nbformat.v4.new_code_cell(source))
        order.append((step["cell"], source, step))
    nb = nbformat.v4.new_notebook(cells=list(cells.values()))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / (Path(entry["path"]).stem + ".ipynb")
    nbformat.write(nb, path)
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(NBTRACK_DIR=str(store), JPY_SESSION_NAME=str(path), **THREADS)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    session = Session(folder, store)
    index = {key: i for i, key in enumerate(cells)}
    started = time.perf_counter()
    with client.setup_kernel(env=env):
        for key, source, step in order:
            cell = cells[key]
            cell.source = source
            cell.outputs = []
            client.execute_cell(cell, index[key])
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if bool(errors) != bool(step.get("raises", False)):
                what = f"{errors[0].ename}: {errors[0].evalue}" if errors else "no error, but the manifest expects one"
                session.errors.append(f"cell {key!r}: {what}")
    session.seconds = time.perf_counter() - started
    nbformat.write(nb, path)  # as a frontend's save would
    return session


def recorded_runs(store: Path) -> list[Any]:
    """The runs a session recorded, oldest first."""
    import nbtrack
    from nbtrack.store import local as store_mod

    frame = nbtrack.runs(store=store)
    runs = [nbtrack.get_run(run_id, store=store) for run_id in reversed(list(frame["run_id"]))] if len(frame) else []
    store_mod._stores.pop(store.absolute(), None)  # the benchmark opens many stores: free each
    return runs


def measurable(run: Any) -> bool:
    """A run that finished with metrics: something an export can reproduce."""
    return getattr(run.status, "value", run.status) == "finished" and bool(run.metrics)


# checking an export --------------------------------------------------------------------------------------


def same_metrics(a: dict[str, float], b: dict[str, float] | None) -> bool:
    if b is None or set(a) - set(b):
        return False
    for name, value in a.items():
        x, y = float(value), float(b[name])
        if not (x == y or (math.isnan(x) and math.isnan(y))):
            return False
    return True


def run_script(script: Path, cwd: Path) -> tuple[int | None, dict[str, float] | None, str]:
    """Execute an exported script as a user would (``python script.py``); the metrics of its last stdout line."""
    with tempfile.TemporaryDirectory(prefix="nbtrack-corpus-check-") as scratch:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env.update(NBTRACK_DIR=str(Path(scratch) / "store"), MPLBACKEND="Agg", **THREADS)
        try:
            proc = subprocess.run(
                [sys.executable, str(script)],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=SCRIPT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None, None, "timed out"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    metrics = None
    if proc.returncode == 0 and lines:
        try:
            metrics = {k: float(v) for k, v in json.loads(lines[-1]).items()}
        except (ValueError, AttributeError, TypeError):
            metrics = None
    last = next((line for line in reversed(proc.stderr.splitlines()) if line.strip()), "")
    return proc.returncode, metrics, last


@dataclass
class RunResult:
    notebook: str
    run: str  # the run's name
    run_id: str
    metrics: dict[str, float]
    deterministic: bool | None  # None: the second session recorded no matching run
    second_metrics: dict[str, float] | None = None
    verified: bool | None = None  # None: the export raised
    export_error: str | None = None
    cause: str | None = None
    differences: dict[str, Any] = field(default_factory=dict)
    added: list[Any] = field(default_factory=list)
    kept: int = 0
    history: int = 0
    executions: int = 0
    export_s: float = 0.0
    check_exit: int | None = None
    check_metrics: dict[str, float] | None = None
    check_stderr: str = ""
    marked: bool = True  # the script's header says what the result says
    wrong: bool = False
    script: str = ""


def check_run(entry_id: str, run: Any, second: Any | None, exports: Path, store: Path) -> RunResult:
    import nbtrack
    from nbtrack.errors import NbtrackError

    metrics = {k: float(v) for k, v in run.metrics.items()}
    second_metrics = {k: float(v) for k, v in second.metrics.items()} if second is not None else None
    result = RunResult(
        entry_id,
        run.name or "",
        run.id,
        metrics,
        deterministic=None if second_metrics is None else same_metrics(metrics, second_metrics),
        second_metrics=second_metrics,
    )
    target = exports / f"{run.name or 'run'}-{run.id[-6:]}" / "script.py"
    started = time.perf_counter()
    try:
        exported = nbtrack.export(run, path=target, store=store, verify=True, quiet=True)
    except (NbtrackError, ValueError, LookupError, OSError) as exc:
        result.export_s = time.perf_counter() - started
        result.export_error = f"{type(exc).__name__}: {exc}"
        return result  # refused: marked, never wrong
    result.export_s = time.perf_counter() - started
    v = exported.verification
    result.verified, result.cause = exported.verified, exported.cause
    result.differences = {k: list(d) for k, d in exported.differences.items()}
    result.added = [list(a) for a in exported.added]
    result.executions = v.executions if v is not None else 0
    result.script = str(exported)
    header = Path(exported).read_text(encoding="utf-8")[:4000]
    result.marked = ("UNVERIFIED" in header) == (exported.verified is False)
    cwd = run.env.get("cwd")
    code, got, last = run_script(Path(exported), Path(cwd) if isinstance(cwd, str) else exports)
    result.check_exit, result.check_metrics, result.check_stderr = code, got, last
    reproduced = code == 0 and same_metrics(metrics, got)
    result.wrong = (exported.verified is True and not reproduced) or not result.marked
    return result


def plan_sizes(result: RunResult, run: Any, store: Path) -> None:
    """Cells kept by the static slice (before verification), of the history: for the table."""
    from nbtrack.exporting.plan import plan_export

    try:
        plan = plan_export(run, store=store)
    except Exception:  # only a figure for the table; the export itself reported the error
        return
    result.kept, result.history = len(plan.cells), plan.history_len


# the report ----------------------------------------------------------------------------------------------


def yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "-"}[value]


def print_table(results: list[RunResult]) -> None:
    head = f"{'notebook':30} {'run':22} {'determ.':7} {'verified':8} {'wrong':5} {'kept':>7} {'export':>7}  cause"
    print(head)
    print("-" * len(head))
    for r in results:
        print_row(r)


def print_row(r: RunResult, flush: bool = False) -> None:
    """One run's line of the table."""
    verified = "error" if r.export_error else yes_no(r.verified)
    cause = r.export_error or r.cause or ""
    if r.added:
        cause = (cause + "; " if cause else "") + "added " + ", ".join(a[0] for a in r.added)
    if r.differences:
        cause += " [" + ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in r.differences.items()) + "]"
    kept = f"{r.kept}/{r.history}" if r.history else "-"
    print(
        f"{r.notebook[:30]:30} {r.run[:22]:22} {yes_no(r.deterministic):7} {verified:8} "
        f"{'WRONG' if r.wrong else 'no':5} {kept:>7} {r.export_s:6.1f}s  {cause[:160]}",
        flush=flush,
    )


def counts(results: list[RunResult]) -> dict[str, int]:
    det = [r for r in results if r.deterministic]
    return {
        "runs": len(results),
        "notebooks": len({r.notebook for r in results}),
        "deterministic": len(det),
        "deterministic_verified": sum(r.verified is True for r in det),
        "deterministic_unverified": sum(r.verified is not True for r in det),
        "nondeterministic": sum(r.deterministic is False for r in results),
        "nondeterministic_verified": sum(r.deterministic is False and r.verified is True for r in results),
        "verified": sum(r.verified is True for r in results),
        "unverified": sum(r.verified is False for r in results),
        "export_errors": sum(r.export_error is not None for r in results),
        "widened": sum(bool(r.added) for r in results),
        "wrong": sum(r.wrong for r in results),
    }


def git_head() -> str:
    import nbtrack

    src = Path(nbtrack.__file__ or ".").resolve().parent
    out = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True, text=True)
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="fetched git dirs (owner+name/repo)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the originals are copied")
    parser.add_argument("--only", action="append", default=[], help="notebook id prefix; repeatable")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print where it is")
    parser.add_argument("--output", type=Path, help="JSON results (default: bench/results/corpus-<time>.json)")
    args = parser.parse_args()
    os.environ.update(THREADS)  # inherited by the verification's own executions too

    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    entries = [e for e in manifest["notebooks"] if not args.only or any(e["id"].startswith(p) for p in args.only)]
    load = os.getloadavg()[0]
    print(f"nbtrack corpus benchmark: nbtrack {git_head()}, Python {platform.python_version()}, load {load:.2f}")
    work = Path(tempfile.mkdtemp(prefix="nbtrack-corpus-"))
    results: list[RunResult] = []
    problems: dict[str, str] = {}
    try:
        for entry in entries:
            original = fetch_original(entry, args.mirror, args.cache)
            if original is None:
                print(f"skipped {entry['id']}: {entry['repo']} is not fetched under {args.mirror}")
                problems[entry["id"]] = "not fetched"
                continue
            originals = code_cells(original)
            folder = work / entry["id"]
            try:
                first = execute_notebook(entry, originals, folder / "first")
                second = execute_notebook(entry, originals, folder / "second")
            except CorpusError as exc:
                print(f"skipped {entry['id']}: {exc}")
                problems[entry["id"]] = str(exc)
                continue
            if first.errors:
                print(f"{entry['id']}: unexpected cell errors: {'; '.join(first.errors)}")
                problems[entry["id"]] = "; ".join(first.errors)
            runs, again = recorded_runs(first.store), recorded_runs(second.store)
            failed = [r for r in runs if not measurable(r)]
            if failed:  # a tracked cell that raised, or logged nothing: no metric to reproduce
                print(f"{entry['id']}: not measured (failed or no metric): {', '.join(r.name or r.id for r in failed)}")
            again = [r for r in again if measurable(r)]
            runs = [r for r in runs if r not in failed]
            print(f"{entry['id']}: {len(runs)} runs, session {first.seconds:.1f} s + {second.seconds:.1f} s")
            for i, run in enumerate(runs):
                other = again[i] if i < len(again) and again[i].name == run.name else None
                result = check_run(entry["id"], run, other, folder / "exports", first.store)
                plan_sizes(result, run, first.store)
                results.append(result)
                print_row(result, flush=True)  # as it comes: a long corpus run shows its verdicts early
            recorded_runs(first.store)  # closes the store the exports opened
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(results)
    total = counts(results)
    print()
    det = total["deterministic"]
    share = f"{100 * total['deterministic_verified'] / det:.0f}%" if det else "n/a"
    print(
        f"{total['runs']} runs from {total['notebooks']} notebooks: {det} deterministic, "
        f"{total['deterministic_verified']} of them verified ({share}; target 100%: "
        f"{'met' if total['deterministic_unverified'] == 0 else 'NOT met'}); "
        f"{total['nondeterministic']} not deterministic ({total['nondeterministic_verified']} verified anyway); "
        f"{total['widened']} widened; {total['export_errors']} export errors"
    )
    print(
        f"wrong exports (verified but not reproducing, or unmarked): {total['wrong']} (target 0: "
        f"{'met' if total['wrong'] == 0 else 'NOT met'})"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = args.output or RESULTS_DIR / f"corpus-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "nbtrack": git_head(),
                "load": [load, os.getloadavg()[0]],
                "counts": total,
                "problems": problems,
                "runs": [asdict(r) for r in results],
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
