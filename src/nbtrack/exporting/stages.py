"""Pipelines with stages: a run whose inputs earlier tracked runs wrote exports as a chain of DVC stages.

``run.upstream`` names, for each input file, the earlier run that wrote it (:mod:`nbtrack.capture.upstream`).
Walking those links back gives the chain (prepare -> train -> evaluate). Each run of it is planned and
verified like any export and becomes its own script in one folder (``prepare.py``, ``train.py``, ...: the
run names' slugs, made unique), with its own ``NAME.params.yaml``; one ``dvc.yaml`` has a stage per run in
dependency order. A stage's ``deps`` are its script, its data files and the upstream outputs it reads; its
``outs`` the files the run wrote (``run.outputs``), so ``dvc repro`` reruns the chain in order and caches
each file. A stage whose script did not reproduce its run is marked UNVERIFIED in a comment above it.

Nothing is written here: :func:`plan_pipeline` returns the texts, :mod:`nbtrack.exporting.exporter` writes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.capture.upstream import file_inputs
from nbtrack.errors import ExportError
from nbtrack.exporting.plan import Plan, plan_export
from nbtrack.exporting.render import (
    dvc_stage_lines,
    dvc_workdir,
    mark_script,
    render_params_yaml,
    render_script,
    verification_block,
)
from nbtrack.exporting.verify import Tolerance, Verification, verify_plan
from nbtrack.run import Run

__all__ = ["Pipeline", "Stage", "chain_runs", "plan_pipeline", "render_pipeline"]


@dataclass
class Stage:
    """One run of the chain as a DVC stage: its plan, what verification found and where its files go."""

    name: str  # the stage's name and its script's stem, unique in the pipeline
    plan: Plan
    verification: Verification | None
    script: Path
    params_file: Path
    metrics_file: Path
    deps: list[str] = field(default_factory=list)  # upstream outputs it reads, relative to its wdir
    outs: list[str] = field(default_factory=list)  # the files the run wrote, relative to its wdir
    notes: list[str] = field(default_factory=list)  # comment lines above the stage in dvc.yaml

    @property
    def verified(self) -> bool | None:
        return None if self.verification is None else self.verification.verified


@dataclass
class Pipeline:
    """The stages of a chain in dependency order (the exported run last) and the folder they go to."""

    folder: Path
    stages: list[Stage]
    notes: list[str] = field(default_factory=list)  # links that could not be followed, stages left out

    def files(self) -> dict[Path, str]:
        """Every file of the export: {path: text} (scripts, params, requirements, dvc.yaml)."""
        out: dict[Path, str] = {}
        requirements: dict[str, None] = {}
        for stage in self.stages:
            block = verification_block(stage.verification, stage.plan.run.id)
            out[stage.script] = mark_script(render_script(stage.plan), block)
            out[stage.params_file] = render_params_yaml(stage.plan)
            requirements.update(dict.fromkeys(stage.plan.requirements))
        ids = ", ".join(stage.plan.run.id for stage in self.stages)
        head = f"# Packages the exported code imports, pinned to the versions recorded with runs {ids}."
        out[self.folder / "requirements.txt"] = "\n".join([head, *requirements]) + "\n"
        out[self.folder / "dvc.yaml"] = render_pipeline(self)
        return out


def _get_run(run_id: str, store: Any) -> Run:
    from nbtrack.query.search import get_run
    from nbtrack.store.local import get_store

    return get_run(run_id, store=get_store(store))


def chain_runs(run: Run, store: Any = None) -> tuple[list[Run], list[str]]:
    """``run`` and the runs upstream of it (upstream of upstream...), each before every run reading its
    outputs; plus a note for each link that could not be followed (the upstream run was deleted)."""
    order: list[Run] = []
    seen: set[str] = set()
    notes: list[str] = []

    def visit(current: Run) -> None:
        seen.add(current.id)
        for name, producer in sorted(current.upstream.items(), key=lambda item: (item[1], item[0])):
            if producer in seen:
                continue
            try:
                upstream = _get_run(producer, store)
            except (LookupError, ValueError) as exc:
                notes.append(f"{name}: written by run {producer}, which cannot be read ({exc}); a plain dep")
                seen.add(producer)
                continue
            visit(upstream)
        order.append(current)

    visit(run)
    return order, notes


def _unique(name: str, taken: set[str]) -> str:
    found, n = name, 2
    while found in taken or found in ("dvc", "requirements"):
        found, n = f"{name}_{n}", n + 1
    taken.add(found)
    return found


def _reads(run: Run) -> dict[str, set[str]]:
    """{input name: content hashes} of the files the run read, the keys ``run.upstream`` uses."""
    found = file_inputs(run.data_records)
    for path, digest in (run.files_read or {}).items():
        found.setdefault(path, set()).add(digest)
    return found


def _rel(path: Path, workdir: Path) -> str:
    return Path(os.path.relpath(path, workdir)).as_posix()


def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _link_stages(pipeline: Pipeline) -> None:
    """Fill each stage's deps (the upstream outputs it reads) and outs (what its run wrote)."""
    by_run = {stage.plan.run.id: stage for stage in pipeline.stages}
    owner: dict[Path, str] = {}  # absolute output path -> the stage that has it as an out
    for stage in pipeline.stages:
        run = stage.plan.run
        workdir = dvc_workdir(stage.plan, pipeline.folder)
        reads = _reads(run)
        for name, producer in run.upstream.items():
            upstream = by_run.get(producer)
            if upstream is None:
                continue
            there = dvc_workdir(upstream.plan, pipeline.folder)
            hashes = reads.get(name, set())
            for relpath, record in upstream.plan.run.outputs.items():
                if isinstance(record, Mapping) and record.get("hash") in hashes:
                    stage.deps.append(_rel(there / relpath, workdir))
        own = {_rel(workdir / Path(info["path"]), workdir) for info in stage.plan.files} | set(stage.deps)
        for relpath in run.outputs:
            path = (workdir / relpath).absolute()
            rel = _rel(path, workdir)
            if _within(path, pipeline.folder) or rel in own:
                continue  # an earlier export's file, or an input the run changed in place
            if path in owner:
                stage.notes.append(f"also writes {rel}, an out of stage {owner[path]} (DVC allows one)")
                continue
            owner[path] = stage.name
            stage.outs.append(rel)


