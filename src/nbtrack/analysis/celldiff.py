"""The cell-aware code diff: two lists of cell sources aligned cell by cell, so a notebook where one cell changed
shows one changed cell instead of a shifted wall of lines (used by :mod:`nbtrack.analysis.rundiff`)."""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CellChange:
    """One step of the cell alignment: ``same`` (a run of unchanged cells), ``changed``, ``added`` (only in B)
    or ``removed`` (only in A). Cell indexes are 0-based positions in each history."""

    kind: str
    a_index: int | None
    b_index: int | None
    a_source: str | None
    b_source: str | None
    count: int = 1  # cells in a ``same`` run
    lines: list[str] = field(default_factory=list)  # unified diff of a changed cell

    def to_dict(self) -> dict[str, Any]:
        a_marks, b_marks = line_marks(self.a_source, self.b_source)
        return {
            "kind": self.kind,
            "a_index": self.a_index,
            "b_index": self.b_index,
            "count": self.count,
            "a_source": self.a_source,
            "b_source": self.b_source,
            "diff": self.lines,
            "a_removed": a_marks,
            "b_added": b_marks,
        }


def line_marks(a: str | None, b: str | None) -> tuple[list[int], list[int]]:
    """(lines of A not in B, lines of B not in A), 0-based indexes into ``source.splitlines()``: what a view
    marks removed and added when it shows both sources (every line of a cell only one side has)."""
    lines_a = (a or "").splitlines()
    lines_b = (b or "").splitlines()
    removed: list[int] = []
    added: list[int] = []
    matcher = difflib.SequenceMatcher(
        None, [x.rstrip() for x in lines_a], [y.rstrip() for y in lines_b], autojunk=False
    )
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            removed.extend(range(i1, i2))
            added.extend(range(j1, j2))
    return removed, added


def _cell_text(c: CellChange) -> list[str]:
    if c.kind == "same":
        return [f"= {c.count} unchanged cell{'s' * (c.count != 1)}"]
    if c.kind == "changed":
        return [f"~ cell A[{c.a_index}] -> B[{c.b_index}]:"] + ["    " + line for line in c.lines]
    if c.kind == "added":
        return [f"+ cell B[{c.b_index}]:"] + ["    + " + line for line in (c.b_source or "").splitlines()]
    return [f"- cell A[{c.a_index}]:"] + ["    - " + line for line in (c.a_source or "").splitlines()]


# JupyterLab theme variables (fallbacks for pages without them): the panel's diff reads in light and dark themes.
# Changed lines get a tint of the theme's success/error colour under the theme's own text colour, as in the
# labextension's diff (details.css), so their contrast is the text's.
_TEXT = "color:var(--jp-content-font-color1, #24292f)"
_MUTED = "color:var(--jp-ui-font-color2, #57606a)"
_ADDED = "var(--jp-success-color1, #1a7f37)"
_REMOVED = "var(--jp-error-color1, #cf222e)"
_PRE = f'style="margin:2px 0 6px;padding:4px;font-size:11px;background:var(--jp-layout-color2, #f6f8fa);{_TEXT}"'


def _line_style(mark: str) -> str:
    return f"display:block;background:color-mix(in srgb, {mark} 22%, transparent);box-shadow:inset 3px 0 {mark}"


def _heading(text: str, mark: str) -> str:
    return f'<div style="border-left:3px solid {mark};padding-left:4px">{text}</div>'


def _cell_html(c: CellChange) -> str:
    esc = html.escape
    if c.kind == "same":
        return f"<div style='{_MUTED}'>… {c.count} unchanged cell{'s' * (c.count != 1)}</div>"
    if c.kind == "changed":
        body = []
        for line in c.lines:
            mark = _ADDED if line.startswith("+") else _REMOVED if line.startswith("-") else None
            style = _line_style(mark) if mark else f"display:block;{_MUTED}"
            body.append(f'<span style="{style}">{esc(line)}</span>')
        return f"<div>cell A[{c.a_index}] → B[{c.b_index}] changed</div><pre {_PRE}>{''.join(body)}</pre>"
    if c.kind == "added":
        return _heading(f"cell B[{c.b_index}] added", _ADDED) + f"<pre {_PRE}>{esc(c.b_source or '')}</pre>"
    return _heading(f"cell A[{c.a_index}] removed", _REMOVED) + f"<pre {_PRE}>{esc(c.a_source or '')}</pre>"


def _normalize(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines())


def cell_diff(a_cells: list[str], b_cells: list[str], context: int = 2) -> list[CellChange]:
    """Align two lists of cell sources and describe the edits cell by cell (trailing whitespace ignored)."""
    na = [_normalize(c) for c in a_cells]
    nb = [_normalize(c) for c in b_cells]
    out: list[CellChange] = []
    matcher = difflib.SequenceMatcher(None, na, nb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(CellChange("same", i1, j1, None, None, count=i2 - i1))
            continue
        if op == "replace":
            x0, y0 = 0, 0
            for x, y in [*_pair_cells(na[i1:i2], nb[j1:j2]), (i2 - i1, j2 - j1)]:
                out.extend(CellChange("removed", i1 + k, None, a_cells[i1 + k], None) for k in range(x0, x))
                out.extend(CellChange("added", None, j1 + k, None, b_cells[j1 + k]) for k in range(y0, y))
                if x < i2 - i1:
                    lines = list(
                        difflib.unified_diff(na[i1 + x].splitlines(), nb[j1 + y].splitlines(), lineterm="", n=context)
                    )[2:]
                    out.append(CellChange("changed", i1 + x, j1 + y, a_cells[i1 + x], b_cells[j1 + y], lines=lines))
                x0, y0 = x + 1, y + 1
        elif op == "delete":
            out.extend(CellChange("removed", i, None, a_cells[i], None) for i in range(i1, i2))
        elif op == "insert":
            out.extend(CellChange("added", None, j, None, b_cells[j]) for j in range(j1, j2))
    return out


def _pair_cells(a: list[str], b: list[str], threshold: float = 0.5) -> list[tuple[int, int]]:
    """Match edited cells in order (an increasing matching by similarity), so that a cell inserted next to
    an edited one is reported as added rather than as a rewrite of its neighbour."""
    scores = [[difflib.SequenceMatcher(None, x, y, autojunk=False).ratio() for y in b] for x in a]
    # longest-path style dynamic programme over (i, j): maximize total similarity of an order-preserving matching
    n, m = len(a), len(b)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            take = scores[i][j] + best[i + 1][j + 1] if scores[i][j] >= threshold else -1.0
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if scores[i][j] >= threshold and best[i][j] == scores[i][j] + best[i + 1][j + 1]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    if not pairs and n == m == 1:
        pairs = [(0, 0)]  # one cell replaced by one cell: show it as an edit, however large
    return pairs
