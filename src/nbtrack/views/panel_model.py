"""What the runs panel shows, without any widget: filters, sort, paging, columns and selection over the runs.

:class:`PanelModel` holds the panel's state as plain attributes and computes the visible page from a
DataFrame shaped like ``nbtrack.runs()`` (same columns, same ``where`` expressions). The ipywidgets panel
(:mod:`nbtrack.views.widgets`) drives it, and any other frontend can: nothing here imports ipywidgets or IPython.

Refreshing is cheap because :class:`RunsTable` keeps that DataFrame up to date incrementally: the store's
journal replays only the lines appended since the last read, only runs whose record changed are flattened
again, and nothing at all happens while :meth:`Store.stamp` is unchanged. Only one page (50 rows by default)
is ever rendered, whatever the number of runs.
"""

from __future__ import annotations

import ast
import html
import math
import numbers
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nbtrack.query.search import _GROUPS, BASE_COLUMNS, _flatten, evaluate
from nbtrack.run import STATUSES, effective_status
from nbtrack.store.local import Store, get_store

try:
    from numpy import bool_ as np_bool
except ImportError:  # pragma: no cover - numpy comes with pandas
    np_bool = bool

PAGE_SIZE = 50
MAX_TAG_CHOICES = 200  # tag filter suggestions (any tag can still be typed)
_REBUILD_SHARE = 0.25  # above this share of changed runs, rebuild the frame instead of patching it
_CELL_CHARS = 40  # longer values are cut in the table (the full value is in the cell's tooltip)
_SETTINGS = (
    "experiment",
    "status",
    "tag",
    "where",
    "search",
    "sort_by",
    "descending",
    "page_size",
    "all_columns",
    "pinned",
)
_STATUS_COLORS = {
    "finished": "#1a7f37",
    "failed": "#cf222e",
    "interrupted": "#9a6700",
    "running": "#0969da",
    "abandoned": "#57606a",
}


def _ordered(columns: Iterable[str]) -> list[str]:
    extra = sorted(
        {c for c in columns if c not in BASE_COLUMNS and c.split(".", 1)[0] in _GROUPS},
        key=lambda c: (_GROUPS.index(c.split(".", 1)[0]), c),
    )
    return BASE_COLUMNS + extra


def build_frame(docs: Iterable[dict[str, Any]]) -> Any:
    """The ``nbtrack.runs()`` frame of these run records (not sorted, no filters)."""
    import pandas as pd

    frame = pd.DataFrame([_flatten(doc) for doc in docs])
    frame = frame.reindex(columns=_ordered(frame.columns))
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    frame["duration"] = pd.to_numeric(frame["duration"])
    for column in frame.columns:
        if column.startswith("metrics."):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


