"""The ``where`` filter: a readable expression over the runs table, such as ``"params.lr < 0.1 and metrics.acc > 0.9"``.

It is parsed with ``ast`` and evaluated column-wise, never with ``eval``: only names (columns, dotted or
subscripted: ``params.lr``, ``params["lr"]``), constants, comparisons, ``and``/``or``/``not``, arithmetic and
``in`` are allowed. Anything else, an unknown column or a syntax error raises :class:`QueryError`.

The same expression reaches the kernel (``nbtrack.runs(where=...)``), the CLI and the Jupyter server (the
sidebar's filter field), so its cost is bounded whatever the text, by :class:`Limits`: the length of the text,
the number and nesting of its parts, integers of at most 128 bits (``10**10**7`` is refused before it is
computed), arithmetic on numbers only (no string repetition or ``%``-formatting, so ``'a' * 10**9`` is refused),
and a time budget checked after every step. Past any of them, :class:`QueryError` says
"... exceeds nbtrack's query limits: ...".
"""

from __future__ import annotations

import ast
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbtrack.errors import QueryError

__all__ = ["LIMITS", "Limits", "QueryError", "evaluate", "names_in"]

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_INT64 = 2**63


@dataclass(frozen=True)
class Limits:
    """What one ``where`` expression may cost. The defaults keep any expression under 100 ms on 10,000 runs."""

    length: int = 2000  # characters of text
    nodes: int = 200  # parts of the parsed expression (names, constants, operators)
    depth: int = 32  # nesting of those parts
    int_bits: int = 128  # size of any integer, given or computed
    seconds: float = 0.08  # evaluation time, checked after every step


LIMITS = Limits()


def _limit(expression: str, what: str) -> QueryError:
    return QueryError(f"where expression {_short(expression)} exceeds nbtrack's query limits: {what}")


def _short(expression: str) -> str:
    return repr(expression if len(expression) <= 80 else expression[:77] + "...")


def parse(expression: str, limits: Limits = LIMITS) -> ast.expr:
    """The checked syntax tree of ``expression``: within ``limits`` (length, parts, nesting, integer size)."""
    text = expression.strip()
    if len(text) > limits.length:
        raise _limit(expression, f"{len(text)} characters, at most {limits.length}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"cannot parse where expression {_short(expression)}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):  # nesting the parser itself refuses; huge literals
        raise _limit(expression, f"nested deeper than {limits.depth}") from None
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.nodes:
            raise _limit(expression, f"more than {limits.nodes} parts")
        if depth > limits.depth:
            raise _limit(expression, f"nested deeper than {limits.depth}")
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            _check_int(node.value, expression, limits)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree.body


def _check_int(value: int, expression: str, limits: Limits) -> int:
    if value.bit_length() > limits.int_bits:
        raise _limit(expression, f"an integer of {value.bit_length()} bits, at most {limits.int_bits}")
    return value


