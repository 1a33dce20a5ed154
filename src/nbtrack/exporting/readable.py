"""What makes an exported script read like a script: cells' display-only expressions left out, the kept
cells named in one line, the omitted ones listed once, at the end, one line each.

A bare expression at a cell's top level (``df.head()``, ``model``, ``X.shape``) showed a value in the
notebook and does nothing in a script. It is left out when nothing in it can have an effect: names,
attributes, subscripts, literals and operators, and calls only to builtins and methods that just compute
a value (:data:`DISPLAY_CALLS`). Any other call is kept (``plt.show()``, ``df.sample(3)`` drawing from a
generator, ``print``, a user function): when unsure, the expression stays.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from typing import Any


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Calls that only compute a value to show: builtins that consume no iterator, and methods of frames and arrays.
DISPLAY_CALLS = _words(
    """len type repr str int float bool abs round isinstance issubclass id hash format range head tail describe info
    value_counts nunique unique isna isnull notna notnull mean median std var count corr cov quantile mode prod
    sem skew kurt memory_usage equals keys values items tolist to_list to_numpy to_dict to_frame to_string
    to_markdown sort_values sort_index nlargest nsmallest duplicated argmax argmin argsort idxmax idxmin
    reset_index rename astype round copy reshape transpose flatten ravel squeeze item nonzero get_params
    select_dtypes dropna fillna drop_duplicates cumsum cumprod diff pct_change shift clip isin between where mask
    eq ne lt gt le ge dot"""
)


def _display_only(expr: ast.AST) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda)):
            return False
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name not in DISPLAY_CALLS or any(kw.arg == "inplace" for kw in node.keywords):
                return False
    return True


def without_displays(code: str) -> str:
    """``code`` without its top-level bare expressions that only display a value (see the module docstring).

    An expression sharing a line with another statement stays, and a cell left with nothing becomes ``pass``."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    lines = code.splitlines(keepends=True)
    owner: dict[int, int] = {}  # line -> how many top-level statements touch it
    for stmt in tree.body:
        for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
            owner[n] = owner.get(n, 0) + 1
    drop: set[int] = set()
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Expr) and _display_only(stmt.value)):
            continue
        if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str) and stmt is tree.body[0]:
            continue  # a docstring-like first string: text for the reader
        span = range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)
        first, last = lines[stmt.lineno - 1], lines[span[-1] - 1]
        whole = first[: stmt.col_offset].strip() == "" and last[stmt.end_col_offset or 0 :].strip() in ("", ";")
        if whole and all(owner[n] == 1 for n in span):
            drop.update(span)
    if not drop:
        return code
    kept = "".join(line for n, line in enumerate(lines, 1) if n not in drop)
    return kept if kept.strip() else "pass\n"


def label_ranges(labels: Sequence[str]) -> str:
    """``In[1] In[3] In[4] In[5]`` as ``In[1], In[3]-In[5]``: consecutive cells as one range."""
    numbers = [re.fullmatch(r"In\[(\d+)\]", label) for label in labels]
    if not all(numbers):
        return " ".join(labels)
    values = [int(m.group(1)) for m in numbers if m]
    parts: list[str] = []
    start = prev = values[0] if values else 0
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(f"In[{start}]" if start == prev else f"In[{start}]-In[{prev}]")
        if v is not None:
            start = prev = v
    return ", ".join(parts) if values else ""


def omission_lines(omitted: Iterable[Any]) -> list[str]:
    """One line per omitted cell: its label, its first line and why it was left out."""
    return [f"  {label}  {first}  -> {reason}" for label, first, reason in omitted]
