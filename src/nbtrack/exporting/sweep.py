"""A sweep's run, exported: the cell of a ``with nbtrack.track()`` block, reduced to the run's own iteration.

A run recorded by a ``with nbtrack.track(...)`` block in a notebook cell (``Run.cell_block``, see
:mod:`nbtrack.capture.kernel_context`) is one part of its cell, often one iteration of a loop::

    for lr in [0.1, 0.3]:                      lr = 0.3            # the run's value (a param)
        model = make(lr)              ->       model = make(lr)
        with nbtrack.track(params=...):        acc = fit(model)
            acc = fit(model)                   nbtrack.log_metric("acc", acc)
            nbtrack.log_metric("acc", acc)
        results.append(acc)

Each enclosing ``for`` becomes an assignment of its variables to the values the run recorded (so the
other iterations never run; a loop over objects, which have no literal value, takes the item at the run's
position in the evaluated iterable, and the script stops unless it is what the run saw: its repr or type),
the code before the block in each loop body stays, and the block's body takes the place of the ``with``:
the exported script's own run (its ``start_run``/``finish_run``) is the block's run. What follows the
block (in the loop body and after the loops) cannot change the run, which had ended there, and is left
out. ``with nbtrack.track() as run`` keeps ``run`` bound to the script's run.
"""

from __future__ import annotations

import ast
from typing import Any

from nbtrack import values
from nbtrack.capture.kernel_context import enclosing, target_names
from nbtrack.capture.params import is_plain_literal
from nbtrack.errors import ExportError
from nbtrack.exporting.magics_to_python import Translation


def _is_track_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "track") or (
        isinstance(func, ast.Attribute) and func.attr == "track"
    )


def _find_block(tree: ast.Module, line: int) -> tuple[ast.With, list[ast.For]]:
    """The ``with nbtrack.track()`` at ``line`` (else the cell's only one) and the loops around it."""
    found = enclosing(tree, line)
    if found is not None and any(_is_track_call(item.context_expr) for item in found[0].items):
        return found
    blocks = [
        n for n in ast.walk(tree) if isinstance(n, ast.With) and any(_is_track_call(i.context_expr) for i in n.items)
    ]
    if len(blocks) == 1:
        again = enclosing(tree, blocks[0].lineno)
        if again is not None:
            return again
    raise ExportError(
        f"the run's `with nbtrack.track()` block (line {line} of its cell) is not at the top level of the cell "
        "or inside `for` loops there, so it cannot be cut out of the cell"
    )


def _dedent(lines: list[str], indent: int) -> list[str]:
    out = []
    for line in lines:
        strip = min(indent, len(line) - len(line.lstrip(" \t")))
        out.append(line[strip:] if line.strip() else "\n")
    return out


def _header_end(node: ast.For | ast.With) -> int:
    """The last line of a compound statement's header (its body may start on it: ``for x in y: f(x)``)."""
    if isinstance(node, ast.For):
        parts: list[ast.AST] = [node.iter]
    else:
        parts = [item.optional_vars or item.context_expr for item in node.items]
    return max(getattr(part, "end_lineno", None) or node.lineno for part in parts)


def _span(lines: list[str], body: list[ast.stmt], stop: ast.stmt | None, header_line: int) -> list[str]:
    """The source lines of ``body`` up to (not including) ``stop``, comments between statements kept;
    ``header_line``: the last line of the header above ``body`` (0 for the cell's top level)."""
    if not body or body[0] is stop:
        return []
    first = body[0]
    start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
    if start <= header_line:  # `for x in y: stmt` on one line: no text of its own to keep
        kept = body[: body.index(stop)] if stop is not None else body
        return [ast.unparse(stmt) + "\n" for stmt in kept]
    start = header_line + 1  # comments above the first statement are the user's too
    end = (stop.lineno - 1) if stop is not None else max(s.end_lineno or s.lineno for s in body)
    if stop is not None:
        end = min([end, *(d.lineno - 1 for d in getattr(stop, "decorator_list", []))])
    text = lines[start - 1 : end]
    while text and not text[-1].strip():
        text.pop()
    return _dedent(text, first.col_offset)


def _plain(name: str, loop: dict[str, Any]) -> tuple[bool, Any]:
    if name not in loop:
        raise ExportError(f"the run did not record the value of the loop variable {name!r}")
    value = values.decode(loop[name])
    return not isinstance(value, values.StoredRepr) and is_plain_literal(value), value  # a repr: an object