def _dotted(node: ast.expr) -> str | None:
    """The column a name node stands for (``params.lr`` for ``params.lr`` or ``params["lr"]``), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        base = _dotted(node.value)
        return f"{base}.{node.slice.value!s}" if base else None
    return None


def names_in(expression: str, limits: Limits = LIMITS) -> set[str]:
    """The column names ``expression`` refers to (:class:`QueryError` when it does not parse)."""
    found: set[str] = set()
    todo: list[ast.AST] = [parse(expression, limits)]
    while todo:
        node = todo.pop()
        name = _dotted(node) if isinstance(node, ast.expr) else None
        if name is not None:
            found.add(name)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return found


def evaluate(expression: str, frame: Any, limits: Limits = LIMITS) -> Any:
    """Evaluate a ``where`` expression to a boolean Series over ``frame``'s rows, within ``limits``."""
    import pandas as pd

    body = parse(expression, limits)
    deadline = time.monotonic() + limits.seconds

    def column(name: str) -> Any:
        if name not in frame.columns:
            dotted_names = [c for c in frame.columns if "." in c]
            known = ", ".join(dotted_names[:20]) + (
                f", ... ({len(dotted_names)} in all)" if len(dotted_names) > 20 else ""
            )
            raise QueryError(f"unknown column {name[:80]!r} in where expression (columns: {known or 'none'})")
        return frame[name]

    def ev(node: ast.expr) -> Any:
        value = step(node)
        if time.monotonic() > deadline:
            raise _limit(expression, f"took longer than {limits.seconds * 1000:.0f} ms")
        return value

    def step(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [ev(e) for e in node.elts]
            if any(isinstance(item, (pd.Series, list)) for item in items):
                raise QueryError("a list in a where expression holds constants only, e.g. ['adam', 'sgd']")
            return items
        name = _dotted(node)
        if name is not None:
            if name in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[name]
            return column(name)
        if isinstance(node, ast.BoolOp):
            parts = [_as_bool(ev(v), frame) for v in node.values]
            result = parts[0]
            for part in parts[1:]:
                result = (result & part) if isinstance(node.op, ast.And) else (result | part)
            return result
        if isinstance(node, ast.UnaryOp):
            operand = ev(node.operand)
            if isinstance(node.op, ast.Not):
                return ~_as_bool(operand, frame)
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                number = _number(operand, node.operand)
                return -number if isinstance(node.op, ast.USub) else +number
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = _number(ev(node.left), node.left)
            right = _number(ev(node.right), node.right)
            return _arithmetic(type(node.op), left, right, expression, limits)
        if isinstance(node, ast.Compare):
            result = None
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=False):
                right = ev(right_node)
                if isinstance(op, (ast.In, ast.NotIn)):
                    if not isinstance(left, pd.Series):
                        raise QueryError("`in` needs a column on its left, e.g. params.opt in ['adam', 'sgd']")
                    part = left.isin(right if isinstance(right, list) else [right])
                    part = ~part if isinstance(op, ast.NotIn) else part
                elif type(op) in _COMPARE:
                    part = _compare(_COMPARE[type(op)], left, right)
                else:
                    raise QueryError(f"operator {type(op).__name__} is not supported in where expressions")
                result = part if result is None else (result & part)
                left = right
            return result
        raise QueryError(f"{ast.unparse(node)[:80]!r} is not allowed in a where expression")

    try:
        result = ev(body)
    except QueryError:
        raise
    except OverflowError:
        raise _limit(expression, "a number too large for a float") from None
    except (TypeError, ArithmeticError, ValueError) as exc:
        raise QueryError(f"where expression {_short(expression)}: {exc}") from None
    return _as_bool(result, frame)


def _number(value: Any, node: ast.expr) -> Any:
    """``value`` as a number for arithmetic: a numeric column as it is, any other column with its
    non-numbers missing, a scalar only if it is a number (so no string repetition or formatting)."""
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if isinstance(value, pd.Series):
        if is_numeric_dtype(value.dtype) or is_bool_dtype(value.dtype):
            return value
        return pd.to_numeric(value.map(_float_or_nan), errors="coerce")
    if isinstance(value, (bool, int, float)):
        return value
    raise QueryError(f"arithmetic in a where expression needs numbers or columns, not {ast.unparse(node)[:80]!r}")


def _float_or_nan(value: Any) -> float:
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.copysign(math.inf, value)
    return math.nan


def _arithmetic(op: type[ast.operator], left: Any, right: Any, expression: str, limits: Limits) -> Any:
    """``left op right`` for numbers and numeric columns, refusing any integer past ``limits.int_bits``
    before it is computed (only ``**`` can grow one that fast)."""
    import pandas as pd

    if isinstance(left, pd.Series) or isinstance(right, pd.Series):
        # numpy needs scalars that fit in 64 bits, or it falls back to Python objects (and Python's cost)
        left, right = (_fits64(v) for v in (left, right))
        return _BINARY[op](left, right)
    growing = op is ast.Pow and isinstance(left, int) and isinstance(right, int) and right > 0
    if growing and (abs(left).bit_length() - 1) * right > limits.int_bits:
        raise _limit(expression, f"a power with more than {limits.int_bits} bits")
    result = _BINARY[op](left, right)
    if isinstance(result, int):
        _check_int(result, expression, limits)
    return result


def _fits64(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        return float(value)
    return value


def _compare(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    import pandas as pd

    try:
        return op(left, right)
    except TypeError:
        # Mixed types in a column (e.g. a param that is sometimes a string): compare row by row.
        if isinstance(left, pd.Series):
            return left.map(lambda v: _safe(op, v, right))
        return right.map(lambda v: _safe(op, left, v))


def _safe(op: Callable[[Any, Any], Any], a: Any, b: Any) -> bool:
    try:
        return bool(op(a, b))
    except TypeError:
        return False


def _as_bool(value: Any, frame: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.Series):
        return value.fillna(False).astype(bool)
    return pd.Series([bool(value)] * len(frame), index=frame.index)
