"""Verification, part of every export: run the exported script, compare its metrics with the run's.

A wrong export is worse than none: it silently trains a different model. So :func:`verify_plan` executes
the rendered script in a fresh interpreter (``sys.executable``; the working directory the run recorded; the
run's params, which are the script's defaults; a temporary store, so the user's store gets no runs from
it; a time limit) and compares every metric the run recorded: exactly (NaN equals NaN), or within the
``tolerance`` the user gives.

When the metrics differ, the slice may have missed a cell (a mutation through an alias, a call with side
effects), so the search *adds all, then narrows*: it re-executes with every omitted cell added; if that
reproduces the metrics, it tries the most suspicious omitted cell alone, then bisects over the ranked
candidates (a prefix of the ranking), keeping the smallest prefix that matched; at most
:data:`MAX_EXECUTIONS` executions in all (the first included), and the cells it had to add are reported
with why each was suspicious. When even the full history does not reproduce the metrics (unseeded
randomness, a missing input, timing), the export is written anyway and marked **unverified**, with the
metrics that differed and a best guess at the cause (:func:`likely_cause`).

The seam with the slicer is :func:`plan_including` (the plan with extra history cells) and
:func:`candidates` (the omitted cells, most suspicious first): the only places that know how a
:class:`~nbtrack.exporting.plan.Plan` is widened.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.exporting.plan import Plan, plan_export
from nbtrack.exporting.render import render_script

MAX_EXECUTIONS = 5
MUTATING_METHODS = frozenset(
    {"append", "extend", "insert", "pop", "remove", "clear", "update", "sort", "reverse", "add", "discard", "fit"}
    | {"partial_fit", "setdefault", "popitem", "resize", "shuffle", "put", "fill", "__setitem__"}
)
# pandas' drop, fillna, rename, dropna, sort_values... return a changed copy: they mutate only with inplace=True
# (checked below). `test.drop(columns="y")` in a scoring cell is a read; ranked as a mutation, it sent the
# widening after the wrong cell first (the corpus benchmark's sweep runs, bench/corpus/RESULTS.md)
# env vars the script must not inherit from a kernel or a shell: they would point it at the user's runs
_SCRUBBED_ENV = ("NBTRACK_EXPERIMENT", "JPY_SESSION_NAME", "NBTRACK_TRACKING_URI", "JPY_PARENT_PID")

Tolerance = float | Mapping[str, float] | None


@dataclass
class Execution:
    """One run of the script: how it ended, and the metrics it printed."""

    returncode: int | None  # None: killed at the time limit
    metrics: dict[str, float] | None
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


@dataclass
class Verification:
    """The outcome of verifying an export (``verified`` False: the header, the result and the views say so)."""

    verified: bool
    differences: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    cause: str | None = None
    added: list[tuple[str, str]] = field(default_factory=list)  # (In[n], why it was suspicious)
    executions: int = 0
    seconds: float = 0.0  # the last execution's wall time
    checked_at: float = 0.0
    metrics: list[str] = field(default_factory=list)  # the metrics compared
    tolerance: Tolerance = None

    def summary(self) -> str:
        """A few lines saying what verification found, for the CLI, the notebook and the views."""
        n = len(self.metrics)
        how = "exactly" if not self.tolerance else f"within {format_tolerance(self.tolerance)}"
        if self.verified:
            text = f"verified: the {n} metric{'s' if n != 1 else ''} the run recorded reproduced {how}"
            text += f" ({self.executions} execution{'s' if self.executions != 1 else ''}, {self.seconds:.1f} s)"
            if self.added:
                text += "; cells added to the slice: " + "; ".join(f"{label} ({why})" for label, why in self.added)
            return text
        lines = ["UNVERIFIED: re-executing the script did not reproduce the run's metrics"]
        lines += [f"  {name}: {describe_difference(a, b)}" for name, (a, b) in self.differences.items()]
        lines.append(f"  likely cause: {self.cause or 'unknown'}")
        return "\n".join(lines)


def format_tolerance(tolerance: Tolerance) -> str:
    if isinstance(tolerance, Mapping):
        return ", ".join(f"{k} {v:g}" for k, v in tolerance.items())
    return f"abs {tolerance:g}" if tolerance is not None else "exact"


def describe_difference(recorded: float | None, reproduced: float | None) -> str:
    if reproduced is None:
        return f"recorded {recorded!r}, not reproduced (the script did not log it)"
    if recorded is None:
        return f"not recorded, reproduced {reproduced!r}"
    delta = reproduced - recorded
    return f"recorded {recorded!r}, reproduced {reproduced!r} (off by {delta:+.3g})"


# comparing ----------------------------------------------------------------------------------------------


def _same(a: float, b: float, tolerance: Tolerance) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    if tolerance is None:
        return False
    if isinstance(tolerance, Mapping):
        rel, abs_ = float(tolerance.get("rel", 0.0)), float(tolerance.get("abs", 0.0))
    else:
        rel, abs_ = 0.0, float(tolerance)
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def compare_metrics(
    recorded: Mapping[str, float], reproduced: Mapping[str, float] | None, tolerance: Tolerance = None
) -> dict[str, tuple[float | None, float | None]]:
    """``{metric: (recorded, reproduced)}`` for every recorded metric the script did not reproduce."""
    got = reproduced or {}
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, value in recorded.items():
        want = float(value)
        if name not in got:
            out[name] = (want, None)
        elif not _same(want, float(got[name]), tolerance):
            out[name] = (want, float(got[name]))
    return out


# executing ----------------------------------------------------------------------------------------------


def default_timeout(plan: Plan) -> float:
    """Ten times the run's own duration, plus a minute for imports and a cold disk."""
    return 10 * float(plan.run.duration or 0.0) + 60.0