def plan_pipeline(
    run: Run,
    folder: Path,
    *,
    slice: bool = True,
    store: Any = None,
    verify: bool = True,
    timeout: float | None = None,
    tolerance: Tolerance = None,
) -> Pipeline:
    """Plan (and verify, one script execution or more each) every run of ``run``'s chain as a stage in
    ``folder``. An upstream run that cannot be exported is left out (its files stay plain deps) with a note;
    the exported run itself raises :class:`ExportError` as a one-stage export does."""
    runs, notes = chain_runs(run, store)
    stages: list[Stage] = []
    taken: set[str] = set()
    for current in runs:
        try:
            plan = plan_export(current, slice=slice, store=store)
        except ExportError as exc:
            if current.id == run.id:
                raise
            notes.append(f"run {current.id} ({current.name or 'unnamed'}) is not a stage: {exc}")
            continue
        outcome = None
        if verify:
            plan, outcome = verify_plan(plan, timeout=timeout, tolerance=tolerance, widen=slice, store=store)
        name = _unique(plan.slug, taken)
        stages.append(
            Stage(
                name=name,
                plan=plan,
                verification=outcome,
                script=folder / f"{name}.py",
                params_file=folder / f"{name}.params.yaml",
                metrics_file=folder / f"{name}.metrics.json",
            )
        )
    pipeline = Pipeline(folder=folder, stages=stages, notes=notes)
    _link_stages(pipeline)
    return pipeline


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


def render_pipeline(pipeline: Pipeline) -> str:
    """The dvc.yaml: one stage per run of the chain in dependency order, an UNVERIFIED comment where due."""
    target = pipeline.stages[-1].plan.run
    lines = [
        f"# Pipeline exported by nbtrack from run {target.id} and the runs upstream of it:",
        "# " + " -> ".join(stage.name for stage in pipeline.stages) + " (dvc repro reruns it in this order).",
        *(f"# Note: {_one_line(note)}" for note in pipeline.notes),
        "stages:",
    ]
    for stage in pipeline.stages:
        outcome = stage.verification
        lines.append(f"  # {stage.name}: run {stage.plan.run.id}")
        if outcome is not None and not outcome.verified:
            found = "; ".join(f"{k}: recorded {a!r}, reproduced {b!r}" for k, (a, b) in outcome.differences.items())
            lines.append(
                "  # UNVERIFIED: its script did not reproduce the run's metrics" + (f" ({found})" if found else "")
            )
            lines.append(f"  # likely cause: {_one_line(outcome.cause or 'unknown')}")
        lines += [f"  # {_one_line(note)}" for note in stage.notes]
        lines += dvc_stage_lines(
            stage.plan,
            pipeline.folder,
            stage.script,
            name=stage.name,
            params_file=stage.params_file,
            metrics_file=stage.metrics_file,
            deps=stage.deps,
            outs=stage.outs,
        )
    return "\n".join(lines) + "\n"