class RunsTable:
    """All runs of a store as one DataFrame (newest first), kept current by :meth:`update`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.frame: Any = None
        self.version = 0  # bumped whenever ``frame`` changes
        self.stamp: tuple[int, int, int] | None = None
        self._docs: dict[str, dict[str, Any]] = {}  # run id -> the record its row was made from
        self._running: dict[str, str] = {}  # run id -> shown status, for runs recorded as running

    def update(self, force: bool = False) -> bool:
        """Catch up with the store; True when the frame changed. Costs one ``stat`` when nothing was written."""
        stamp = self.store.stamp()  # read before the records: a write in between only causes one more update
        if self.frame is not None and stamp == self.stamp and not force:
            return False
        self.stamp = stamp
        docs = dict(self.store.run_docs())  # a snapshot: another thread may be adding runs
        old = self._docs
        changed = []
        added = 0
        for run_id, doc in docs.items():
            previous = old.get(run_id)
            if previous is doc:
                continue
            added += previous is None
            if previous is not None and previous == doc:  # same content, new object (the journal was re-read)
                old[run_id] = doc
                continue
            changed.append(run_id)
        removed = [run_id for run_id in old if run_id not in docs] if len(old) + added != len(docs) else []
        for run_id, shown in self._running.items():  # a running run whose kernel died becomes "abandoned"
            doc = docs.get(run_id)
            if doc is not None and run_id not in changed and effective_status(doc) != shown:
                changed.append(run_id)
        if self.frame is not None and not changed and not removed:
            return False
        self._patch(docs, changed, removed)
        self._docs = docs
        for run_id in removed:
            self._running.pop(run_id, None)
        for run_id in changed:
            doc = docs[run_id]
            if doc.get("status") == "running":
                self._running[run_id] = effective_status(doc)
            else:
                self._running.pop(run_id, None)
        self.version += 1
        return True

    def _patch(self, docs: dict[str, dict[str, Any]], changed: list[str], removed: list[str]) -> None:
        import numpy as np
        import pandas as pd

        frame = self.frame
        if frame is None or len(changed) + len(removed) > max(200, _REBUILD_SHARE * len(docs)):
            frame = build_frame(docs.values())
        else:
            stale = set(changed) | set(removed)
            keep = frame[~frame["run_id"].isin(stale)] if stale else frame
            fresh = [docs[run_id] for run_id in changed]
            if fresh and len(keep):
                frame = pd.concat([build_frame(fresh), keep], ignore_index=True)
                ordered = _ordered(frame.columns)
                if list(frame.columns) != ordered:
                    frame = frame.reindex(columns=ordered)
            elif fresh:
                frame = build_frame(fresh)
            else:
                frame = keep
            if stale:  # columns only the deleted or rewritten runs had
                empty = [c for c in frame.columns if c not in BASE_COLUMNS and not frame[c].notna().any()]
                if empty:
                    frame = frame.drop(columns=empty)
        ids = frame["run_id"].to_numpy(dtype=object)
        if len(ids) > 1 and not (ids[:-1] > ids[1:]).all():  # newest first, like nbtrack.runs()
            frame = frame.take(np.argsort(ids)[::-1])
        self.frame = frame.reset_index(drop=True)


def _differs(values: Any) -> bool:
    try:
        return values.nunique(dropna=False) > 1
    except TypeError:  # unhashable values (lists, arrays): compare their reprs
        return values.map(repr).nunique(dropna=False) > 1


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:
        return type(value).__name__ == "NAType"  # pandas.NA
    except Exception:  # arrays and other values without a plain truth value
        return False


def parse_tag_filter(text: str) -> tuple[str, str | None]:
    """``"key"`` (runs with that tag) or ``"key=value"`` (tag equal to value, compared as text)."""
    key, sep, value = text.partition("=")
    return key.strip(), (value.strip() if sep else None)


def parse_tag_value(text: str) -> Any:
    """A tag value typed in the panel: a Python literal (number, bool, None, quoted text), else the text."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (int, float, str, bool)) or value is None else text


