"""What the runs panel shows, without any widget: filters, sort, paging, columns and selection over the runs.

:class:`PanelModel` holds the panel's state as plain attributes; the rows, their order and the columns worth
showing come from :func:`nbtrack.query.select.select` and :func:`~nbtrack.query.select.columns_of` over a
:class:`~nbtrack.query.table.RunsTable` (the same selection as ``nbtrack.runs()`` and the sidebar's server).
The ipywidgets panel (:mod:`nbtrack.views.widgets`) drives it, and any other frontend can: nothing here imports
ipywidgets or IPython. Only one page (50 rows by default) is ever rendered, whatever the number of runs; the
HTML is made by :mod:`nbtrack.views.panel_html`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nbtrack import format as fmt
from nbtrack.query.select import Columns, columns_of, experiment_counts, select
from nbtrack.query.table import BASE_COLUMNS, RunsTable
from nbtrack.run import STATUSES
from nbtrack.store.local import Store, get_store
from nbtrack.values import is_scalar, literal_or_text

PAGE_SIZE = 50
MAX_TAG_CHOICES = 200  # tag filter suggestions (any tag can still be typed)
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


def parse_tag_value(text: str) -> Any:
    """A tag value typed in the panel: a Python literal (number, bool, None, quoted text), else the text."""
    return literal_or_text(text, is_scalar)


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
        selection = select(
            self.frame,
            experiment=experiment,
            status=self.status,
            tag=self.tag,
            where=self.where,
            search=self.search,
            sort_by=self.sort_by,
            descending=self.descending,
            strict=False,  # a bad where is shown next to the field; the other filters still apply
        )
        self.where_error = selection.where_error
        self._view_key, self._view = key, selection.rows
        return selection.rows

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
        between the runs shown, every metric they have, the tags that differ (everything: ``all_columns``),
        and the ``pinned`` ones."""
        view = self.view()
        key = (self._view_key, self.all_columns, tuple(self.pinned))
        if key == self._columns_key:
            return self._columns
        single = isinstance(self.experiment, str) or (
            isinstance(self.experiment, (list, tuple)) and len(self.experiment) == 1
        )
        columns = ["name", "run_id"] + ([] if single else ["experiment"]) + ["status", "start_time", "duration"]
        found: Columns = columns_of(view)
        wanted = set(found.present if self.all_columns else found.shown) | set(self.pinned)
        columns += [c for c in view.columns if c not in BASE_COLUMNS and c in wanted]
        columns += [c for c in self.pinned if c in self.frame.columns and c not in columns]
        hidden = len([c for c in found.same if c not in self.pinned])
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
        return self._cached("experiments", lambda: list(experiment_counts(self.frame)))

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
        name = fmt.shorten(name, 40)
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

    def details_html(self, run_id: str) -> str:
        """One run's details (params by source, metrics, models, figures, artifacts, outputs, linked runs) as HTML,
        small blobs embedded as images and ``data:`` download links (see :mod:`nbtrack.views.panel_html`)."""
        from nbtrack.query.search import get_run
        from nbtrack.views.panel_html import details_html

        return details_html(get_run(run_id, store=self.store), self.table.docs, self.store)

    def page_html(self, *, fallback_note: str | None = None) -> str:
        """The current page as an HTML table. Every value is escaped: names and values render as text."""
        from nbtrack.views.panel_html import page_html

        return page_html(self, fallback_note=fallback_note)
