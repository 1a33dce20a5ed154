"""Cells that raised in the kernel: the part of them that ran, as plain Python a script runs the same way.

The run records each history cell that raised (``Run.history_failed``: its index, the exception's class and,
when it could be known, the line of the top-level statement that raised). A cell that raised changed only
what its statements before that one changed, so that part is what the slice analyses and the script runs:

- line known, a simple statement raised (``df = pd.read_csv("typo.csv")``, ``model.fit(bad)``): the
  statements before it; the one that raised is left out (it bound nothing, and is taken to have changed
  nothing);
- line known, a compound statement raised (a loop that failed halfway): the statements before it, then
  that statement inside ``try: ... except Exception: pass``, so its first iterations run and the error
  stops it as it stopped the kernel;
- line not known (a cell magic, a ``%%track`` cell, a translation that moved lines): the whole cell
  inside ``try``/``except``.

Inside ``try`` every binding is conditional for the analysis, so a cell that raised is kept only when a
name it may have bound before raising is one the run reads and no later cell binds it for sure. Cells
that raised before any statement ran (``line`` 0, a SyntaxError) are empty. Runs recorded before
statuses existed have none: their cells are sliced as before.
"""

from __future__ import annotations

import ast
from typing import Any

_COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.If, ast.Match)


def _guarded(stmts: list[ast.stmt]) -> str:
    handler = ast.ExceptHandler(type=ast.Name(id="Exception", ctx=ast.Load()), name=None, body=[ast.Pass()])
    tree = ast.Module(body=[ast.Try(body=stmts, handlers=[handler], orelse=[], finalbody=[])], type_ignores=[])
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _start(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def ran_part(code: str, source: str, failure: dict[str, Any]) -> tuple[str, str]:
    """(the code of the part of a cell that ran before it raised, a note saying so for the script).

    ``code``: the cell as plain Python; ``source``: as the user wrote it (the recorded line counts in it:
    it is used only when the translation kept the cell's lines where they were)."""
    error = str(failure.get("error") or "an error")
    tree = ast.parse(code)
    line = failure.get("line")
    if line == 0 or not tree.body:
        return "", f"raised {error} in the kernel before any of it ran: left out"
    if not isinstance(line, int) or len(code.splitlines()) != len(source.splitlines()):
        return _guarded(tree.body), (
            f"raised {error} in the kernel (at a line not recorded): inside try/except, so it stops where the "
            "error stopped it"
        )
    index = next((k for k, s in enumerate(tree.body) if _start(s) <= line <= (s.end_lineno or s.lineno)), None)
    if index is None:
        return _guarded(tree.body), f"raised {error} in the kernel: inside try/except, as it stopped there"
    raising = tree.body[index]
    before = "".join(code.splitlines(keepends=True)[: _start(raising) - 1])
    if before and not before.endswith("\n"):
        before += "\n"
    if isinstance(raising, _COMPOUND):
        return before + _guarded([raising]), (
            f"raised {error} at line {line} in the kernel: the statements before it, then the one that raised "
            "inside try/except, as far as it ran"
        )
    return before, f"raised {error} at line {line} in the kernel: only the statements before that line ran"
