"""What the main-area runs table (the grid) asks the server, as plain functions over a store: no tornado here.

- :func:`grid_rows`: every run that passes the filters (an experiment, a ``where`` expression of
  :mod:`nbtrack.query.where`), as columns: one list of values per column of the cached runs table
  (:class:`~nbtrack.query.table.RunsTable`), each with its group (``system``, ``params``, ``metrics``, ``tags``,
  ``data``, ``models``, ``outputs``) and type (``number``, ``text``, ``time``), newest run first. Columnar JSON
  is a fraction of the size of one record per run, so 10,000 runs arrive in one answer; the grid sorts them.
- :func:`grid_groups`: the same runs grouped by params, with n, mean and the 95% interval of the mean of one
  metric (:func:`nbtrack.analysis.intervals.mean_interval`, the interval ``compare`` reports).
- :func:`tag_runs`, :func:`delete_runs`: bulk tag and bulk delete through ``nbtrack.set_tag`` and
  ``nbtrack.delete_run``. A delete is what ``nbtrack rm`` does: the run leaves every view at once, its bytes stay
  on disk until ``nbtrack gc`` erases them (MLflow's soft delete followed by ``mlflow gc``).

Every id is checked before it reaches the store; errors are :class:`nbtrack.server.api.ApiError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nbtrack.server.api import STORES, ApiError, check_id, resolve_run
from nbtrack.store.local import Store

MAX_IDS = 10_000  # runs one bulk request may touch
MAX_BY = 5  # params one grouping may use
SYSTEM_COLUMNS = ("name", "status", "experiment", "start_time", "duration")
MISSING = "<missing>"


def _frame(store: Store, experiments: list[str] | None, where: str | None) -> tuple[Any, Any]:
    """(rows that pass the filters, the table they came from); a bad ``where`` is a 400 with its message."""
    from nbtrack.query.select import select
    from nbtrack.query.where import QueryError

    table, lock = STORES.table(store)
    with lock:
        table.update()
        try:
            selection = select(table.frame, experiment=experiments or None, where=where or None)
        except QueryError as exc:
            raise ApiError(400, "invalid_query", str(exc)) from None
        return selection.rows, table


def _json_value(value: Any) -> Any:
    """A cell as JSON: finite numbers and text as they are; NaN, NaT and None as null; anything else as text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        if value != value:  # NaN, NaT
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        try:
            return _json_value(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, (list, tuple, dict)):
        import json

        return json.dumps(value, default=str, ensure_ascii=False)[:1000]
    return str(value)[:1000]


def _column(name: str, series: Any) -> dict[str, Any]:
    import numpy as np
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_float_dtype, is_integer_dtype

    group = name.split(".", 1)[0] if "." in name and name not in SYSTEM_COLUMNS else "system"
    if is_datetime64_any_dtype(series):
        missing = series.isna().to_numpy()
        seconds = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) else series
        numbers = (seconds.to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9).astype(object)
        numbers[missing] = None
        return {"key": name, "group": group, "type": "time", "values": numbers.tolist()}
    if is_float_dtype(series):
        numbers = series.to_numpy(dtype=float)
        cells = numbers.astype(object)
        cells[~np.isfinite(numbers)] = None  # NaN and inf travel as null
        values = cells.tolist()
        return {"key": name, "group": group, "type": "number", "values": values}
    if is_integer_dtype(series) and not is_bool_dtype(series):
        return {"key": name, "group": group, "type": "number", "values": [_json_value(v) for v in series.tolist()]}
    # text (the common case) passes as it is; anything else is made JSON one by one
    values = [v if v is None or type(v) is str else _json_value(v) for v in series.tolist()]
    present = [v for v in values if v is not None]
    numeric = bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    return {"key": name, "group": group, "type": "number" if numeric else "text", "values": values}


def grid_rows(store: Store, *, experiments: list[str] | None = None, where: str | None = None) -> dict[str, Any]:
    """The runs that pass the filters, newest first, as columns (see the module docstring)::

    {"total": N, "ids": [...], "columns": [{"key", "group", "type", "values"}, ...], "experiments": [...],
     "stamp": "..."}

    Columns no matching run has are left out."""
    from nbtrack.query.select import experiment_counts

    rows, table = _frame(store, experiments, where)
    columns = []
    for name in rows.columns:
        if name in ("run_id", "end_time"):
            continue
        series = rows[name]
        if name not in SYSTEM_COLUMNS and not series.notna().any():
            continue
        columns.append(_column(name, series))
    return {
        "total": len(rows),
        "ids": rows["run_id"].tolist(),
        "columns": columns,
        "experiments": [{"name": k, "runs": v} for k, v in experiment_counts(table.frame).items()],
        "stamp": "-".join(str(part) for part in table.stamp or ()),
    }


