"""Which runs a view shows: the one filter, sort and page over the runs table, and the columns worth showing.

``nbtrack.runs()``, the panel, the server's ``/runs`` endpoint (the JupyterLab sidebar) and ``nbtrack runs``
all call :func:`select`, so one filter gives the same rows everywhere:

- ``experiment``: a name or names; ``None`` is every experiment. That is the rule everywhere in the query
  layer. The views that know a notebook preset the filter to its experiment (``nbtrack.panel()`` to
  ``notebook_experiment()``, the sidebar to the open notebook's name) and offer "all experiments"; the CLI and
  ``runs()`` start from all. A run recorded without an experiment is in ``"default"``
  (:data:`~nbtrack.query.table.DEFAULT_EXPERIMENT`).
- ``status``: a status or statuses, as shown (a running run whose kernel died is ``abandoned``).
- ``tag``: ``"key"`` (runs with that tag) or ``"key=value"`` (the tag's value as text equals ``value``).
- ``where``: a :mod:`~nbtrack.query.where` expression; ``search``: text in the run's name (any case) or id.
- order: newest first (by run id), or by ``sort_by`` with missing values last.

:func:`columns_of` says which params, metrics and tags to show for the rows selected: params whose value
differs between them (all of them for a single run), every metric any of them has, the tags that differ, and the
models and output files whose content differs (all of them for a single run).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nbtrack.query.table import BASE_COLUMNS, group_of, newest_first
from nbtrack.query.where import QueryError, evaluate


def parse_tag_filter(text: str) -> tuple[str, str | None]:
    """``"key"`` (runs with that tag) or ``"key=value"`` (tag equal to value, compared as text)."""
    key, sep, value = text.partition("=")
    return key.strip(), (value.strip() if sep else None)


def _names(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


@dataclass
class Selection:
    """The runs that pass the filters, in order (``rows``: every column of the runs table)."""

    rows: Any
    where_error: str | None = None  # set instead of raising when ``select(strict=False)``

    @property
    def total(self) -> int:
        return len(self.rows)

    def page(self, offset: int, limit: int) -> Any:
        """``limit`` rows from ``offset`` (0-based)."""
        return self.rows.iloc[max(0, offset) : max(0, offset) + max(0, limit)]


def select(
    frame: Any,
    *,
    experiment: str | Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
    tag: str | None = None,
    where: str | None = None,
    search: str | None = None,
    sort_by: str | None = None,
    descending: bool = True,
    strict: bool = True,
) -> Selection:
    """The rows of ``frame`` (a runs table) that pass every filter given, sorted.

    With ``strict`` a bad ``where`` raises :class:`QueryError`; without, it is reported in
    ``Selection.where_error`` and the other filters still apply (the panel shows it next to the field).
    """
    mask = frame["run_id"].notna()
    experiments = _names(experiment)
    if experiments:
        mask &= frame["experiment"].isin(experiments)
    statuses = _names(status)
    if statuses:
        mask &= frame["status"].isin(statuses)
    if tag and tag.strip():
        mask &= _tag_mask(frame, tag)
    if search and search.strip():
        text = search.strip()
        names = frame["name"].fillna("").astype(str)
        run_ids = frame["run_id"].astype(str)
        mask &= names.str.contains(text, case=False, regex=False) | run_ids.str.contains(text.lower(), regex=False)
    where_error = None
    if where and where.strip():
        try:
            mask &= evaluate(where, frame).reindex(frame.index, fill_value=False)
        except QueryError as exc:
            if strict:
                raise
            where_error = str(exc)
        except Exception as exc:  # pandas can fail in ways evaluate does not foresee
            if strict:
                raise QueryError(f"where expression {where!r}: {exc}") from None
            where_error = str(exc) or type(exc).__name__
    rows = frame[mask]
    rows = sort_rows(rows, sort_by, descending) if sort_by else newest_first(rows)
    return Selection(rows, where_error)


def _tag_mask(frame: Any, text: str) -> Any:
    key, value = parse_tag_filter(text)
    column = f"tags.{key}"
    if column not in frame.columns:
        return frame["run_id"].isna()  # nobody has this tag
    tags = frame[column]
    if value is None:
        return tags.notna()
    return tags.notna() & (tags.map(str) == value)


def experiment_counts(frame: Any) -> dict[str, int]:
    """Runs per experiment, by name."""
    if frame is None or not len(frame):
        return {}
    counts = frame["experiment"].value_counts()
    return {str(name): int(n) for name, n in sorted(counts.items())}


# columns ------------------------------------------------------------------------------------------------


@dataclass
class Columns:
    """The grouped columns worth showing for some rows (full names, in table order)."""

    params: list[str] = field(default_factory=list)  # params whose value differs (all, for one row)
    same: list[str] = field(default_factory=list)  # params every row has with the same value
    metrics: list[str] = field(default_factory=list)  # every metric at least one row has
    tags: list[str] = field(default_factory=list)  # tags whose value differs (none for one row)
    models: list[str] = field(default_factory=list)  # models whose hash differs (all, for one row)
    outputs: list[str] = field(default_factory=list)  # output files whose hash differs (all, for one row)
    present: list[str] = field(default_factory=list)  # every grouped column at least one row has
    filled: dict[str, int] = field(default_factory=dict)  # rows with a value, per present column

    @property
    def shown(self) -> list[str]:
        """params, metrics, tags, models and outputs to show, in table order."""
        wanted = set(self.params) | set(self.metrics) | set(self.tags) | set(self.models) | set(self.outputs)
        return [c for c in self.present if c in wanted]

    def most_filled(self, columns: Iterable[str]) -> list[str]:
        """``columns`` with the ones most rows have first (then by name): what a narrow table shows."""
        return sorted(columns, key=lambda c: (-self.filled.get(c, 0), c))


def columns_of(rows: Any) -> Columns:
    """Which params, metrics, tags, models and outputs of ``rows`` are worth a column (see the module docstring)."""
    out = Columns()
    extra = [c for c in rows.columns if c not in BASE_COLUMNS]
    if not len(rows) or not extra:
        return out
    counts = rows[extra].notna().sum()
    out.present = [c for c in extra if counts[c] > 0]
    out.filled = {c: int(counts[c]) for c in out.present}
    several = len(rows) > 1
    for column in out.present:
        group = group_of(column)
        if group == "metrics":
            out.metrics.append(column)
        elif group == "params":
            (out.params if not several or differs(rows[column]) else out.same).append(column)
        elif group == "tags" and several and differs(rows[column]):
            out.tags.append(column)
        elif group in ("models", "outputs") and (not several or differs(rows[column])):
            getattr(out, group).append(column)
    return out


def differs(values: Any) -> bool:
    """Whether a column holds more than one value (missing counts as a value)."""
    try:
        return bool(values.nunique(dropna=False) > 1)
    except TypeError:  # unhashable values (lists, arrays): compare their reprs
        return bool(values.map(repr).nunique(dropna=False) > 1)


# sorting ------------------------------------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas.NA (arrays and other values without a plain truth value are not missing)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:
        return type(value).__name__ == "NAType"  # pandas.NA
    except Exception:
        return False


def sort_rows(frame: Any, column: str, descending: bool) -> Any:
    """Rows ordered by ``column`` (missing values last, ties in the frame's order); in a column of mixed types,
    numbers come before text going up, after it going down. An unknown column leaves the order as it is."""
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

    if column not in frame.columns or len(frame) < 2:
        return frame
    values = frame[column]
    if is_numeric_dtype(values) or is_datetime64_any_dtype(values) or is_bool_dtype(values):
        return frame.sort_values(column, ascending=not descending, na_position="last", kind="stable")
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return frame.sort_values(
            column, ascending=not descending, na_position="last", kind="stable", key=lambda s: s.str.lower()
        )
    missing = values.map(is_missing)
    try:
        numbers = pd.to_numeric(values.where(~missing), errors="coerce")
    except (TypeError, ValueError):
        numbers = pd.Series(float("nan"), index=values.index)
    keys = pd.DataFrame(
        {
            "missing": missing.to_numpy(),
            "text": numbers.isna().to_numpy(),
            "number": numbers.to_numpy(dtype=float),
            "string": values.map(lambda v: "" if is_missing(v) else str(v).lower()).to_numpy(),
        },
        index=frame.index,
    )
    order = keys.sort_values(
        ["missing", "text", "number", "string"], ascending=[True, not descending, not descending, not descending]
    ).index
    return frame.loc[order]
