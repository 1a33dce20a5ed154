"""The runs panel: ``nbtrack.panel()`` and ``%nbtrack panel``, built from stock ipywidgets only.

No custom JavaScript: every control is a core ipywidgets widget, so the panel needs no CDN and no extra
frontend package, and works wherever ipywidgets 8 does (JupyterLab 4, Notebook 7, VS Code). The state and
everything computed from it (filters, sort, paging, columns, selection, the HTML table) live in
:class:`~nbtrack.views.panel_model.PanelModel`; this module only maps controls to it and renders one page.

Live refresh: a daemon thread compares the store's modification stamp every second (backing off to 5 s
while nothing changes) and updates the panel only when it changed, patching the table with the new records
rather than reloading the store. Being a thread, it also updates the panel while the kernel is busy running a
cell (a busy kernel cannot process comm messages, so clicks wait until the cell ends, but updates sent from the
kernel still arrive). It stops when the panel is closed, and pauses while no view of the panel is shown.

When the widget frontend is missing, the panel still displays: its mimebundle carries a plain HTML table of
the current page and one sentence on how to fix the frontend next to the widget view.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from nbtrack.run import STATUSES
from nbtrack.store.local import Store
from nbtrack.views.live import POLL_INTERVAL
from nbtrack.views.panel_actions import PanelActions
from nbtrack.views.panel_chart import ChartView, chart_kinds
from nbtrack.views.panel_live import PanelLive
from nbtrack.views.panel_model import PAGE_SIZE, PanelModel
from nbtrack.views.panel_rows import RowsGrid
from nbtrack.views.run_more_action import RunMoreAction

_ALL = ""  # the "no filter" choice of a dropdown


def fix_sentence() -> str:
    """The one sentence shown with the static table when the widget frontend is missing or mismatched."""
    return (
        f"This is a static copy of the nbtrack panel because this frontend cannot show Jupyter widgets "
        f"(ipywidgets {widgets.__version__} in the kernel): install or upgrade the matching widget frontend in "
        f'the environment that runs Jupyter (pip install -U "jupyterlab_widgets>=3" for JupyterLab 4 and '
        f"Notebook 7; the Jupyter extension in VS Code) and reload the page."
    )


def _error_html(text: str) -> str:
    return f'<div class="nbtrack-note-error">{html.escape(text)}</div>'


def _wrap(children: list[widgets.Widget]) -> widgets.HBox:
    """A row of controls that wraps onto the next line when the notebook is narrow (labels stay whole)."""
    return widgets.HBox(children, layout={"flex_flow": "row wrap", "align_items": "center"})


def _button(description: str, **options: Any) -> widgets.Button:
    """A button as wide as its label: in a narrow notebook the row wraps instead of squeezing labels away."""
    return widgets.Button(description=description, layout={"width": "auto", "flex": "none"}, **options)


class Panel(PanelLive, PanelActions, widgets.VBox):
    """The runs panel. Build it with :func:`panel`; drive it from code through its controls (``experiment``,
    ``status``, ``tag``, ``search``, ``where``, ``all_columns``, ``sort_by``, ``descending``, the grid's row
    checkboxes and header buttons in ``grid``, the ``*_button`` widgets) or through :attr:`model`. The HTML it
    shows is in ``grid``, ``message``, ``action_note`` and ``result``; the comparison chart in ``chart``
    (a Vega-Lite mimebundle in ``chart.output``, or the PNG fallback in ``plot``)."""

    def __init__(
        self,
        experiment: str | None = None,
        *,
        store: str | Path | Store | None = None,
        page_size: int = PAGE_SIZE,
        live: bool = True,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.model = PanelModel(store, experiment=experiment, page_size=page_size)
        self._lock = threading.RLock()
        self._syncing = False
        self._comparison: Any = None
        self._compared_metric: str | None = None
        self._pending_delete: list[str] = []
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.poll_error: str | None = None

        wide = {"description_width": "initial"}
        self.experiment = widgets.Dropdown(description="Experiment", style=wide, layout={"width": "260px"})
        self.status = widgets.Dropdown(description="Status", style=wide, layout={"width": "170px"})
        self.tag = widgets.Combobox(
            description="Tag",
            placeholder="key or key=value",
            style=wide,
            continuous_update=False,
            layout={"width": "230px"},
        )
        self.search = widgets.Text(
            description="Search", placeholder="name or run id", style=wide, layout={"width": "230px"}
        )
        self.where = widgets.Text(
            description="Where",
            placeholder="params.lr < 0.1 and metrics.acc > 0.9",
            continuous_update=False,
            style=wide,
            layout={"width": "460px", "max_width": "100%"},
        )
        self.all_columns = widgets.Checkbox(
            description="all columns",
            indent=False,
            layout={"width": "110px"},
            tooltip="Show every param, tag and data column, not only the params "
            "and tags that differ between the runs shown",
        )
        self.refresh_button = widgets.Button(
            icon="refresh", tooltip="Reload the runs now", layout={"width": "36px", "flex": "none"}
        )
        self.live = widgets.Checkbox(
            value=live,
            description="live",
            indent=False,
            layout={"width": "60px"},
            tooltip="Show new runs as they land (checks the store every 1-5 s)",
        )
        self.message = widgets.HTML()
        self.summary_line = widgets.HTML()
        self.grid = RowsGrid(self._row_toggled, self._page_toggled, self._sort_clicked)  # views/panel_rows.py

        self.first_button = widgets.Button(description="«", tooltip="First page", layout={"width": "36px"})
        self.prev_button = widgets.Button(description="‹", tooltip="Previous page", layout={"width": "36px"})
        self.next_button = widgets.Button(description="›", tooltip="Next page", layout={"width": "36px"})
        self.last_button = widgets.Button(description="»", tooltip="Last page", layout={"width": "36px"})
        self.page_label = widgets.Label()
        self.sort_by = widgets.Dropdown(description="Sort by", style=wide, layout={"width": "260px"})
        self.descending = widgets.ToggleButtons(
            options=[("▼ desc", True), ("▲ asc", False)],
            tooltips=["Largest (or latest) first", "Smallest (or earliest) first"],
            style={"button_width": "auto"},
            layout={"flex": "none"},
        )

        self.clear_button = _button("Clear selection")
        self.selection = widgets.HTML()

        self.compare_button = _button("Compare", icon="bar-chart")
        self.metric = widgets.Dropdown(description="metric", style=wide, layout={"width": "200px"})
        self.plot_kind = widgets.Dropdown(
            description="chart", options=chart_kinds(), style=wide, layout={"width": "150px"}
        )
        self.diff_button = _button("Diff", icon="columns")
        self.export_button = _button("Export", icon="file-code-o")
        self.details_button = _button("Details", icon="info")  # models, figures, outputs
        self.tag_text = widgets.Text(placeholder="key=value", layout={"width": "150px"})
        self.tag_button = _button("Tag", icon="tag")
        self.delete_button = _button("Delete", icon="trash", button_style="danger")
        self.action_note = widgets.HTML()  # what an action did or its error, next to the buttons
        self.confirm_text = widgets.HTML()
        self.confirm_button = _button("Delete", button_style="danger")
        self.cancel_button = _button("Cancel")
        self.confirm_box = widgets.HBox(
            [self.confirm_text, self.confirm_button, self.cancel_button],
            layout={"display": "none", "flex_flow": "row wrap"},
        )

        self.result_title = widgets.HTML()
        self.result = widgets.HTML()
        self.chart = ChartView()  # views/panel_chart.py: Vega-Lite output, or a PNG at its natural size
        self.plot = self.chart.image
        self.close_result_button = _button("Close")
        self.run_more = RunMoreAction(self)  # views/run_more_action.py
        header = _wrap([self.result_title, self.run_more.button, self.close_result_button])
        self.result_box = widgets.VBox(
            [header, self.run_more.box, self.result, self.chart.box], layout={"display": "none"}
        )
        self.result_box.add_class("nbtrack-result")

        super().__init__(
            children=[
                _wrap([self.experiment, self.status, self.tag, self.search]),
                _wrap([self.where, self.all_columns, self.refresh_button, self.live]),
                self.message,
                self.summary_line,
                self.grid,
                _wrap(
                    [
                        self.first_button,
                        self.prev_button,
                        self.page_label,
                        self.next_button,
                        self.last_button,
                        self.sort_by,
                        self.descending,
                    ]
                ),
                _wrap([self.selection, self.clear_button]),
                _wrap(
                    [
                        self.compare_button,
                        self.metric,
                        self.plot_kind,
                        self.diff_button,
                        self.details_button,
                        self.export_button,
                        self.tag_text,
                        self.tag_button,
                        self.delete_button,
                    ]
                ),
                self.action_note,
                self.confirm_box,
                self.result_box,
            ]
        )
        self.add_class("nbtrack-panel")

        for name in ("experiment", "status", "tag", "search", "where", "all_columns", "sort_by", "descending"):
            getattr(self, name).observe(self._setting_changed(name), names="value")
        self.plot_kind.observe(lambda change: self._guard(self._draw_plot), names="value")
        self.live.observe(self._live_changed, names="value")
        self.observe(self._views_changed, names="_view_count")
        for button, action in (
            (self.refresh_button, lambda: self.refresh(force=True)),
            (self.first_button, lambda: self._go(0)),
            (self.prev_button, lambda: self._go(self.model.page - 1)),
            (self.next_button, lambda: self._go(self.model.page + 1)),
            (self.last_button, lambda: self._go(self.model.n_pages - 1)),
            (self.clear_button, self._clear_selection),
            (self.close_result_button, self._close_result),
        ):
            button.on_click(lambda _button, action=action: self._guard(action))
        for button, action in (
            (self.compare_button, self._compare),
            (self.diff_button, self._diff),
            (self.export_button, self._export),
            (self.details_button, self._details),
            (self.tag_button, self._tag),
            (self.delete_button, self._ask_delete),
            (self.confirm_button, self._delete),
            (self.cancel_button, self._cancel_delete),
        ):  # their errors show next to them (``action_note``), not above the table
            button.on_click(lambda _button, action=action: self._guard(action, near_actions=True))

        with self._lock:
            self._render()
        self._view_count = 0  # the frontend counts the views it shows: polling pauses while there are none
        if live:
            self.start()

    # display ---------------------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        with self._lock:
            bundle["text/plain"] = f"nbtrack panel: {self.model.summary()}"
            bundle["text/html"] = self.model.page_html(fallback_note=fix_sentence())
        return bundle

    def __repr__(self) -> str:
        return f"<nbtrack panel: {self.model.summary()}>"

    # rendering -------------------------------------------------------------------------------------------

    def _render(self, controls: bool = True) -> None:
        """Bring the controls in line with the model (call with the lock held). ``controls=False`` (live
        refresh) leaves the text fields alone, so a refresh never overwrites what is being typed."""
        model = self.model
        self._syncing = True
        try:
            self._set_options(
                self.experiment,
                [("all experiments", _ALL)]
                + [(e, e) for e in sorted(set(model.experiments()) | _names(model.experiment))],
                model.experiment if isinstance(model.experiment, str) else _ALL,
            )
            statuses = list(STATUSES) + [s for s in model.statuses() if s not in STATUSES]
            self._set_options(self.status, [("any", _ALL)] + [(s, s) for s in statuses], model.status or _ALL)
            choices = tuple(model.tag_choices())
            if self.tag.options != choices:
                self.tag.options = choices
            if controls:
                self.tag.value = model.tag or ""
                self.search.value = model.search or ""
                self.where.value = model.where or ""
                self.all_columns.value = model.all_columns
                self.descending.value = model.descending
            self._set_options(self.sort_by, [(c, c) for c in model.sortable()], model.sort_by)

            self.summary_line.value = f'<div class="nbtrack-muted">{html.escape(model.summary())}</div>'
            self.grid.show(model)
            self.page_label.value = f"page {model.page + 1:,} of {model.n_pages:,}"
            self.first_button.disabled = self.prev_button.disabled = model.page == 0
            self.next_button.disabled = self.last_button.disabled = model.page >= model.n_pages - 1

            self._render_selection()

            notes = []
            if model.where_error:
                notes.append(_error_html(f"Where: {model.where_error}"))
            if self.poll_error:
                notes.append(_error_html(f"Live refresh: {self.poll_error}"))
            self.message.value = "".join(notes) + (self._notice or "")
        finally:
            self._syncing = False

    _notice: str | None = None
    _near_actions = False  # an action button's callback is running: its notices go next to the buttons

    def _note(self, text: str, error: bool = False) -> None:
        """Show a one-line notice (escaped) until the next one: under the action buttons for what they did,
        else above the table."""
        shown = _error_html(text) if error else f'<div class="nbtrack-note-ok">{html.escape(text)}</div>'
        if self._near_actions:
            self.action_note.value = shown
        else:
            self._notice = shown

    @staticmethod
    def _set_options(dropdown: widgets.Dropdown, options: list[tuple[str, str]], value: str) -> None:
        if value not in {v for _, v in options}:
            options = [*options, (str(value), value)]
        if list(dropdown.options) != options:
            dropdown.options = options
        if dropdown.value != value:
            dropdown.value = value

    def _render_selection(self) -> None:
        model = self.model
        chosen = model.selection_rows()
        if len(chosen):
            names = [
                f"{n if isinstance(n, str) and n else '(unnamed)'} ({r})"
                for n, r in zip(chosen["name"], chosen["run_id"], strict=True)
            ]
            hidden = len(set(model.selected) - set(model.view()["run_id"]))
            shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
            extra = f" ({hidden} hidden by the filters)" if hidden else ""
            self.selection.value = (
                f'<div style="font-size:12px"><b>{len(names)} selected</b>{html.escape(extra)}: '
                f"{html.escape(shown)}</div>"
            )
        else:
            self.selection.value = '<div class="nbtrack-muted" style="font-size:12px">No run selected.</div>'
        metrics = model.metrics_of(model.selected)
        current = self.metric.value
        if current not in metrics:
            current = model.sort_by[8:] if model.sort_by[8:] in metrics else (metrics[0] if metrics else None)
        if tuple(self.metric.options) != tuple(metrics):
            self.metric.options = metrics
        self.metric.value = current
        self._update_actions()

    def _update_actions(self) -> None:
        n = len(self.model.selected)
        checks = {
            self.compare_button: (2, None, "Compare the selected runs (intervals, tests, plots)"),
            self.diff_button: (2, 2, "What changed between the two selected runs"),
            self.export_button: (1, 1, "Export the selected run as a script"),
            self.details_button: (1, 1, "The selected run's params by source, models, figures and output files"),
            self.tag_button: (1, None, "Tag the selected runs with key=value"),
            self.delete_button: (1, None, "Delete the selected runs (asks first)"),
        }
        for button, (least, most, help_text) in checks.items():
            if n < least or (most is not None and n > most):
                button.disabled = True
                wanted = f"exactly {least}" if least == most else f"at least {least}"
                button.tooltip = f"Select {wanted} run{'s' * (least != 1)} ({n} selected)"
            elif button is self.compare_button and not self.metric.options:
                button.disabled = True
                button.tooltip = "The selected runs have no metrics to compare"
            else:
                button.disabled = False
                button.tooltip = help_text

    # events ----------------------------------------------------------------------------------------------

    def _guard(self, action: Any, near_actions: bool = False) -> None:
        """Run a callback under the lock; an error becomes a notice instead of vanishing into the kernel log:
        next to the action buttons for their errors (``near_actions``), above the table for the others."""
        with self._lock:
            self._wake.set()  # user activity: poll soon again
            self._notice = None
            self.action_note.value = ""
            self._near_actions = near_actions
            try:
                action()
            except Exception as exc:
                self._note(f"{type(exc).__name__}: {exc}", error=True)
            finally:
                self._near_actions = False
            self._render()

    def _setting_changed(self, name: str) -> Any:
        def handler(change: Any) -> None:
            with self._lock:  # the lock first: ``_syncing`` may be set by a refresh in the polling thread
                if self._syncing:
                    return
                value = change.new
                if name in ("experiment", "status", "tag", "search", "where"):
                    value = value or None
                self._guard(lambda: self.model.set(**{name: value}))

        return handler

    def _row_toggled(self, run_id: str, selected: bool) -> None:
        def update() -> None:
            if selected:
                self.model.select([run_id])
            else:
                self.model.deselect([run_id])
            self._cancel_delete()

        with self._lock:
            if not self._syncing:
                self._guard(update)

    def _page_toggled(self, selected: bool) -> None:
        def update() -> None:
            ids = list(self.model.page_frame()["run_id"])
            if selected:
                self.model.select(ids)
            else:
                self.model.deselect(ids)
            self._cancel_delete()

        with self._lock:
            if not self._syncing:
                self._guard(update)

    def _sort_clicked(self, column: str) -> None:
        """A header click: sort by that column, or reverse the order when already sorted by it."""
        model = self.model
        descending = not model.descending if column == model.sort_by else column not in ("name", "run_id")
        self._guard(lambda: model.set(sort_by=column, descending=descending))

    def _go(self, page: int) -> None:
        self.model.go_to(page)

    def _clear_selection(self) -> None:
        self.model.clear_selection()
        self._cancel_delete()


def _names(experiment: Any) -> set[str]:
    if experiment is None:
        return set()
    return {experiment} if isinstance(experiment, str) else set(experiment)


def panel(
    experiment: str | None = None,
    *,
    store: str | Path | Store | None = None,
    page_size: int = PAGE_SIZE,
    live: bool = True,
) -> Panel:
    """An interactive table of the runs: filter, sort, page, select, then compare, diff, export, tag or delete.

    ``experiment=None`` loads every run, with the experiment filter preset to the current notebook's
    experiment when it is known (pick "all experiments" to see the rest). ``live`` updates the table as new
    runs land. Only stock ipywidgets are used; where the widget frontend is missing, a static HTML table of
    the runs is shown instead, with one sentence on how to fix it.
    """
    from nbtrack.capture.lifecycle import notebook_experiment

    preset = experiment if experiment is not None else notebook_experiment()
    return Panel(preset, store=store, page_size=page_size, live=live)
