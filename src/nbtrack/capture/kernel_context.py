"""What a ``with nbtrack.track()`` block inside a notebook cell records about that cell, so its run exports.

A ``%%track`` cell is its own run; a ``with nbtrack.track(...)`` block in a cell (a sweep: one run per
iteration of a loop) is one part of a cell. When ``track()`` is called from a kernel's cell, the run gets
what the magic gives a cell's run (the kernel's input history up to and including the running cell, the
cell's id, its execution count) plus where the block sits in the cell, as ``Run.cell_block``::

    {"line": 3, "loop": {"lr": 0.3, "seed": 1}, "index": [1, 1]}

``line`` is the line of the ``with`` statement in the cell; ``loop`` holds the values the enclosing
``for`` statements' variables had when the block started (values in the stored ``values.encode`` form);
``index`` the position of the iteration in each loop, outermost first, as counted from the block's earlier
runs in the same execution of the cell (a loop level advances when its variables hold other objects than
at the block's previous run; the export uses it only for loops over objects, which have no literal value).
Each loop variable is also logged as a param when the run has none of that name yet (an object as its
repr), with the source ``"loop"`` in ``Run.param_sources``. The exporter (:mod:`nbtrack.exporting.sweep`)
reduces the loop to that one iteration.

Only a block at the top level of a cell (possibly inside ``for`` loops) is described: a block inside a
function, or in a cell run by a cell magic, keeps recording its code location only.
"""

from __future__ import annotations

import ast
import re
import sys
import warnings
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from nbtrack import values
from nbtrack.capture.notebook import kernel_failures
from nbtrack.errors import NbtrackWarning

LOOP_SOURCE = "loop"  # Run.param_sources value of a param taken from a loop variable
_CELL_NAME = re.compile(r"In\[(\d+)\]")


@dataclass
class CellBlock:
    """The running cell as the kernel knows it, and where the ``with`` block sits in it."""

    code: str  # the cell as the user wrote it
    history: list[str]  # every cell the kernel ran up to and including this one
    execution_count: int
    line: int  # of the ``with`` statement, 1-based in the cell
    loop: dict[str, Any] = field(default_factory=dict)  # loop variable -> its value in this iteration
    index: list[int] = field(default_factory=list)  # the iteration's position in each loop, outermost first
    cell_id: str | None = None


def _shell() -> Any:
    ipython = sys.modules.get("IPython")  # never imported here: a plain script has no kernel
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return shell if getattr(shell, "history_manager", None) is not None else None


def cell_number(shell: Any, filename: str) -> int | None:
    """The In[n] whose compiled code has this file name (IPython names each cell's code object)."""
    try:
        named = shell.compile.format_code_name(filename)
    except Exception:
        return None
    match = _CELL_NAME.fullmatch(named[1]) if named else None
    return int(match.group(1)) if match else None


def _cell_id(shell: Any, code: str) -> str | None:
    """The frontend's id of the running cell: the execute request's ``cellId``, else the pre_run_cell info."""
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
        cell_id = (parent or {}).get("metadata", {}).get("cellId")
        if isinstance(cell_id, str) and (parent or {}).get("content", {}).get("code") == code:
            return cell_id
    except Exception:
        pass
    info = getattr(getattr(shell, "_nbtrack_magics", None), "cell_info", None)
    if info is not None and getattr(info, "raw_cell", None) == code:
        found = getattr(info, "cell_id", None)
        return found if isinstance(found, str) else None
    return None


def enclosing(tree: ast.Module, line: int) -> tuple[ast.With, list[ast.For]] | None:
    """The ``with`` statement whose header holds ``line``, and the ``for`` loops around it (outermost first).

    ``None`` when that ``with`` sits inside anything but ``for`` loops (a function, an ``if``, a ``try``)."""
    path: list[ast.For] = []
    body: list[ast.stmt] = tree.body
    while True:
        for stmt in body:
            end = stmt.end_lineno or stmt.lineno
            if stmt.lineno <= line <= end:
                break
        else:
            return None
        if isinstance(stmt, ast.With):
            header_end = stmt.body[0].lineno - 1 if stmt.body else end
            if line <= max(header_end, stmt.lineno):
                return stmt, path
            body = stmt.body  # a block nested in another with: only the innermost counts
            path = []
            continue
        if isinstance(stmt, ast.For) and not stmt.orelse:
            path.append(stmt)
            body = stmt.body
            continue
        return None


