"""What a ``%%track`` cell records: the run's opening and closing around the cell body (magic.py runs it).

Kept apart from :mod:`nbtrack.capture.magic` so that ``%load_ext nbtrack`` registers the magic without
importing the lifecycle, the store and the data modules: the first ``%%track`` cell imports this module (or
the warm-up thread started at ``%load_ext`` already has, see :mod:`nbtrack.capture.warm_up`).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from nbtrack import values
from nbtrack.capture import file_reads, framework_params, hyperparams, products
from nbtrack.capture import params as params_mod
from nbtrack.capture.lifecycle import ActiveRun, status_for, warn
from nbtrack.capture.notebook import failures_in, notebook_origin, notebook_path, snapshot, snapshot_mode
from nbtrack.capture.summary import RunSummary
from nbtrack.data.drift import data_change
from nbtrack.data.fingerprint import is_data
from nbtrack.run import inflate_data
from nbtrack.store.local import get_store


def cell_key_of(experiment: str, cell_id: str | None, name: str | None, tree: ast.Module | None, code: str) -> str:
    """What makes two runs 'the same cell': the run's name, else the frontend's cell id, else the code's shape."""
    if name:
        return f"{experiment}/name:{name}"
    if cell_id:
        return f"{experiment}/cell:{cell_id}"
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant):
                node.value = None  # the same code with other literal values is the same cell
        shape = ast.dump(tree)
    else:
        shape = code
    return f"{experiment}/code:{hashlib.blake2b(shape.encode(), digest_size=8).hexdigest()}"


def parse_pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} takes key=value, got {text!r}")
    return key.strip(), value


def literal_or_text(text: str) -> Any:
    return values.literal_or_text(text, params_mod.is_plain_literal)


def new_literal_memory() -> hyperparams.LiteralMemory:
    return hyperparams.LiteralMemory()


def start(magics: Any, args: Any, line: str, cell: str) -> tuple[ActiveRun, dict[str, Any]]:
    """Open the cell's run: what only a cell has (params read from its code, its id, the kernel's
    history, the previous run of the same cell); the lifecycle does the rest."""
    shell = magics.shell
    user_ns = shell.user_ns
    info = magics.cell_info
    own_info = info is not None and "%%track" in (info.raw_cell or "")
    cell_id = getattr(info, "cell_id", None) if own_info else None
    raw_cell = info.raw_cell if own_info else f"%%track {line}\n{cell}"
    found = notebook_origin()  # the notebook's name and id, and how it was found
    experiment = args.experiment or (found.experiment if found else "default")
    try:
        transformed = shell.transform_cell(cell)
    except Exception:
        transformed = cell
    tree = params_mod.parse(transformed)

    run = ActiveRun(get_store(), name=args.name, experiment=experiment, source="magic")
    run.record.notebook_source = found.source if found and not args.experiment else None
    run.record.notebook_id = found.notebook_id if found else None
    hyperparams.record_cell(run, tree, user_ns, magics.literals, exclude=args.metric)
    pending_params = []
    # -p of a name the cell assigns before reading it reads it after the cell; an input (read first, maybe
    # changed, like `base += 1`) keeps its value when the cell started, the one the cell used
    assigned = params_mod.bound_names(tree) - params_mod.input_names(tree)
    for item in args.param:
        if "=" in item:
            key, text = parse_pair(item, "--param")
            run.log_param(key, literal_or_text(text))
        elif item in user_ns and item not in assigned:
            run.log_param(item, user_ns[item])
        else:
            pending_params.append(item)  # maybe the cell defines it
    for key, value in args.tag:
        run.set_tag(key, value)

    for name in sorted(params_mod.input_names(tree)):
        obj = user_ns.get(name)
        if obj is not None and is_data(obj):
            run.log_data(name, obj)
    pending_data = []
    for item in args.data:
        if item in user_ns:
            run.log_data(item, user_ns[item])
        elif Path(item).expanduser().exists():
            run.log_data(item, Path(item).expanduser())
        else:
            pending_data.append(item)

    cell_key = cell_key_of(experiment, cell_id, args.name, tree, cell)
    run.attach_cell(
        cell,
        history=list(shell.history_manager.input_hist_raw[1:]) if shell.history_manager else [cell],
        execution_count=magics.cell_number(),
        cell_id=cell_id,
        cell_key=cell_key,
        parent=previous_run(magics, run, cell_key),
    )
    run.record.history_failed = failures_in(magics.failed_cells, run.record.history_len, shell)
    context = {
        "pending_params": pending_params,
        "pending_data": pending_data,
        "last_cell_end": magics.last_cell_end,
        "raw_cell": raw_cell,
        "tree": tree,
    }
    if args.no_outputs:
        products.skip_outputs(run)
    run.start(environment=True)
    file_reads.begin(skip=(str(getattr(run.store, "root", "")),))
    return run, context