def workdir(plan: Plan) -> Path:
    """Where the run ran (relative data paths resolve there), else the current directory."""
    cwd = plan.run.env.get("cwd")
    return Path(cwd) if isinstance(cwd, str) and Path(cwd).is_dir() else Path.cwd()


def script_env(store_dir: Path) -> dict[str, str]:
    """The environment an exported script runs in: this one without what points at the user's runs, a
    temporary store ``store_dir`` and a non-interactive plotting backend (also used by nbtrack.jobs)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(NBTRACK_DIR=str(store_dir), MPLBACKEND="Agg")
    return env


def execute(script: Path, cwd: Path, timeout: float, *, args: tuple[str, ...] = ()) -> Execution:
    """Run ``script`` in a fresh interpreter with a temporary store; kill its process group at ``timeout``."""
    scratch = Path(tempfile.mkdtemp(prefix="nbtrack-verify-"))
    metrics_file = scratch / "metrics.json"
    env = script_env(scratch / "store")
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--metrics-file", str(metrics_file), *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            code = None
        metrics = None
        if code == 0 and metrics_file.exists():
            with contextlib.suppress(ValueError, OSError):
                metrics = {k: float(v) for k, v in json.loads(metrics_file.read_text(encoding="utf-8")).items()}
        return Execution(code, metrics, stderr or "", time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# widening: the seam with the slicer ---------------------------------------------------------------------


@dataclass
class Candidate:
    index: int  # position in the run's history
    label: str
    score: int
    why: str


def _names(tree: ast.AST, ctx: type) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def suspicion(code: str, used: set[str]) -> tuple[int, str]:
    """How likely an omitted cell changes what the kept cells use, and why: mutations of a used name (directly,
    through a loop variable or an alias), then calls with possible side effects, then mere reads."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return -1, "not valid Python"
    aliases: dict[str, set[str]] = {}  # a loop target or plain alias -> the used names it is bound to
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name):
            bound = _names(node.iter, ast.Load) & used
            if bound:
                aliases.setdefault(node.target.id, set()).update(bound)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in used:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    aliases.setdefault(target.id, set()).add(node.value.id)
    mutated: set[str] = set()
    through: set[str] = set()
    for node in ast.walk(tree):
        roots: list[str | None] = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            roots = [_root(t) for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))]
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                roots.append(node.target.id)
        elif isinstance(node, ast.Call):
            func = node.func
            inplace = any(k.arg == "inplace" and getattr(k.value, "value", None) is True for k in node.keywords)
            if isinstance(func, ast.Attribute) and (func.attr in MUTATING_METHODS or inplace):
                roots = [_root(func.value)]
            elif isinstance(func, ast.Name) and func.id in {"setattr", "delattr"} and node.args:
                roots = [_root(node.args[0])]
        for root in roots:
            if root in used:
                mutated.add(root)
            elif root in aliases:
                mutated |= aliases[root]
                through |= aliases[root]
    if mutated:
        how = " through a loop variable or alias" if through else ""
        return 3, f"mutates {', '.join(sorted(mutated))}{how}, which the run uses"
    reads = (_names(tree, ast.Load) | _names(tree, ast.Store)) & used
    calls = any(isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) for s in ast.walk(tree))
    if reads and calls:
        return 2, f"calls code with possible side effects on {', '.join(sorted(reads))}"
    if reads:
        return 1, f"touches {', '.join(sorted(reads))}, which the run uses"
    return 0, "ran before the tracked cell"


