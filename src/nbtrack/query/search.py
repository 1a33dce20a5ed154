"""Reading runs back: ``runs()`` as a pandas DataFrame shaped like ``mlflow.search_runs``, and single runs.

``where`` takes a readable expression over the columns, such as
``"params.lr < 0.1 and metrics.acc > 0.9"``. It is parsed with ``ast`` and evaluated column-wise,
never with ``eval``: only names, constants, comparisons, ``and``/``or``/``not``, arithmetic and
``in`` are allowed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbtrack import values
from nbtrack.errors import QueryError
from nbtrack.run import Run, effective_status
from nbtrack.store.local import Store, get_store

BASE_COLUMNS = ["run_id", "experiment", "name", "status", "start_time", "end_time", "duration"]
_GROUPS = ("params", "metrics", "tags", "data")


def _flatten(doc: dict[str, Any]) -> dict[str, Any]:
    row = {
        "run_id": doc["id"],
        "experiment": doc.get("experiment"),
        "name": doc.get("name"),
        "status": effective_status(doc),
        "start_time": doc.get("start_time"),
        "end_time": doc.get("end_time"),
        "duration": doc.get("duration"),
    }
    for group in ("params", "metrics", "tags"):
        for key, value in (doc.get(group) or {}).items():
            row[f"{group}.{key}"] = values.decode(value) if isinstance(value, (dict, list)) else value
    for key, record in (doc.get("data") or {}).items():
        row[f"data.{key}"] = record.get("hash") if isinstance(record, dict) else None
    return row


def runs(
    experiment: str | list[str] | None = None,
    status: str | list[str] | None = None,
    where: str | Callable[[Run], bool] | None = None,
    *,
    store: str | Path | Store | None = None,
) -> Any:
    """One row per run, newest first: run_id, experiment, name, status, times, ``params.*``, ``metrics.*``,
    ``tags.*`` and ``data.*`` (content hashes). ``where`` is an expression over the columns, a function of
    a :class:`Run`, or a TinyDB query over the run records (``where=Query().params.lr < 0.1``)."""
    import pandas as pd

    st = get_store(store)
    experiments = {experiment} if isinstance(experiment, str) else set(experiment) if experiment else None
    statuses = {status} if isinstance(status, str) else set(status) if status else None
    docs = st.run_docs()
    from tinydb.queries import QueryInstance

    if isinstance(where, QueryInstance):  # callable, but over records, not Runs: the store's table filters
        docs, where = {doc.doc_id: doc for doc in st.table.search(where)}, None
    rows = []
    for doc in docs.values():
        if experiments is not None and doc.get("experiment") not in experiments:
            continue
        row = _flatten(doc)
        if statuses is not None and row["status"] not in statuses:
            continue
        if callable(where) and not where(Run(doc, st)):
            continue
        rows.append(row)
    rows.sort(key=lambda r: r["run_id"], reverse=True)
    frame = pd.DataFrame(rows)
    extra = sorted(
        {c for r in rows for c in r if c not in BASE_COLUMNS},
        key=lambda c: (_GROUPS.index(c.split(".", 1)[0]), c),
    )
    frame = frame.reindex(columns=BASE_COLUMNS + extra)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    frame["duration"] = pd.to_numeric(frame["duration"])
    for column in extra:
        if column.startswith("metrics."):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if isinstance(where, str) and where.strip():
        mask = evaluate(where, frame)
        frame = frame[mask.fillna(False).astype(bool)]
    return frame.reset_index(drop=True)


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
            return f"{base}.{node.slice.value}" if base else None
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


def get_run(run_id: str, *, store: str | Path | Store | None = None) -> Run:
    """The run with this id (or unambiguous id prefix)."""
    st = get_store(store)
    return Run(st.get_doc(run_id), st)


def delete_run(run_id: str, *, store: str | Path | Store | None = None) -> str:
    """Delete a run's record; returns its full id. Blobs shared with other runs stay."""
    st = get_store(store)
    full = st.resolve(run_id)
    st.delete_run(full)
    return full


def set_tag(key: str, value: Any, run: str | None = None, *, store: str | Path | Store | None = None) -> None:
    """Tag the active run (``run=None``) or a recorded run by id."""
    from nbtrack.capture.lifecycle import _require_run, clean_key

    if run is None:
        _require_run("set_tag").set_tag(key, value)
        return
    st = get_store(store)
    with st.lock:
        doc = dict(st.get_doc(run))
        name = clean_key(key, "tag")
        if name is None:
            return
        encoded, notes = values.encode(value, f"tag {name!r}")
        for note in notes:
            from nbtrack.capture.lifecycle import warn

            warn(note)
        doc["tags"] = {**doc.get("tags", {}), name: encoded}
        st.put_run(doc)
