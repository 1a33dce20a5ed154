"""The ``where`` filter: a readable expression over the runs table, such as ``"params.lr < 0.1 and metrics.acc > 0.9"``.

It is parsed with ``ast`` and evaluated column-wise, never with ``eval``: only names (columns, dotted or
subscripted: ``params.lr``, ``params["lr"]``), constants, comparisons, ``and``/``or``/``not``, arithmetic and
``in`` are allowed. Anything else, an unknown column or a syntax error raises :class:`QueryError`.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from nbtrack.errors import QueryError

__all__ = ["QueryError", "evaluate"]

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


def evaluate(expression: str, frame: Any) -> Any:
    """Evaluate a ``where`` expression to a boolean Series over ``frame``'s rows."""
    import pandas as pd

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"cannot parse where expression {expression!r}: {exc.msg}") from None

    def column(name: str) -> Any:
        if name not in frame.columns:
            known = ", ".join(c for c in frame.columns if "." in c) or "none"
            raise QueryError(f"unknown column {name!r} in where expression (columns: {known})")
        return frame[name]

    def dotted(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            base = dotted(node.value)
            return f"{base}.{node.slice.value!s}" if base else None
        return None

    def ev(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [ev(e) for e in node.elts]
        name = dotted(node)
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
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return +operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](ev(node.left), ev(node.right))
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
        raise QueryError(f"{ast.unparse(node)!r} is not allowed in a where expression")

    try:
        result = ev(tree.body)
    except QueryError:
        raise
    except TypeError as exc:
        raise QueryError(f"where expression {expression!r}: {exc}") from None
    return _as_bool(result, frame)


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