def candidates(base: Plan, full: Plan) -> list[Candidate]:
    """The cells the base plan omitted that a widened plan can add, most suspicious first (later cells first
    among equals: closer to the run). Cells that write the export's own data inputs belong upstream: skipped."""
    kept = {c.index for c in base.cells}
    used: set[str] = set()
    for cell in base.cells:
        with contextlib.suppress(SyntaxError):
            used |= _names(ast.parse(cell.code), ast.Load)
    reasons = {label: reason for label, _first, reason in base.omitted}
    found = []
    for cell in full.cells[:-1]:
        if cell.index in kept or "an input of this export" in reasons.get(cell.label, ""):
            continue
        score, why = suspicion(cell.code, used)
        if score >= 0:
            found.append(Candidate(cell.index, cell.label, score, why))
    return sorted(found, key=lambda c: (-c.score, -c.index))


def plan_including(base: Plan, full: Plan, include: set[int], store: Any = None) -> Plan:
    """``base`` with the history cells ``include`` added (taken from ``full``, the unsliced plan).

    Uses ``plan_export(run, include=...)`` when the slicer offers it; else builds the plan here."""
    if not include:
        return base
    if "include" in inspect.signature(plan_export).parameters:
        return plan_export(base.run, include=sorted(include), store=store)
    wanted = {c.index for c in base.cells} | include
    first_guard = {name: cell.index for cell in full.cells for name in cell.guards}
    cells = [dataclasses.replace(c, guards=[]) for c in full.cells if c.index in wanted]
    cells[-1] = dataclasses.replace(base.cells[-1], guards=[])
    for info in base.files:
        at = first_guard.get(info["name"], cells[0].index)
        where = next((c for c in cells if c.index >= at), cells[-1])
        where.guards.append(info["name"])
    labels = {c.label for c in cells}
    return dataclasses.replace(
        base,
        cells=cells,
        omitted=[o for o in base.omitted if o[0] not in labels],
        requirements=full.requirements,
        helpers=base.helpers | {h for c in cells for h in c.translation.helpers},
        needs_display=base.needs_display or full.needs_display,
    )


# the search ---------------------------------------------------------------------------------------------

_RANDOM_DRAW = re.compile(
    r"\b(?:np\.random|numpy\.random|random)\.(?:rand|randn|randint|random|choice|shuffle|permutation|normal|uniform"
    r"|sample|integers|random_sample)\s*\("
)
_SEEDS = re.compile(r"\b(?:seed|manual_seed|set_seed)\s*\(")


def likely_cause(plan: Plan, execution: Execution, differences: Mapping[str, Any]) -> str:
    """A best guess at why the metrics were not reproduced, from how the script ended and its code."""
    if execution.timed_out:
        return f"timed out after {execution.seconds:.0f} s (the time limit)"
    last = next((line.strip() for line in reversed(execution.stderr.splitlines()) if line.strip()), "")
    if execution.returncode == 3 and "data check failed" in execution.stderr:
        message = next(line for line in execution.stderr.splitlines() if "data check failed" in line)
        if " not found " in message:
            return "missing input file: " + message.split("data check failed: ", 1)[-1].split(";")[0]
        return message.split("nbtrack: ", 1)[-1].split(";")[0]
    if execution.returncode != 0:
        if "FileNotFoundError" in last or "No such file" in last:
            return f"missing input file: {last}"
        return f"script failed: {last or f'exit code {execution.returncode}'}"
    for cell in plan.cells:
        code = cell.code
        if re.search(r"random_state\s*=\s*None", code):
            return f"unseeded randomness (random_state=None in {cell.label})"
        if re.search(r"default_rng\(\s*\)", code):
            return f"unseeded randomness (default_rng() without a seed in {cell.label})"
        draw = _RANDOM_DRAW.search(code)
        if draw and not any(_SEEDS.search(c.code) for c in plan.cells if c.index <= cell.index):
            return f"unseeded randomness ({draw.group(0).rstrip('( ')}() in {cell.label}, no seed set before it)"
        if re.search(r"\btime\.(?:time|perf_counter|monotonic)\s*\(|\bdatetime\.now\s*\(", code):
            return f"timing-dependent code (the clock is read in {cell.label})"
    if any(b is None for _a, b in differences.values()):
        return "the script did not log every metric the run recorded"
    return "nondeterministic code (unseeded randomness in a library, threads, hash order)"