def _text_of(code: str, node: ast.expr) -> str:
    """An expression as the user wrote it (on one line), else as ``ast`` writes it."""
    text = ast.get_source_segment(code, node)
    return text if text and "\n" not in text else ast.unparse(node)


def _bindings(code: str, node: ast.For, level: int, loop: dict[str, Any], index: Any) -> list[str]:
    """The loop's variables set to the run's iteration: by value when they are plain values, else by position
    (the iterable is evaluated, its other items' loop bodies never run), checked against what the run saw."""
    names = target_names(node.target)
    if names is None:
        raise ExportError(f"line {node.lineno}: the loop assigns something other than names")
    found = {name: _plain(name, loop) for name in names}
    head = f"# the loop at line {node.lineno}, reduced to the run's iteration"
    if all(plain for plain, _ in found.values()):
        return [head + "\n", *(f"{name} = {value!r}\n" for name, (_, value) in found.items())]
    objects = [name for name, (plain, _) in found.items() if not plain]
    position = index[level] if isinstance(index, list) and level < len(index) else None
    if not isinstance(position, int):
        value = found[objects[0]][1]
        kind = value.type_name if isinstance(value, values.StoredRepr) else type(value).__name__
        raise ExportError(
            f"the loop variable {objects[0]!r} held a {kind}, not a plain value the script can set, and the run "
            "did not record its position in the loop (loop over names or numbers and build the object inside)"
        )
    lines = [
        f"{head} (item {position} of the loop: {', '.join(objects)} held objects, not values)\n",
        f"{_text_of(code, node.target)} = list({_text_of(code, node.iter)})[{position}]\n",
    ]
    for name, (plain, value) in found.items():
        if plain:
            test, seen = f"{name} != {value!r}", repr(value)
        else:
            kind = value.type_name if isinstance(value, values.StoredRepr) else ""
            text = str(value)
            if kind and len(text) < 300 and " at 0x" not in text:
                test, seen = f"repr({name}) != {text!r}", text
            elif kind:
                test, seen = f'f"{{type({name}).__module__}}.{{type({name}).__qualname__}}" != {kind!r}', kind
            else:
                continue
        message = f"nbtrack: {name} is not what the run's iteration had ({seen})"
        lines.append(f"if {test}:\n    raise SystemExit({message!r})\n")
    return lines


def reduce_cell(code: str, block: dict[str, Any]) -> str:
    """The cell's code with the loops around the run's block reduced to the run's iteration (see module doc)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ExportError(f"the run's cell is not valid Python: {exc}") from None
    line = block.get("line")
    with_node, loops = _find_block(tree, line if isinstance(line, int) else 0)
    recorded = block.get("loop")
    loop: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    lines = code.splitlines(keepends=True)
    lines = [text if text.endswith("\n") else text + "\n" for text in lines]
    out: list[str] = []
    body: list[ast.stmt] = tree.body
    header = 0
    nodes: list[ast.For | ast.With] = [*loops, with_node]
    for node in nodes:
        out += _span(lines, body, node, header)
        if isinstance(node, ast.For):
            out += _bindings(code, node, loops.index(node), loop, block.get("index"))
        body, header = node.body, _header_end(node)
    others = [item for item in with_node.items if not _is_track_call(item.context_expr)]
    for item in with_node.items:
        if _is_track_call(item.context_expr) and item.optional_vars is not None:
            out.append("import nbtrack  # `with nbtrack.track() as ...`: the script's own run\n")
            out.append(f"{ast.unparse(item.optional_vars)} = nbtrack.active_run()\n")
    inner = _span(lines, with_node.body, None, _header_end(with_node))
    if others:
        out.append(f"with {', '.join(ast.unparse(item) for item in others)}:\n")
        inner = ["    " + text if text.strip() else text for text in inner]
    out += inner or ["pass\n"]
    return "".join(out)


def reduce_translation(translation: Translation, block: dict[str, Any]) -> None:
    """Make the run's cell (translated to plain Python) the run's own code: see :func:`reduce_cell`."""
    if translation.code is None:
        raise ExportError("the run's cell is not valid Python after translation")
    translation.code = reduce_cell(translation.code, block)
    translation.tree = ast.parse(translation.code)
    if translation.track_line is None:
        translation.track_line = ""  # not a %%track cell: the block's own options are in its code