class PanelModel:
    """State of one runs panel; the page, columns and HTML are computed from it on demand (and cached).

    Settings (plain attributes, also set through :meth:`set`): ``experiment`` (a name, a list, or None for
    all), ``status``, ``tag`` (``"key"`` or ``"key=value"``), ``where`` (an ``nbtrack.runs`` expression such
    as ``"params.lr < 0.1 and metrics.acc > 0.9"``), ``search`` (part of a name or run id), ``sort_by`` (a
    column), ``descending``, ``page_size``, ``all_columns`` (every param, tag and data column instead of only
    the params and tags that differ between the runs shown) and ``pinned`` (columns always shown).
    """

    def __init__(
        self,
        store: str | Path | Store | None = None,
        *,
        experiment: str | Sequence[str] | None = None,
        status: str | None = None,
        tag: str | None = None,
        where: str | None = None,
        search: str | None = None,
        sort_by: str = "start_time",
        descending: bool = True,
        page_size: int = PAGE_SIZE,
        all_columns: bool = False,
        pinned: Sequence[str] = (),
    ) -> None:
        self.table = RunsTable(get_store(store))
        self.experiment = experiment
        self.status = status
        self.tag = tag
        self.where = where
        self.search = search
        self.sort_by = sort_by
        self.descending = descending
        self.page_size = page_size
        self.all_columns = all_columns
        self.pinned: list[str] = list(pinned)
        self.page = 0
        self.selected: list[str] = []  # run ids in the order they were selected; kept across pages and filters
        self.where_error: str | None = None
        self.updated_at: float | None = None
        self._view_key: Any = None
        self._view: Any = None
        self._columns_key: Any = None
        self._columns: list[str] = []
        self._hidden = 0
        self._choices: dict[tuple[str, int], Any] = {}
        self.refresh(force=True)

    @property
    def store(self) -> Store:
        return self.table.store

    @property
    def frame(self) -> Any:
        """Every run of the store (the unfiltered ``nbtrack.runs()`` frame)."""
        return self.table.frame

    # state changes ---------------------------------------------------------------------------------------

    def set(self, **settings: Any) -> None:
        """Change settings; any change other than ``all_columns``/``pinned`` goes back to the first page."""
        unknown = set(settings) - set(_SETTINGS)
        if unknown:
            raise TypeError(f"unknown panel setting(s): {', '.join(sorted(unknown))}")
        moved = False
        for name, value in settings.items():
            if name == "pinned":
                value = list(value)
            if getattr(self, name) != value:
                setattr(self, name, value)
                moved = moved or name not in ("all_columns", "pinned")
        if moved:
            self.page = 0

    def refresh(self, force: bool = False) -> bool:
        """Pick up runs written since the last call; True when anything changed. Cheap when nothing did."""
        if not self.table.update(force=force):
            return False
        if self.selected:
            known = set(self.frame["run_id"])
            self.selected = [run_id for run_id in self.selected if run_id in known]
        self.updated_at = time.time()
        return True

    def go_to(self, page: int) -> int:
        """Show page ``page`` (0-based, clamped); returns the page shown."""
        self.page = max(0, min(int(page), self.n_pages - 1))
        return self.page

    def select(self, run_ids: Iterable[str], *, replace: bool = False) -> None:
        """Add runs (full ids) to the selection, or make them the selection."""
        known = set(self.frame["run_id"])
        chosen = [] if replace else list(self.selected)
        for run_id in run_ids:
            if run_id in known and run_id not in chosen:
                chosen.append(run_id)
        self.selected = chosen

    def deselect(self, run_ids: Iterable[str]) -> None:
        drop = set(run_ids)
        self.selected = [run_id for run_id in self.selected if run_id not in drop]

    def set_page_selection(self, run_ids: Iterable[str]) -> None:
        """The selection among the runs of the current page becomes ``run_ids``; other pages keep theirs."""
        on_page = set(self.page_frame()["run_id"])
        wanted = [run_id for run_id in run_ids if run_id in on_page]
        self.selected = [r for r in self.selected if r not in on_page or r in wanted]
        self.select(wanted)

    def clear_selection(self) -> None:
        self.selected = []

    # what is shown -----------------------------------------------------------------------------------------

    def view(self) -> Any:
        """The runs that pass the filters, sorted (all columns)."""
        experiment = tuple(self.experiment) if isinstance(self.experiment, (list, tuple)) else self.experiment
        key = (
            self.table.version,
            experiment,
            self.status,
            self.tag,
            self.where,
            self.search,
            self.sort_by,
            self.descending,
        )
        if key == self._view_key:
            return self._view
        frame = self.frame
        mask = frame["run_id"].notna()
        if experiment is not None:
            wanted = [experiment] if isinstance(experiment, str) else list(experiment)
            mask &= frame["experiment"].isin(wanted)
        if self.status:
            mask &= frame["status"] == self.status
        if self.tag and self.tag.strip():
            mask &= self._tag_mask(frame)
        if self.search and self.search.strip():
            text = self.search.strip()
            names = frame["name"].fillna("").astype(str)
            run_ids = frame["run_id"].astype(str)
            mask &= names.str.contains(text, case=False, regex=False) | run_ids.str.contains(text.lower(), regex=False)
        self.where_error = None
        if self.where and self.where.strip():
            try:
                mask &= evaluate(self.where, frame).reindex(frame.index, fill_value=False)
            except Exception as exc:  # shown next to the field; the other filters still apply
                self.where_error = str(exc) or type(exc).__name__
        view = _sort(frame[mask], self.sort_by, self.descending)
        self._view_key, self._view = key, view
        return view

    def _tag_mask(self, frame: Any) -> Any:
        key, value = parse_tag_filter(self.tag or "")
        column = f"tags.{key}"
        if column not in frame.columns:
            return frame["run_id"].isna()  # nobody has this tag
        tags = frame[column]
        if value is None:
            return tags.notna()
        return tags.notna() & (tags.map(str) == value)

    @property
    def n_matching(self) -> int:
        return len(self.view())

    @property
    def n_pages(self) -> int:
        return max(1, math.ceil(self.n_matching / max(1, self.page_size)))

    def page_frame(self) -> Any:
        """The runs of the current page (all columns)."""
        self.page = max(0, min(self.page, self.n_pages - 1))
        start = self.page * self.page_size
        return self.view().iloc[start : start + self.page_size]

    def columns(self) -> list[str]:
        """The columns shown: name, id, [experiment], status, start, duration, then the params that differ
        between the runs shown, every metric they have, the tags that differ (everything: ``all_columns``)."""
        view = self.view()
        key = (self._view_key, self.all_columns, tuple(self.pinned))
        if key == self._columns_key:
            return self._columns
        single = isinstance(self.experiment, str) or (
            isinstance(self.experiment, (list, tuple)) and len(self.experiment) == 1
        )
        columns = ["name", "run_id"] + ([] if single else ["experiment"]) + ["status", "start_time", "duration"]
        extra = [c for c in view.columns if c not in BASE_COLUMNS]
        present = set(view[extra].columns[view[extra].notna().any()]) if len(view) and extra else set()
        hidden = 0
        for column in extra:
            group = column.split(".", 1)[0]
            if column not in present and column not in self.pinned:
                continue
            if column in self.pinned or self.all_columns or group == "metrics":
                columns.append(column)
            elif group == "params":
                if len(view) <= 1 or _differs(view[column]):
                    columns.append(column)
                else:
                    hidden += 1
            elif group == "tags" and len(view) > 1 and _differs(view[column]):
                columns.append(column)
        columns += [c for c in self.pinned if c in self.frame.columns and c not in columns]
        self._columns_key, self._columns, self._hidden = key, columns, hidden
        return columns

    def hidden_params(self) -> int:
        """How many params columns are left out because every run shown has the same value."""
        self.columns()
        return self._hidden

    # choices for the controls ------------------------------------------------------------------------------

    def _cached(self, name: str, make: Any) -> Any:
        key = (name, self.table.version)
        if key not in self._choices:
            self._choices = {k: v for k, v in self._choices.items() if k[1] == self.table.version}
            self._choices[key] = make()
        return self._choices[key]

    def experiments(self) -> list[str]:
        return self._cached("experiments", lambda: sorted(str(e) for e in self.frame["experiment"].dropna().unique()))

    def statuses(self) -> list[str]:
        def make() -> list[str]:
            found = set(self.frame["status"].dropna().unique())
            return [s for s in STATUSES if s in found] + sorted(found - set(STATUSES))

        return self._cached("statuses", make)

    def tag_choices(self, limit: int = MAX_TAG_CHOICES) -> list[str]:
        """``key`` and ``key=value`` suggestions for the tag filter (most common values first)."""
        return self._cached(f"tags{limit}", lambda: self._tag_choices(limit))

    def _tag_choices(self, limit: int) -> list[str]:
        out: list[str] = []
        frame = self.frame
        columns = [c for c in frame.columns if c.startswith("tags.")]
        out.extend(c[5:] for c in columns)
        for column in columns:
            try:
                counts = frame[column].value_counts()  # missing values are not counted
            except TypeError:  # unhashable values
                counts = frame[column].dropna().map(repr).value_counts()
            seen: set[str] = set()
            for value in counts.index[:20]:
                text = f"{column[5:]}={value}"
                if text not in seen:
                    seen.add(text)
                    out.append(text)
            if len(out) >= limit:
                break
        return out[:limit]

    def sortable(self) -> list[str]:
        return [c for c in self.frame.columns if c != "end_time"]

    def metrics_of(self, run_ids: Iterable[str]) -> list[str]:
        """Metric names (without ``metrics.``) that at least one of these runs has."""
        frame = self.frame
        rows = frame[frame["run_id"].isin(list(run_ids))]
        return [c[8:] for c in frame.columns if c.startswith("metrics.") and rows[c].notna().any()]

    def selection_rows(self) -> Any:
        """The selected runs (all columns), in selection order."""
        frame = self.frame
        rows = frame[frame["run_id"].isin(self.selected)].set_index("run_id", drop=False)
        return rows.loc[[r for r in self.selected if r in rows.index]]

    def option_label(self, row: Any, number: int) -> str:
        """Plain-text label of a run in the selection list (rendered as text by the widget, never as HTML)."""
        name = row["name"] if isinstance(row["name"], str) and row["name"] else "(unnamed)"
        if len(name) > _CELL_CHARS:
            name = name[: _CELL_CHARS - 1] + "…"
        return f"#{number} {name} · {row['status']} · {row['run_id']}"

    def page_options(self) -> list[tuple[str, str]]:
        start = self.page * self.page_size
        rows = self.page_frame()[["name", "status", "run_id"]].to_dict("records")
        return [(self.option_label(row, start + i + 1), row["run_id"]) for i, row in enumerate(rows)]

    # text and HTML -----------------------------------------------------------------------------------------

    def summary(self) -> str:
        """One line: which runs are shown, of how many, on which page."""
        total, matching = len(self.frame), self.n_matching
        if not total:
            return f"No runs yet in {self.store.root}. Runs appear here as they are recorded."
        if not matching:
            return f"No run matches the filters ({total:,} runs in the store)."
        start = self.page * self.page_size
        end = min(start + self.page_size, matching)
        text = f"Runs {start + 1:,}–{end:,} of {matching:,}"
        if matching != total:
            text += f" matching ({total:,} in the store)"
        text += f" · page {self.page + 1:,} of {self.n_pages:,}"
        if self.selected:
            text += f" · {len(self.selected)} selected"
        hidden = 0 if self.all_columns else self.hidden_params()
        if hidden:
            text += f" · {hidden} param{'s' * (hidden != 1)} with one value hidden"
        return text

    def page_html(self, *, fallback_note: str | None = None) -> str:
        """The current page as an HTML table. Every value is escaped: names and values render as text."""
        esc = html.escape
        columns = self.columns()
        rows = self.page_frame()
        selected = set(self.selected)
        th = 'style="padding:2px 6px;text-align:left;border-bottom:1px solid #d0d7de;white-space:nowrap"'
        td = 'style="padding:1px 6px;white-space:nowrap;{extra}"'
        head = [f"<th {th}></th>", f"<th {th}>#</th>"]
        for column in columns:
            group, dot, short = column.partition(".")
            label = f'<span style="color:#8c959f">{esc(group)}.</span>{esc(short)}' if dot else esc(column)
            if column == self.sort_by:
                label += " ▼" if self.descending else " ▲"
            head.append(f'<th {th} title="{esc(column, quote=True)}">{label}</th>')
        body = []
        start = self.page * self.page_size
        for i, values in enumerate(rows[["run_id", *columns]].itertuples(index=False, name=None)):
            run_id, row = values[0], dict(zip(columns, values[1:], strict=True))
            mark = "✓" if run_id in selected else ""
            shade = "background:#ddf4ff;" if mark else ""
            cells = [
                f"<td {td.format(extra=shade)}>{mark}</td>",
                f"<td {td.format(extra=shade + 'color:#8c959f')}>{start + i + 1}</td>",
            ]
            for column in columns:
                text, full, style = _cell(column, row[column])
                title = f' title="{esc(full, quote=True)}"' if full != text else ""
                cells.append(f"<td {td.format(extra=shade + style)}{title}>{esc(text)}</td>")
            body.append(f'<tr class="nbtrack-run">{"".join(cells)}</tr>')
        note = (
            f'<div class="nbtrack-fallback-note" style="margin:4px 0">{esc(fallback_note)}</div>'
            if fallback_note
            else ""
        )
        table = (
            (
                f'<table class="nbtrack-runs" style="border-collapse:collapse;font-size:12px">'
                f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            )
            if body
            else ""
        )
        return (
            f'<div class="nbtrack-panel-table" style="overflow-x:auto">{note}'
            f'<div style="color:#57606a;margin:2px 0">{esc(self.summary())}</div>{table}</div>'
        )