def target_names(target: ast.expr) -> list[str] | None:
    """The names a ``for`` target binds, or None when it assigns anything but plain names."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names: list[str] = []
        for element in target.elts:
            inner = target_names(element)
            if inner is None:
                return None
            names += inner
        return names
    return None


_parse_cache: dict[tuple[int, str], ast.Module | None] = {}  # the running cell: parsed once for all its runs


def _parsed(shell: Any, number: int, code: str) -> ast.Module | None:
    key = (number, code)
    if key not in _parse_cache:
        try:
            tree: ast.Module | None = ast.parse(shell.transform_cell(code))
        except (SyntaxError, ValueError):
            tree = None
        _parse_cache.clear()
        _parse_cache[key] = tree
    return _parse_cache[key]


def cell_block(frame: FrameType) -> CellBlock | None:
    """The cell a ``track()`` call runs in, when ``frame`` is the top level of a kernel's cell; else None."""
    shell = _shell()
    if shell is None or frame.f_code.co_name != "<module>":
        return None
    number = cell_number(shell, frame.f_code.co_filename)
    raw = shell.history_manager.input_hist_raw
    if number is None or not 0 < number < len(raw):
        return None
    code = raw[number]
    if code.lstrip().startswith("%%"):
        return None  # a cell magic runs the body its own way (a %%track cell is a run of its own)
    tree = _parsed(shell, number, code)
    if tree is None:
        return None
    line = frame.f_lineno
    found = enclosing(tree, line)
    if found is None:
        return None
    block, loops = found
    loop: dict[str, Any] = {}
    levels = []
    for node in loops:
        names = [name for name in target_names(node.target) or [] if name in frame.f_globals]
        loop.update((name, frame.f_globals[name]) for name in names)
        levels.append(tuple(id(frame.f_globals[name]) for name in names))
    return CellBlock(
        code=code,
        history=list(raw[1 : number + 1]),
        execution_count=number,
        line=block.lineno,
        loop=loop,
        index=_position(number, block.lineno, levels),
        cell_id=_cell_id(shell, code),
    )


_positions: dict[tuple[int, int], tuple[list[tuple[int, ...]], list[int]]] = {}  # (In[n], line) -> ids, index


def _position(number: int, line: int, levels: list[tuple[int, ...]]) -> list[int]:
    """The iteration's position in each loop: the outermost level whose variables hold other objects than
    at this block's previous run advances, the levels inside it start again at 0."""
    key = (number, line)
    previous = _positions.get(key)
    if previous is None or len(previous[0]) != len(levels):
        index = [0] * len(levels)
    else:
        old, index = previous[0], list(previous[1])
        changed = next((i for i, (a, b) in enumerate(zip(old, levels, strict=True)) if a != b), len(levels) - 1)
        if levels:
            index[changed] += 1
            index[changed + 1 :] = [0] * (len(levels) - changed - 1)
    if previous is None and any(k[0] != number for k in _positions):
        _positions.clear()  # an earlier cell's blocks are done
    _positions[key] = (levels, index)
    return index


def attach_cell_block(run: Any, frame: FrameType) -> bool:
    """Give ``run`` (an :class:`~nbtrack.capture.lifecycle.ActiveRun`) its cell when ``frame`` is a kernel's
    cell: the history, the block's place and loop values, loop variables as params. False outside a cell.

    Never raises: a cell that cannot be read leaves the run as a plain ``track()`` run."""
    try:
        found = cell_block(frame)
    except Exception:
        return False
    if found is None:
        return False
    run.attach_cell(found.code, history=found.history, execution_count=found.execution_count, cell_id=found.cell_id)
    run.record.history_failed = kernel_failures(len(found.history))  # cells that raised: the export skips them
    run.record.code_location = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    loop = {}
    for name, value in found.loop.items():
        encoded, _problems = values.encode(value, f"loop variable {name!r}")
        loop[name] = encoded
        if name not in run.params:
            with warnings.catch_warnings():  # an object is kept as its repr: the user did not ask for it
                warnings.simplefilter("ignore", NbtrackWarning)
                run.log_param(name, value)
            run.record.param_sources[name] = LOOP_SOURCE
    run.record.cell_block = {"line": found.line, "loop": loop, "index": found.index}
    return True
