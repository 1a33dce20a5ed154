"""The ``%%track`` cell magic: a thin layer over :class:`~nbtrack.capture.lifecycle.ActiveRun`.

The cell body runs through the shell's own ``run_cell`` (not ``exec``), so magics inside it,
display of the last expression, assignments and tracebacks are exactly those of an untracked cell.
When the body fails, its traceback has already been shown once; the magic then raises a marker
exception that IPython's custom-exception hook swallows silently, so the cell still ends in error
(queued cells stop) without a second traceback.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbtrack.errors import NbtrackError


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


MAX_REMEMBERED_CELL = 200_000  # characters: a longer cell is not read for literals
MAX_UNREAD_CELLS = 500


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
        self._literals: Any = None  # what earlier cells assigned: the tracked cells' inputs (LiteralMemory)
        self._unread: list[str] = []  # cells run since the memory last read them (read when a tracked cell asks)
        self.idle = threading.Event()  # set while no cell runs (the warm-up's imports wait for it)
        self._running = 0  # cells being run: a %%track body is a cell run inside the user's cell
        self._started = 0  # cells started so far
        self.closed = False  # unloaded: the warm-up stops waiting for a quiet moment

    @property
    def literals(self) -> Any:
        """The :class:`~nbtrack.capture.hyperparams.LiteralMemory` of this kernel, up to date with the cells run.

        Cells are remembered when a tracked cell asks, not after each cell: an untracked cell (and the
        ``%load_ext`` cell) then costs nothing, and the parser is not imported until needed.
        """
        from nbtrack.capture import cell_run

        if self._literals is None:
            self._literals = cell_run.new_literal_memory()
        unread, self._unread = self._unread, []
        self._literals.remember_cells(self.shell, unread)
        return self._literals

    def wait_until_quiet(self, seconds: float, timeout: float) -> bool:
        """Block until no cell has run for ``seconds`` (the user is typing), at most ``timeout``; True if so."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self.idle.wait(left) or self.closed:
                return False
            started = self._started
            time.sleep(seconds)
            if self.idle.is_set() and self._started == started and not self.closed:
                return True
        return False

    def close(self) -> None:
        """The extension was unloaded or reloaded: a warm-up waiting for a quiet moment gives up."""
        self.closed = True
        self.idle.set()

    # events --------------------------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        self._running += 1
        self._started += 1
        self.idle.clear()
        self.cell_info = info

    def post_run_cell(self, result: Any) -> None:
        self.last_cell_end = time.time()
        self._running = max(0, self._running - 1)  # an empty cell has a post_run_cell but no pre_run_cell
        if not self._running:
            self.idle.set()
        before = getattr(result, "error_before_exec", None)
        if before is not None or getattr(result, "error_in_exec", None) is not None:
            with contextlib.suppress(Exception):  # only the export needs it: never a cost to the cell
                from nbtrack.capture.notebook import cell_failure

                if (failure := cell_failure(result, self.shell)) is not None:
                    self.failed_cells.append(failure)
        raw = getattr(getattr(result, "info", None), "raw_cell", None)
        if isinstance(raw, str) and raw and len(raw) <= MAX_REMEMBERED_CELL and before is None:
            self._unread.append(raw)
            if len(self._unread) > MAX_UNREAD_CELLS:  # a long session without tracked cells: read them now
                with contextlib.suppress(Exception):
                    self.literals  # noqa: B018 - reading the property remembers the cells

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
        from nbtrack.capture import cell_run  # the lifecycle, the store, the data modules: not at %load_ext

        args.tag = [cell_run.parse_pair(item, "--tag") for item in args.tag]  # usage errors stop the cell here
        for item in args.param:
            if "=" in item:
                cell_run.parse_pair(item, "--param")
        run: Any = None
        try:
            run, context = cell_run.start(self, args, line, cell)
        except Exception as exc:  # the cell still runs as a run, with what could be recorded
            run, context = cell_run.bare_start(self, args, cell, exc)
        result = self._run_body(line, cell)
        error = result.error_before_exec or result.error_in_exec
        if run is not None:
            cell_run.close(self, run, context, args, error)
        if error is not None:
            _install_exception_hook(self.shell)
            raise _marker_for(error)

    def cell_number(self) -> int:
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
        number = self.cell_number()
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


def load_ipython_extension(ipython: Any) -> TrackMagics:
    """``%load_ext nbtrack``: register ``%%track`` and the event hooks (safe to call again); returns the magics."""
    previous = getattr(ipython, "_nbtrack_magics", None)
    if previous is not None:
        previous.close()
        for event, handler in (("pre_run_cell", previous.pre_run_cell), ("post_run_cell", previous.post_run_cell)):
            with contextlib.suppress(ValueError):
                ipython.events.unregister(event, handler)
    magics = TrackMagics(ipython)
    ipython.register_magics(magics)
    ipython.events.register("pre_run_cell", magics.pre_run_cell)
    ipython.events.register("post_run_cell", magics.post_run_cell)
    ipython._nbtrack_magics = magics
    _install_exception_hook(ipython)
    return magics


def unload_ipython_extension(ipython: Any) -> None:
    magics = getattr(ipython, "_nbtrack_magics", None)
    if magics is None:
        return
    magics.close()
    for event, handler in (("pre_run_cell", magics.pre_run_cell), ("post_run_cell", magics.post_run_cell)):
        with contextlib.suppress(ValueError):
            ipython.events.unregister(event, handler)
    ipython._nbtrack_magics = None