def bare_start(magics: Any, args: Any, cell: str, error: Exception) -> tuple[ActiveRun | None, dict[str, Any]]:
    """A run with only the cell's code, when opening the full one failed: ``nbtrack.log_*`` calls in the
    cell still have a run to log to."""
    context: dict[str, Any] = {"pending_params": [], "pending_data": [], "last_cell_end": magics.last_cell_end}
    context["raw_cell"] = cell
    try:
        run = ActiveRun(get_store(), name=args.name, experiment=args.experiment or None, source="magic")
        run.attach_cell(cell)
        run.start()
    except Exception as exc:
        warn(f"this cell runs untracked because the run could not be started: {exc}")
        return None, context
    warn(f"run {run.id} records only the cell's code and what it logs: {type(error).__name__}: {error}")
    return run, context


def previous_run(magics: Any, run: ActiveRun, cell_key: str) -> str | None:
    previous = magics.last_run_of.get(cell_key)
    if previous is None:
        stored_key = values.escape_text(cell_key)  # as Run.to_doc stores it
        try:
            previous = run.store.previous_run_of(stored_key)  # an index lookup, not a scan
        except Exception:  # an unreadable store: the run has no parent, and its own save will say why
            previous = None
    magics.last_run_of[cell_key] = run.id
    return previous


def finish(magics: Any, run: ActiveRun, context: dict[str, Any], args: Any, error: BaseException | None) -> None:
    run.record.files_read = file_reads.end()
    products.cell_wrote(run, file_reads.last_written())
    user_ns = magics.shell.user_ns
    for name in context["pending_params"]:
        if name in user_ns:
            run.log_param(name, user_ns[name])
        else:
            warn(f"--param {name}: no variable of that name; not recorded")
    for name in context["pending_data"]:
        if name in user_ns:
            run.log_data(name, user_ns[name])
        else:
            warn(f"--data {name}: no variable, file or directory of that name; not fingerprinted")
    for name in args.metric:
        if name in user_ns:
            run.log_metric(name, user_ns[name])
        elif error is None:
            warn(f"--metric {name}: the cell did not define a variable of that name")
    try:
        framework_params.record_framework(run, context.get("tree"), user_ns)
    except Exception as exc:
        warn(f"framework params of run {run.id} not recorded: {type(exc).__name__}: {exc}")
    hyperparams.mark_explicit(run)
    path, how = notebook_path(user_ns, context["raw_cell"])
    if path is not None and how is not None and snapshot_mode() != "off":
        try:
            run.record.snapshot_info = snapshot(run.store, path, how, context["last_cell_end"], context["raw_cell"])
            run.problems.ok("the notebook snapshot")
        except OSError as exc:  # the store cannot be written: said in the run's one warning
            run.note_unsaved("the notebook snapshot", exc)
        except Exception as exc:
            warn(f"notebook snapshot of run {run.id} not recorded: {exc}")
    previous_data = None
    parent = run.record.parent
    if parent:
        try:
            previous = run.store.run_docs().get(parent)
            previous_data = inflate_data(run.store, previous.get("data") or {}) if previous else None
        except Exception:  # an unreadable store: no data change to show
            previous_data = None
    data = data_change({**run.data, **run.profiles}, previous_data)  # profiles inline, for the notes
    run.record.data_change = data.summary()
    run.record.data_notes = data.notes
    from nbtrack.capture.models import capture_cell_models

    capture_cell_models(run, context.get("tree"), user_ns, enabled=not args.no_models)
    run.finish(error=error)
    if not args.quiet:
        from IPython.display import display

        display(RunSummary(run.doc or run.to_doc(), run.record.data_change, saved=run.saved))


def close(magics: Any, run: ActiveRun, context: dict[str, Any], args: Any, error: BaseException | None) -> None:
    """Finish the run after the body ran; a failure here never replaces the cell's own outcome."""
    try:
        finish(magics, run, context, args, error)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted while recording: keep the run, then stop
            run.finish(status_for(error or exc), error or exc)
            raise
        warn(f"run {run.id} may be incomplete: {exc}")
        run.finish(status_for(error), error)