def _sort(frame: Any, column: str, descending: bool) -> Any:
    """Rows ordered by ``column`` (missing values last, ties in the frame's order); in a column of mixed types,
    numbers come before text going up, after it going down."""
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
    missing = values.map(_missing)
    try:
        numbers = pd.to_numeric(values.where(~missing), errors="coerce")
    except (TypeError, ValueError):
        numbers = pd.Series(float("nan"), index=values.index)
    keys = pd.DataFrame(
        {
            "missing": missing.to_numpy(),
            "text": numbers.isna().to_numpy(),
            "number": numbers.to_numpy(dtype=float),
            "string": values.map(lambda v: "" if _missing(v) else str(v).lower()).to_numpy(),
        },
        index=frame.index,
    )
    order = keys.sort_values(
        ["missing", "text", "number", "string"], ascending=[True, not descending, not descending, not descending]
    ).index
    return frame.loc[order]


def _cell(column: str, value: Any) -> tuple[str, str, str]:
    """(shown text, full text, extra CSS) of one table cell; both texts are escaped by the caller."""
    if _missing(value):
        return "", "", ""
    if column == "status":
        return str(value), str(value), f"color:{_STATUS_COLORS.get(str(value), '#57606a')};font-weight:600"
    if column == "run_id":
        return str(value), str(value), "font-family:monospace;font-size:11px"
    if column in ("start_time", "end_time"):
        try:
            local = time.localtime(value.timestamp())
        except (AttributeError, OverflowError, ValueError, OSError):
            return str(value), str(value), ""
        return time.strftime("%Y-%m-%d %H:%M:%S", local), str(value), ""
    if column == "duration":
        return _duration(value), f"{value} s", "text-align:right"
    if column.startswith("data."):
        text = str(value)
        return text[:10], text, "font-family:monospace;font-size:11px"
    if isinstance(value, (bool, np_bool)):
        return str(bool(value)), str(bool(value)), ""
    if isinstance(value, numbers.Integral):
        return str(int(value)), str(int(value)), "text-align:right"
    if isinstance(value, numbers.Real):
        number = float(value)
        return f"{number:.4g}", repr(number), "text-align:right"
    full = value if isinstance(value, str) else _repr(value)
    text = full if len(full) <= _CELL_CHARS else full[: _CELL_CHARS - 1] + "…"
    return text, full, ""


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if s < 60:
        return f"{s:.2f} s"
    if s < 3600:
        return f"{int(s // 60)}m {s % 60:04.1f}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"
