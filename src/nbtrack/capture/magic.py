"""The ``%%track`` cell magic: a thin layer over :class:`~nbtrack.capture.lifecycle.ActiveRun`.

The cell body runs through the shell's own ``run_cell`` (not ``exec``), so magics inside it,
display of the last expression, assignments and tracebacks are exactly those of an untracked cell.
When the body fails, its traceback has already been shown once; the magic then raises a marker
exception that IPython's custom-exception hook swallows silently, so the cell still ends in error
(queued cells stop) without a second traceback.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import shlex
import time
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbtrack import values
from nbtrack.capture import file_reads, framework_params, hyperparams, products
from nbtrack.capture import params as params_mod
from nbtrack.capture.lifecycle import ActiveRun, status_for, warn
from nbtrack.capture.notebook import cell_failure, failures_in, notebook_origin, notebook_path, snapshot, snapshot_mode
from nbtrack.capture.summary import RunSummary
from nbtrack.data.drift import data_change
from nbtrack.data.fingerprint import is_data
from nbtrack.errors import NbtrackError
from nbtrack.run import inflate_data
from nbtrack.store.local import get_store


class TrackedCellError(NbtrackError):
    """The tracked cell raised; its traceback was already shown. ``original`` is the exception."""

    original: BaseException | None = None


_marker_classes: dict[str, type[TrackedCellError]] = {}


def _marker_for(error: BaseException) -> TrackedCellError:
    """A marker named like the original exception, so the kernel reports the same error name."""
    name = type(error).__name__
    cls = _marker_classes.get(name)
    if cls is None:
        cls = _marker_classes[name] = type(name, (TrackedCellError,), {"__module__": "nbtrack.capture.magic"})
    try:
        text = str(error)
    except Exception:
        text = ""
    marker = cls(text)
    marker.original = error
    return marker


def _install_exception_hook(shell: Any) -> None:
    """Route TrackedCellError to a silent handler, keeping any custom handler already installed."""
    handler = shell.CustomTB
    if TrackedCellError in shell.custom_exceptions and getattr(handler, "_nbtrack", False):
        return
    previous_types = tuple(t for t in shell.custom_exceptions if t is not TrackedCellError)

    def dispatch(etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
        if isinstance(value, TrackedCellError):
            return []
        return handler(etype, value, tb, tb_offset=tb_offset)

    dispatch._nbtrack = True  # type: ignore[attr-defined]
    shell.custom_exceptions = (*previous_types, TrackedCellError)
    shell.CustomTB = dispatch


def _cell_key(experiment: str, cell_id: str | None, name: str | None, tree: ast.Module | None, code: str) -> str:
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


def _parse_pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} takes key=value, got {text!r}")
    return key.strip(), value


def _literal_or_text(text: str) -> Any:
    return values.literal_or_text(text, params_mod.is_plain_literal)


@magics_class
class TrackMagics(Magics):
    """Holds per-kernel state: the cell being executed and when the last cell finished."""

    shell: Any  # the InteractiveShell (traitlets declares it Optional)

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.cell_info: Any = None
        self.last_cell_end: float | None = None
        self.last_run_of: dict[str, str] = {}
        self.failed_cells: list[dict[str, Any]] = []  # the history's cells that raised, for the export
        self.literals = hyperparams.LiteralMemory()  # what earlier cells assigned: the tracked cells' inputs

    # events --------------------------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        self.cell_info = info

    def post_run_cell(self, result: Any) -> None:
        self.last_cell_end = time.time()
        with contextlib.suppress(Exception):  # only the export needs it: never a cost to the cell
            if (failure := cell_failure(result, self.shell)) is not None:
                self.failed_cells.append(failure)
        self.literals.remember_cell(self.shell, result)

    # the magic -----------------------------------------------------------------------------------

    @magic_arguments()
    @argument("--name", "-n", help="Name of the run (quote names with spaces).")
    @argument("--experiment", "-e", help="Experiment (default: the notebook's name, else 'default').")
    @argument("--tag", "-t", action="append", default=[], metavar="KEY=VALUE", help="A tag; repeatable.")
    @argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME|KEY=VALUE",
        help="An explicit param: a variable's name, or key=value (value read as a Python literal).",
    )
    @argument(
        "--metric",
        "-m",
        action="append",
        default=[],
        metavar="NAME",
        help="A variable read as a metric after the cell; repeatable.",
    )
    @argument(
        "--data",
        "-d",
        action="append",
        default=[],
        metavar="NAME|PATH",
        help="An extra input to fingerprint: a variable's name, or a file or directory path.",
    )
    @argument("--quiet", "-q", action="store_true", help="Do not show the run summary line.")
    @argument("--no-models", action="store_true", help="Do not save the models the cell fits (NBTRACK_MODELS=off).")
    @argument("--no-outputs", action="store_true", help="Do not record the files the cell writes as outputs.")
    @cell_magic
    def track(self, line: str, cell: str) -> None:
        """Record this cell as an nbtrack run: params, metrics, data fingerprints, code and environment.

        Literal top-level assignments (``lr = 0.01``) become params automatically. Metrics come from
        ``nbtrack.log_metric(...)`` calls in the cell and from ``--metric`` variables.
        Example::

            %%track --name "lr sweep" -t stage=explore -m val_acc
            lr = 0.01
            val_acc = train(lr)
        """
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%track: {exc} in {line!r}") from None
        args = self.track.parser.parse_args(argv)
        for option in ("name", "experiment"):  # argparse (before 3.12) turns a value of exactly "--" into []
            if getattr(args, option, None) == []:
                setattr(args, option, "--")
        args.tag = [_parse_pair(item, "--tag") for item in args.tag]  # usage errors stop the cell here
        for item in args.param:
            if "=" in item:
                _parse_pair(item, "--param")
        shell = self.shell
        run = None
        try:
            run, context = self._start(args, line, cell)
        except Exception as exc:  # the cell still runs as a run, with what could be recorded
            run, context = self._bare_start(args, cell, exc)
        result = self._run_body(line, cell)
        error = result.error_before_exec or result.error_in_exec
        if run is not None:
            try:
                self._finish(run, context, args, error)
            except BaseException as exc:
                if not isinstance(exc, Exception):  # interrupted while recording: keep the run, then stop
                    run.finish(status_for(error or exc), error or exc)
                    raise
                warn(f"run {run.id} may be incomplete: {exc}")
                run.finish(status_for(error), error)
        if error is not None:
            _install_exception_hook(shell)
            raise _marker_for(error)

    def _cell_number(self) -> int:
        """The In[n] of the cell being run (IPython 9 increments its counter before the cell runs, 8 after)."""
        current = getattr(self.shell.displayhook, "exec_result", None)  # the cell being run, IPython >= 8
        if current is not None and isinstance(getattr(current, "execution_count", None), int):
            return current.execution_count
        history = self.shell.history_manager
        if history is not None and history.input_hist_raw:
            return len(history.input_hist_raw) - 1
        return self.shell.execution_count

    def _run_body(self, line: str, cell: str) -> Any:
        """Run the body as the shell runs any cell, numbered as the user's cell, with its line numbers."""
        shell = self.shell
        # The comment stands where the %%track line stands, so traceback line numbers match the cell.
        source = "# %%track " + line.replace("\x00", "\\x00") + "\n" + cell
        number = self._cell_number()
        compiler = shell.compile
        if shell.execution_count == number or "cache" in vars(compiler):
            return shell.run_cell(source, store_history=False)
        # IPython 9 has already advanced its counter: name the code "In[number]" like the user's cell,
        # but leave the counter alone so Out[number] and _ are stored where they belong.
        original = compiler.cache

        def cache(transformed_code: str, _number: int = 0, raw_code: str | None = None) -> str:
            return original(transformed_code, number, raw_code=raw_code)

        compiler.cache = cache
        try:
            return shell.run_cell(source, store_history=False)
        finally:
            del compiler.cache

    def _start(self, args: Any, line: str, cell: str) -> tuple[ActiveRun, dict[str, Any]]:
        """Open the cell's run: what only a cell has (params read from its code, its id, the kernel's
        history, the previous run of the same cell); the lifecycle does the rest."""
        shell = self.shell
        user_ns = shell.user_ns
        info = self.cell_info
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
        hyperparams.record_cell(run, tree, user_ns, self.literals, exclude=args.metric)
        pending_params = []
        # -p of a name the cell assigns before reading it reads it after the cell; an input (read first, maybe
        # changed, like `base += 1`) keeps its value when the cell started, the one the cell used
        assigned = params_mod.bound_names(tree) - params_mod.input_names(tree)
        for item in args.param:
            if "=" in item:
                key, text = _parse_pair(item, "--param")
                run.log_param(key, _literal_or_text(text))
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

        cell_key = _cell_key(experiment, cell_id, args.name, tree, cell)
        run.attach_cell(
            cell,
            history=list(shell.history_manager.input_hist_raw[1:]) if shell.history_manager else [cell],
            execution_count=self._cell_number(),
            cell_id=cell_id,
            cell_key=cell_key,
            parent=self._previous_run(run, cell_key),
        )
        run.record.history_failed = failures_in(self.failed_cells, run.record.history_len, shell)
        context = {
            "pending_params": pending_params,
            "pending_data": pending_data,
            "last_cell_end": self.last_cell_end,
            "raw_cell": raw_cell,
            "tree": tree,
        }
        if args.no_outputs:
            products.skip_outputs(run)
        run.start(environment=True)
        file_reads.begin(skip=(str(getattr(run.store, "root", "")),))
        return run, context

    def _bare_start(self, args: Any, cell: str, error: Exception) -> tuple[ActiveRun | None, dict[str, Any]]:
        """A run with only the cell's code, when opening the full one failed: ``nbtrack.log_*`` calls in the
        cell still have a run to log to."""
        context: dict[str, Any] = {"pending_params": [], "pending_data": [], "last_cell_end": self.last_cell_end}
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

    def _previous_run(self, run: ActiveRun, cell_key: str) -> str | None:
        previous = self.last_run_of.get(cell_key)
        if previous is None:
            stored_key = values.escape_text(cell_key)  # as Run.to_doc stores it
            try:
                previous = run.store.previous_run_of(stored_key)  # an index lookup, not a scan
            except Exception:  # an unreadable store: the run has no parent, and its own save will say why
                previous = None
        self.last_run_of[cell_key] = run.id
        return previous

    def _finish(self, run: ActiveRun, context: dict[str, Any], args: Any, error: BaseException | None) -> None:
        run.record.files_read = file_reads.end()
        products.cell_wrote(run, file_reads.last_written())
        user_ns = self.shell.user_ns
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


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbtrack``: register ``%%track`` and the event hooks (safe to call again)."""
    previous = getattr(ipython, "_nbtrack_magics", None)
    if previous is not None:
        for event, handler in (("pre_run_cell", previous.pre_run_cell), ("post_run_cell", previous.post_run_cell)):
            with contextlib.suppress(ValueError):
                ipython.events.unregister(event, handler)
    magics = TrackMagics(ipython)
    ipython.register_magics(magics)
    ipython.events.register("pre_run_cell", magics.pre_run_cell)
    ipython.events.register("post_run_cell", magics.post_run_cell)
    ipython._nbtrack_magics = magics
    _install_exception_hook(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    magics = getattr(ipython, "_nbtrack_magics", None)
    if magics is None:
        return
    for event, handler in (("pre_run_cell", magics.pre_run_cell), ("post_run_cell", magics.post_run_cell)):
        with contextlib.suppress(ValueError):
            ipython.events.unregister(event, handler)
    ipython._nbtrack_magics = None
