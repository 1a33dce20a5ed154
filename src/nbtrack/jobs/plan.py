"""What a job runs: which groups need more runs, each group's script and seed param, new seeds, the time.

A group needs more runs while one of its pairs is not ``decided`` by ``compare(..., sequential=True)`` (the
anytime-valid test, so looking again after every run keeps the false-verdict rate) or while it has fewer
than 3 runs; each group runs its representative run's verified exported script (exported once per job into
``.nbtrack/jobs/<job>/``), with a new seed and otherwise the group's params. A group whose export does not
reproduce its run's metrics is refused: rerunning it would record runs of some other code.

New seeds never collide with a seed recorded in any group of the job (nor one already planned), and every
group gets the same new seeds in a round, so the sequential test pairs runs by seed.
:func:`preview` is what a "Run more" button shows before asking: groups, seeds and estimated seconds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.analysis.grouping import is_seed_like
from nbtrack.errors import JobError
from nbtrack.jobs.tasks import file_digest
from nbtrack.run import Run, Status
from nbtrack.store.local import Store, get_store

MIN_RUNS = 3  # below this no test decides anything ("needs more runs")
MAX_INPUT_BYTES = 1 << 30  # inputs larger than this are not copied into the store for remote workers
SEED_ORDER = ("seed", "random_state", "random_seed", "rng_seed")  # preferred when a run has several


@dataclass
class GroupState:
    """One configuration a job adds runs to (JSON-able: persisted in the job's state file)."""

    key: str  # g0, g1, ... (stable across resumes)
    label: str  # the comparison's label, e.g. "C=0.1"
    run: str  # the representative run, whose script runs
    params: dict[str, Any]  # the params a task runs with, seed excluded (encoded like a record's params)
    seed_param: str
    seconds: float | None = None  # median duration of the group's recorded runs
    script: str | None = None  # path of the verified exported script
    cwd: str | None = None
    inputs: dict[str, str] | None = None  # relative path -> blob digest; None until an engine that ships needs it
    runs: list[str] = field(default_factory=list)  # every run id of the group (recorded and added)
    args: dict[str, Any] = field(default_factory=dict)  # params passed on the command line besides the seed


def comparison_runs(cmp: Any) -> dict[str, list[str]]:
    """group label -> run ids of a Comparison (its tidy ``runs`` frame), in order."""
    out: dict[str, list[str]] = {}
    if cmp.runs is None or len(cmp.runs) == 0:
        return out
    for label, run_id in zip(cmp.runs["group"], cmp.runs["run_id"], strict=True):
        ids = out.setdefault(str(label), [])
        if run_id not in ids:
            ids.append(str(run_id))
    return out


def pick_seed_param(params: Iterable[str], config: Iterable[str], declared: str | None = None) -> str:
    """The param a new run varies: ``declared``, else the seed-like param not in the configuration."""
    names = list(params)
    if declared:
        return declared
    config_names = set(config)
    seeds = [p for p in names if is_seed_like(p) and p not in config_names]
    if not seeds:
        raise JobError(
            f"no seed-like param among {', '.join(names) or 'no params'}: a new run would repeat a recorded one; "
            "pass seed_param= naming the param to vary"
        )
    return sorted(seeds, key=lambda p: (SEED_ORDER.index(p.lower()) if p.lower() in SEED_ORDER else 99, p))[0]


def representative(docs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The run whose script a group reruns: the latest finished run recorded from a notebook (it has a
    history to export), else the latest finished run."""
    finished = [d for d in docs if d.get("status") == Status.FINISHED.value]
    if not finished:
        raise JobError("the group has no finished run to rerun")
    with_history = [d for d in finished if d.get("history")] or finished
    return max(with_history, key=lambda d: float(d.get("start_time") or 0.0))


def used_seeds(store: Store, run_ids: Iterable[str], seed_params: Iterable[str]) -> set[Any]:
    """Every value a seed param has in these runs (failed ones included: their seeds are spent)."""
    names = set(seed_params)
    docs = store.run_docs()
    out: set[Any] = set()
    for run_id in run_ids:
        doc = docs.get(run_id)
        if doc is None:
            continue
        params = Run.from_doc(doc).params
        for name in names:
            if name in params:
                value = params[name]
                out.add(value.item() if hasattr(value, "item") else value)
    return out


def new_seeds(used: Iterable[Any], count: int, explicit: Sequence[Any] | None = None) -> list[Any]:
    """``count`` seeds none of which is in ``used``: from ``explicit`` in order, else the integers after the
    largest integer seed used (never one used)."""
    taken = set(used)
    if explicit is not None:
        return [s for s in explicit if s not in taken][:count]
    ints = [int(s) for s in taken if isinstance(s, int) and not isinstance(s, bool)]
    nxt = max(ints) + 1 if ints else 0
    out: list[Any] = []
    while len(out) < count:
        if nxt not in taken:
            out.append(nxt)
        nxt += 1
    return out


def median_seconds(store: Store, run_ids: Iterable[str]) -> float | None:
    docs = store.run_docs()
    durations = [float(d["duration"]) for r in run_ids if (d := docs.get(r)) and d.get("duration") is not None]
    return statistics.median(durations) if durations else None


def needs(cmp: Any, counts: Mapping[str, int], max_runs: int | None, until: str | None = "decided") -> dict[str, int]:
    """group label -> runs to add next: groups of an undecided pair (``runs_more``, else 1) and groups under
    :data:`MIN_RUNS` runs; ``until=None`` every group, up to ``max_runs``; none past ``max_runs``."""
    want: dict[str, int] = {}
    pairs = cmp.pairs
    for label, n in counts.items():
        if n < MIN_RUNS:
            want[label] = MIN_RUNS - n
    if until is None:  # no question to decide: every group to max_runs (or one more run without a maximum)
        for label, n in counts.items():
            want[label] = max(want.get(label, 0), (max_runs - n) if max_runs is not None else 1)
    elif pairs is not None and len(pairs):
        decided = pairs["decided"] if "decided" in pairs.columns else [False] * len(pairs)
        more = pairs["runs_more"] if "runs_more" in pairs.columns else [None] * len(pairs)
        for group, reference, done, extra in zip(pairs["group"], pairs["reference"], decided, more, strict=True):
            if bool(done):
                continue
            k = _count(extra)
            for label in (str(group), str(reference)):
                want[label] = max(want.get(label, 0), k)
    if max_runs is not None:
        want = {g: min(k, max_runs - counts.get(g, 0)) for g, k in want.items()}
    return {g: k for g, k in want.items() if k > 0 and g in counts}


def _count(value: Any) -> int:
    """``runs_more`` as a count: 1 when it is missing (NA, NaN, None)."""
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return 1


def decided_pairs(cmp: Any) -> tuple[int, int]:
    """(decided, all) pairs of a comparison."""
    pairs = cmp.pairs
    if pairs is None or not len(pairs):
        return 0, 0
    if "decided" not in pairs.columns:
        return 0, len(pairs)
    return int(pairs["decided"].fillna(False).astype(bool).sum()), len(pairs)


def task_inputs(store: Store, run: Run, cwd: Path | None) -> dict[str, str]:
    """The files the run read (relative to where it ran) as blobs of the owner's store: relative path ->
    digest, so a worker without this file system fetches them by content."""
    if cwd is None or not cwd.is_dir():
        return {}
    rel_paths = set(run.files_read)
    for record in run.data_records.values():
        path = record.get("path") if isinstance(record, dict) else None
        if isinstance(path, str) and not Path(path).is_absolute():
            rel_paths.add(path)
    out: dict[str, str] = {}
    for rel in sorted(rel_paths):
        path = cwd / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not path.is_file():
            continue
        if path.stat().st_size > MAX_INPUT_BYTES:
            continue
        digest = file_digest(path)
        if not store.has_blob(digest):
            store.put_blob(path.read_bytes())
        out[rel] = digest
    return out


def export_group(store: Store, group: GroupState, folder: Path) -> None:
    """Export the group's representative run once, verified; refuse it (JobError, saying why) if unverified."""
    from nbtrack.exporting.exporter import export

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{group.key}.py"
    try:
        result = export(group.run, path=target, store=store, verify=True, quiet=True)
    except Exception as exc:
        raise JobError(f"group {group.label}: run {group.run} cannot be exported ({exc}); nothing was run") from exc
    if not result.verified:
        raise JobError(
            f"group {group.label}: the exported script of run {group.run} does not reproduce its metrics "
            f"({result.cause or 'unknown cause'}), so new runs would not be runs of this configuration; "
            f"fix the notebook (e.g. seed the randomness) and record the run again. Script: {result}"
        )
    group.script = str(result)
    run = Run.from_doc(store.get_doc(group.run), store)
    cwd = run.env_record.get("cwd") if isinstance(run.env_record, dict) else None
    group.cwd = cwd if isinstance(cwd, str) else None


def ship_inputs(store: Store, group: GroupState) -> dict[str, str]:
    """The group's inputs as blobs of the owner's store, computed once (for engines whose workers may not share
    this file system; the local engine runs where the run ran and the script checks its data itself)."""
    if group.inputs is None:
        run = Run.from_doc(store.get_doc(group.run), store)
        group.inputs = task_inputs(store, run, Path(group.cwd) if group.cwd else None)
    return group.inputs


def groups_of(cmp: Any, store: Store, seed_param: str | None = None) -> list[GroupState]:
    """One :class:`GroupState` per group of a comparison (not yet exported)."""
    docs = store.run_docs()
    out = []
    for i, (label, run_ids) in enumerate(comparison_runs(cmp).items()):
        group_docs = [docs[r] for r in run_ids if r in docs]
        try:
            rep = representative(group_docs)
        except JobError as exc:
            raise JobError(f"group {label}: {exc}") from None
        params = dict(rep.get("params") or {})
        seed = pick_seed_param(params, cmp.params, seed_param)
        params.pop(seed, None)
        out.append(
            GroupState(f"g{i}", label, str(rep["id"]), params, seed, median_seconds(store, run_ids), runs=run_ids)
        )
    return out


def preview(
    comparison: Any, *, max_runs: int = 30, workers: int | None = None, seeds: Sequence[Any] | None = None
) -> dict[str, Any]:
    """What ``run_more(comparison)`` would run next, without running or exporting anything: ``{"groups":
    [{"group", "runs", "new_runs", "seeds", "seconds"}], "runs", "seconds", "workers"}`` (``seconds`` estimated
    from the runs' recorded durations over ``workers`` parallel runs; None when no run recorded one)."""
    import os

    store = get_store(comparison.store)
    groups = groups_of(comparison, store)
    counts = {g.label: len(g.runs) for g in groups}
    want = needs(comparison, counts, max_runs)
    spent = used_seeds(store, [r for g in groups for r in g.runs], {g.seed_param for g in groups})
    rows, total, seconds = [], 0, 0.0
    known = True
    for group in groups:
        k = want.get(group.label, 0)
        rows.append(
            {
                "group": group.label,
                "runs": counts[group.label],
                "new_runs": k,
                "seed_param": group.seed_param,
                "seeds": new_seeds(spent, k, seeds),
                "seconds": None if group.seconds is None else round(group.seconds * k, 1),
            }
        )
        total += k
        if group.seconds is None:
            known = known and k == 0
        else:
            seconds += group.seconds * k
    n = max(1, int(workers or os.cpu_count() or 1))
    return {"groups": rows, "runs": total, "seconds": round(seconds / n, 1) if known else None, "workers": n}
