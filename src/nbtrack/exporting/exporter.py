"""Export a run to a runnable script, a parameterized notebook or a DVC stage, built from the code that ran.

The source is the run's recorded execution history: every cell the kernel ran, in the order it ran them,
up to and including the tracked cell, including cells since edited or deleted; never the notebook file.
Each cell is turned into plain Python (:mod:`nbtrack.exporting.magics_to_python`), then cut down to the cells the
tracked cell depends on (:mod:`nbtrack.exporting.slicing`): that is the plan (:mod:`nbtrack.exporting.plan`),
rendered by :mod:`nbtrack.exporting.render`. The script that comes out:

- takes the run's params from one block at the top: a typed command line with the run's values as
  defaults (``--help`` lists them), also readable from the ``params.yaml`` written beside it; the tracked
  cell's literal assignments of those params read them from there;
- checks each data file the run fingerprinted, and each in-memory input read from a file, against the
  recorded hash before use (``--allow-data-change`` makes a mismatch a warning);
- records a run of its own (tagged ``exported_from``) and prints the final metrics as one JSON object on
  the last line of stdout, so pipeline runs sit beside notebook runs in a comparison.

By default the export is verified (:mod:`nbtrack.exporting.verify`): the script is executed once in a fresh
interpreter and its metrics compared with the run's; the slice is widened when they differ, and a script
that still does not reproduce them is written marked **unverified** (header, return value, views).

``requirements.txt`` pins the packages the kept code imports to the versions recorded with the run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from nbtrack.errors import ExportError
from nbtrack.exporting.plan import Plan, plan_export
from nbtrack.exporting.render import (
    mark_notebook,
    mark_script,
    render_dvc,
    render_notebook,
    render_params_yaml,
    render_requirements,
    render_script,
    verification_block,
)
from nbtrack.exporting.stages import Stage, plan_pipeline
from nbtrack.exporting.verify import Tolerance, Verification, verify_plan
from nbtrack.run import Run

TARGETS = ("script", "notebook", "dvc")


def _default_name(plan: Plan, suffix: str) -> str:
    return f"{plan.slug}-{plan.run.id}{suffix}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ExportResult(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath: a Path, as before 0.2
    """What :func:`export` returns: the written path, as before, plus what verification found.

    ``verified``: True (the metrics reproduced), False (marked unverified), None (``verify=False``);
    ``differences``: ``{metric: (recorded, reproduced)}``; ``cause``: the likely cause when unverified;
    ``added``: ``[(In[n], why)]`` cells the verification added to the slice; ``summary()``: the same in words.
    """

    verification: Verification | None = None
    stages: tuple[Stage, ...] = ()  # a multi-stage dvc export: every stage, the exported run's last

    @property
    def verified(self) -> bool | None:
        if self.stages:  # a pipeline is verified when every stage is
            found = [s.verified for s in self.stages if s.verified is not None]
            return None if not found else all(found)
        return None if self.verification is None else self.verification.verified

    @property
    def differences(self) -> dict[str, tuple[float | None, float | None]]:
        return {} if self.verification is None else dict(self.verification.differences)

    @property
    def cause(self) -> str | None:
        failed = [s for s in self.stages[:-1] if s.verified is False]
        if failed:
            return "; ".join(f"stage {s.name}: {s.verification.cause or 'unknown'}" for s in failed if s.verification)
        return None if self.verification is None else self.verification.cause

    @property
    def added(self) -> list[tuple[str, str]]:
        return [] if self.verification is None else list(self.verification.added)

    def summary(self) -> str:
        if self.stages:
            lines = [f"exported a pipeline of {len(self.stages)} stages to {self}:"]
            for s in self.stages:
                text = "not verified (verify=False)" if s.verification is None else s.verification.summary()
                lines.append(f"  {s.name} ({s.script.name}): " + text.replace("\n", "\n    "))
            return "\n".join(lines)
        text = "not verified (verify=False)" if self.verification is None else self.verification.summary()
        return f"exported to {self}: {text}"


def export(
    run: Run | str,
    to: str = "script",
    path: str | os.PathLike[str] | None = None,
    slice: bool = True,
    *,
    store: Any = None,
    verify: bool = True,
    verify_timeout: float | None = None,
    tolerance: Tolerance = None,
    quiet: bool = False,
) -> ExportResult:
    """Write a run as a runnable script (``to="script"``), a parameterized notebook (``"notebook"``) or a DVC
    stage folder (``"dvc"``), built from the code that produced it; returns the script's path (the folder's
    for ``dvc``). ``params.yaml`` and ``requirements.txt`` go beside the script; missing folders are created.

    ``slice=False`` keeps every executed cell instead of only those the tracked cell depends on.
    ``verify`` (default) executes the script once in a fresh interpreter, where the run ran, and compares its
    metrics with the run's (exactly, or within ``tolerance``: an absolute difference, or ``{"abs": .., "rel": ..}``),
    widening the slice when they differ; ``verify_timeout`` seconds (default: 10x the run's duration + 60 s).
    The result says whether it was verified (``.verified``, ``.differences``, ``.cause``), and so does the
    written file's header; a summary is printed unless ``quiet``.
    Raises :class:`ExportError` when a cell the run depends on cannot be plain Python.
    """
    if to not in TARGETS:
        raise ValueError(f"to must be one of {', '.join(TARGETS)}, not {to!r}")
    plan = plan_export(run, slice=slice, store=store)
    if to == "dvc" and plan.run.upstream:
        return _export_pipeline(plan, path, slice, store, verify, verify_timeout, tolerance, quiet)
    outcome = None
    if verify:
        plan, outcome = verify_plan(plan, timeout=verify_timeout, tolerance=tolerance, widen=slice, store=store)
    result = ExportResult(write_export(plan, to, path, verification=outcome))
    result.verification = outcome
    if outcome is not None and not quiet:
        print(f"nbtrack: {result.summary()}")
    return result


def _export_pipeline(
    plan: Plan,
    path: str | os.PathLike[str] | None,
    slice: bool,
    store: Any,
    verify: bool,
    timeout: float | None,
    tolerance: Tolerance,
    quiet: bool,
) -> ExportResult:
    """A run whose inputs earlier runs wrote: a folder with a stage per run of the chain (see stages.py)."""
    folder = Path(path).expanduser() if path is not None else Path.cwd() / _default_name(plan, "")
    pipeline = plan_pipeline(
        plan.run, folder, slice=slice, store=store, verify=verify, timeout=timeout, tolerance=tolerance
    )
    if len(pipeline.stages) < 2:  # its upstream runs cannot be stages: one stage, as before
        only = pipeline.stages[0]
        result = ExportResult(write_export(only.plan, "dvc", folder, verification=only.verification))
        result.verification = only.verification
        if only.verification is not None and not quiet:
            print(f"nbtrack: {result.summary()}")
        return result
    folder.mkdir(parents=True, exist_ok=True)
    for file, text in pipeline.files().items():
        _write(file, text)
    result = ExportResult(folder)
    result.stages = tuple(pipeline.stages)
    result.verification = pipeline.stages[-1].verification
    if verify and not quiet:
        print(f"nbtrack: {result.summary()}")
    return result


def write_export(
    plan: Plan,
    to: str = "script",
    path: str | os.PathLike[str] | None = None,
    *,
    verification: Verification | None = None,
) -> Path:
    """Render a plan to ``to`` at ``path`` (see :func:`export`), its header saying what ``verification`` found."""
    if to not in TARGETS:
        raise ValueError(f"to must be one of {', '.join(TARGETS)}, not {to!r}")
    block = verification_block(verification, plan.run.id)
    target = Path(path).expanduser() if path is not None else None
    if to == "dvc":
        folder = target if target is not None else Path.cwd() / _default_name(plan, "")
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / f"{plan.slug}.py"
        _write(script, mark_script(render_script(plan), block))
        _write(folder / "params.yaml", render_params_yaml(plan))
        _write(folder / "requirements.txt", render_requirements(plan))
        _write(folder / "dvc.yaml", render_dvc(plan, folder.absolute(), script.absolute()))
        return folder
    suffix = ".py" if to == "script" else ".ipynb"
    if target is None:
        out = Path.cwd() / _default_name(plan, suffix)
    elif target.is_dir() or str(path).endswith(("/", os.sep)):
        out = target / _default_name(plan, suffix)
    else:
        out = target
    if to == "script":
        _write(out, mark_script(render_script(plan), block))
        with contextlib.suppress(OSError):
            out.chmod(out.stat().st_mode | 0o111)
    else:
        import nbformat

        _write(out, nbformat.writes(mark_notebook(render_notebook(plan), block)))
    _write(out.parent / "params.yaml", render_params_yaml(plan))
    _write(out.parent / "requirements.txt", render_requirements(plan))
    return out


def export_action(
    run: Run | str,
    to: str = "script",
    path: str | os.PathLike[str] | None = None,
    *,
    slice: bool = True,
    store: Any = None,
    verify: bool = True,
    verify_timeout: float | None = None,
) -> dict[str, Any]:
    """The Export action for the views: never raises; returns ``{"ok", "path", "message", "kept", "omitted",
    "verified", "differences", "cause", "added"}`` (``verified`` None when ``verify=False``)."""
    outcome = None
    try:
        plan = plan_export(run, slice=slice, store=store)
        if verify:
            plan, outcome = verify_plan(plan, timeout=verify_timeout, widen=slice, store=store)
        written = write_export(plan, to, path, verification=outcome)
    except (ExportError, ValueError, LookupError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
        return {
            "ok": False,
            "path": None,
            "message": message,
            "kept": [],
            "omitted": [],
            "verified": None,
            "differences": {},
            "cause": None,
            "added": [],
        }
    message = f"exported run {plan.run.id} to {written} (kept {len(plan.cells)} of {plan.history_len} cells)"
    if outcome is not None:
        message += f"; {outcome.summary()}"
    return {
        "ok": True,
        "path": str(written),
        "message": message,
        "kept": [c.label for c in plan.cells],
        "omitted": [{"cell": label, "first_line": first, "reason": reason} for label, first, reason in plan.omitted],
        "verified": None if outcome is None else outcome.verified,
        "differences": {} if outcome is None else {k: list(v) for k, v in outcome.differences.items()},
        "cause": None if outcome is None else outcome.cause,
        "added": [] if outcome is None else [{"cell": label, "reason": why} for label, why in outcome.added],
    }