def _label(value: Any) -> str:
    from nbtrack.query.select import is_missing

    if is_missing(value):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def grid_groups(
    store: Store,
    *,
    by: Sequence[str],
    metric: str,
    experiments: list[str] | None = None,
    where: str | None = None,
) -> dict[str, Any]:
    """The filtered runs grouped by the params ``by`` (names without ``params.``), largest group first, each
    with ``n`` (runs), ``n_scores`` (runs with a finite ``metric``), ``mean``, ``ci_low``, ``ci_high`` (95%
    interval of the mean, :func:`nbtrack.analysis.intervals.mean_interval`) and its run ids."""
    import numpy as np

    from nbtrack.analysis.intervals import finite_values, mean_interval

    names = [b.strip() for b in by if b.strip()]
    if not names:
        raise ApiError(400, "bad_request", "choose at least one param to group by")
    if len(names) > MAX_BY:
        raise ApiError(400, "bad_request", f"group by at most {MAX_BY} params")
    rows, _ = _frame(store, experiments, where)
    columns = [f"params.{n}" for n in names]
    for column in columns:
        if column not in rows.columns:
            raise ApiError(400, "unknown_column", f"no run here has the param {column[7:]!r}: choose another one")
    score_column = f"metrics.{metric}"
    if score_column not in rows.columns:
        raise ApiError(400, "unknown_column", f"no run here has the metric {metric!r}: choose another one")
    keys = [tuple(_label(v) for v in values) for values in zip(*(rows[c].tolist() for c in columns), strict=True)]
    scores = rows[score_column].to_numpy(dtype=float)
    run_ids = rows["run_id"].tolist()
    members: dict[tuple[str, ...], list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    groups = []
    for key, index in members.items():
        values = finite_values(scores[np.asarray(index)])
        low, high = mean_interval(values) if values.size >= 2 else (math.nan, math.nan)
        groups.append(
            {
                "key": dict(zip(names, key, strict=True)),
                "n": len(index),
                "n_scores": int(values.size),
                "mean": _json_value(float(values.mean())) if values.size else None,
                "ci_low": _json_value(low),
                "ci_high": _json_value(high),
                "ids": [run_ids[i] for i in index],
            }
        )
    groups.sort(key=lambda g: (-g["n"], tuple(g["key"].values())))
    return {"by": names, "metric": metric, "confidence": 0.95, "groups": groups}


def _ids(run_ids: Any) -> list[str]:
    if not isinstance(run_ids, list) or not all(isinstance(r, str) for r in run_ids):
        raise ApiError(400, "bad_request", "send the runs as a list of run ids")
    if not run_ids:
        raise ApiError(400, "bad_request", "select at least one run")
    if len(run_ids) > MAX_IDS:
        raise ApiError(400, "bad_request", f"at most {MAX_IDS:,} runs at once")
    return [check_id(r) for r in dict.fromkeys(run_ids)]


def tag_runs(store: Store, run_ids: Any, key: Any, value: Any) -> dict[str, Any]:
    """Set the tag ``key`` = ``value`` on every run (``nbtrack.set_tag``); all ids are checked first."""
    from nbtrack.query.search import set_tag

    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise ApiError(400, "bad_request", "a tag needs a name of 1 to 200 characters")
    if not isinstance(value, (str, int, float, bool)) or (isinstance(value, str) and len(value) > 5000):
        raise ApiError(400, "bad_request", "a tag's value is a text of up to 5,000 characters or a number")
    full = [resolve_run(store, r) for r in _ids(run_ids)]
    for run_id in full:
        set_tag(key.strip(), value, run=run_id, store=store)
    return {"tagged": full, "key": key.strip()}


def delete_runs(store: Store, run_ids: Any) -> dict[str, Any]:
    """Delete every run (``nbtrack.delete_run``, as ``nbtrack rm``); all ids are checked before any is deleted."""
    from nbtrack.query.search import delete_run

    full = [resolve_run(store, r) for r in _ids(run_ids)]
    for run_id in full:
        delete_run(run_id, store=store)
    return {"deleted": full}