def verify_plan(
    plan: Plan,
    *,
    timeout: float | None = None,
    tolerance: Tolerance = None,
    widen: bool = True,
    store: Any = None,
    full: Callable[[], Plan] | None = None,
) -> tuple[Plan, Verification]:
    """Execute ``plan``'s script and compare metrics; on a difference widen it (see the module docstring).

    Returns the plan to write (``plan``, or a widened one that reproduced the metrics) and the outcome."""
    recorded = dict(plan.run.metrics)
    limit = timeout if timeout is not None else default_timeout(plan)
    cwd = workdir(plan)
    outcome = Verification(verified=False, metrics=sorted(recorded), tolerance=tolerance, checked_at=time.time())
    with tempfile.TemporaryDirectory(prefix="nbtrack-verify-") as tmp:
        tries: dict[frozenset[int], tuple[bool, Execution, dict[str, Any]]] = {}

        def attempt(p: Plan, again: bool = False) -> tuple[bool, Execution, dict[str, Any]]:
            key = frozenset(c.index for c in p.cells)
            if key not in tries or again:
                script = Path(tmp) / f"{p.slug}-{len(tries)}.py"
                script.write_text(render_script(p), encoding="utf-8")
                run = execute(script, cwd, limit)
                diff = compare_metrics(recorded, run.metrics, tolerance) if run.returncode == 0 else {}
                if run.returncode != 0:
                    diff = {k: (float(v), None) for k, v in recorded.items()}
                tries[key] = (run.returncode == 0 and not diff, run, diff)
                outcome.executions += 1
                outcome.seconds = run.seconds
            return tries[key]

        ok, first, first_diff = attempt(plan)
        if ok and not recorded:  # a script that merely runs reproduces nothing the run can be checked against
            outcome.cause = (
                "nothing to compare: the run recorded no metrics (the script ran to the end in "
                f"{first.seconds:.1f} s); log a metric in the tracked cell to verify its export"
            )
            return plan, outcome
        if ok:
            outcome.verified = True
            return plan, outcome
        chosen = _widen(plan, attempt, store, full) if widen and not first.timed_out else None
        if chosen is not None:
            widened, added = chosen
            # The first execution differed and a wider one matched: once can be luck (a score that takes few
            # values, an unseeded model), so the widened script must reproduce the metrics a second time.
            again, rerun, rerun_diff = attempt(widened, again=True)
            if again:
                outcome.verified, outcome.added = True, added
                return widened, outcome
            outcome.differences = rerun_diff or first_diff
            outcome.cause = (
                "nondeterministic code: a widened script reproduced the metrics once and not the next time; "
                + likely_cause(widened, rerun, rerun_diff or first_diff)
            )
            return plan, outcome
        outcome.differences = first_diff
        outcome.cause = likely_cause(plan, first, first_diff)
        return plan, outcome


def _widen(
    plan: Plan, attempt: Callable[[Plan], tuple[bool, Execution, dict[str, Any]]], store: Any, full_plan: Any
) -> tuple[Plan, list[tuple[str, str]]] | None:
    """Add all omitted cells; if that reproduces the metrics, narrow to the smallest matching prefix of the
    ranking within the execution budget. None when even the full history does not reproduce them."""
    try:
        full = full_plan() if full_plan is not None else plan_export(plan.run, slice=False, store=store)
    except Exception:  # a cell the slice left out cannot be plain Python: nothing to widen with
        return None
    ranked = candidates(plan, full)
    if not ranked:
        return None
    budget = MAX_EXECUTIONS - 1  # the first execution is spent

    def with_prefix(k: int) -> Plan:
        return plan_including(plan, full, {c.index for c in ranked[:k]}, store)

    ok, _run, _diff = attempt(with_prefix(len(ranked)))
    budget -= 1
    if not ok:
        return None
    lo, hi = 0, len(ranked)  # prefix lo does not reproduce, prefix hi does
    if hi > 1 and budget > 0:
        budget -= 1
        if attempt(with_prefix(1))[0]:
            hi = 1
        else:
            lo = 1
    while hi - lo > 1 and budget > 0:
        mid = (lo + hi) // 2
        budget -= 1
        if attempt(with_prefix(mid))[0]:
            hi = mid
        else:
            lo = mid
    return with_prefix(hi), [(c.label, c.why) for c in sorted(ranked[:hi], key=lambda c: c.index)]
