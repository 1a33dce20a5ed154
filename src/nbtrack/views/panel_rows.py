"""The panel's runs grid: one page of runs as rows you tick, under header buttons that sort.

Built from stock ipywidgets: a header row (a checkbox for the whole page, then one :class:`~ipywidgets.Button`
per column: click to sort by it, click again to reverse) and one row per run (a :class:`~ipywidgets.Checkbox`
and the run's cells as escaped HTML of fixed-width boxes, the widths shared with the header buttons). Only one
page is ever built (50 rows by default, whatever the number of runs), and the row widgets are made once and
reused from page to page, so paging, sorting and live updates only change values. Layouts and styles are
shared between rows, which keeps the number of widgets (and the panel's first show) small.

Colours come from the JupyterLab theme (``--jp-*`` variables, in :data:`CSS`), so light and dark themes both
read: a selected row gets the theme's second layout colour and a brand-coloured bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_string import HTMLStyle

from nbtrack.views.panel_html import column_widths, row_html

ROW_HEIGHT = "26px"
CHECK_WIDTH = "64px"  # the checkbox and the run's number next to it

CSS = """<style>
.nbtrack-panel .nbtrack-grid { overflow-x: auto; max-width: 100%; }
.nbtrack-panel .nbtrack-grid-row { min-width: max-content; border-bottom: 1px solid var(--jp-border-color2); }
.nbtrack-panel .nbtrack-grid-row.nbtrack-selected {
  background: var(--jp-layout-color2); box-shadow: inset 3px 0 0 var(--jp-brand-color1);
}
.nbtrack-panel .nbtrack-grid-row .widget-checkbox label { color: var(--jp-ui-font-color2); }
.nbtrack-panel .nbtrack-cells { display: flex; font-size: 12px; line-height: 24px; color: var(--jp-ui-font-color1); }
.nbtrack-panel .nbtrack-cell {
  display: inline-block; box-sizing: border-box; padding: 0 6px; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; flex: none;
}
.nbtrack-panel .nbtrack-grid-head { min-width: max-content; border-bottom: 1px solid var(--jp-border-color1); }
.nbtrack-panel .nbtrack-grid-head button { margin: 0; padding: 0 6px; text-align: left; font-size: 12px; }
.nbtrack-panel .nbtrack-note-error {
  border-left: 3px solid var(--jp-error-color1); padding-left: 6px; color: var(--jp-ui-font-color0);
}
.nbtrack-panel .nbtrack-note-ok {
  border-left: 3px solid var(--jp-success-color1); padding-left: 6px; color: var(--jp-ui-font-color0);
}
.nbtrack-panel .nbtrack-muted { color: var(--jp-ui-font-color2); }
.nbtrack-panel .nbtrack-result { border: 1px solid var(--jp-border-color1); padding: 4px; }
</style>"""


def header_label(column: str, sort_by: str, descending: bool) -> str:
    """A column's header text: its short name (``acc`` for ``metrics.acc``) and ▼/▲ when sorted by it."""
    short = column.partition(".")[2] or column
    return short + ((" ▼" if descending else " ▲") if column == sort_by else "")


class _Row:
    """The widgets of one grid row; ``run_id`` is the run it shows now."""

    def __init__(self, grid: RowsGrid) -> None:
        self.run_id = ""
        self.check = widgets.Checkbox(indent=False, layout=grid._check_layout, style=grid._check_style)
        self.cells = widgets.HTML(layout=grid._cells_layout, style=grid._html_style)
        self.box = widgets.HBox([self.check, self.cells], layout=grid._row_layout)
        self.box.add_class("nbtrack-grid-row")
        self.check.observe(lambda change: grid._toggled(self, change.new), names="value")


class RowsGrid(widgets.VBox):
    """The runs of one page with a checkbox each and sortable headers; see the module's docstring.

    ``on_toggle(run_id, selected)``, ``on_toggle_page(selected)`` and ``on_sort(column)`` are called on user
    changes only: not for the values :meth:`show` sets to bring the widgets in line with the model, but still
    for a click that arrives while the live-refresh thread is running :meth:`show`."""

    def __init__(
        self,
        on_toggle: Callable[[str, bool], None],
        on_toggle_page: Callable[[bool], None],
        on_sort: Callable[[str], None],
    ) -> None:
        self._on_toggle, self._on_toggle_page, self._on_sort = on_toggle, on_toggle_page, on_sort
        self._syncing: int | None = None  # the thread running show(): its own value changes are not clicks
        self._check_layout = widgets.Layout(width=CHECK_WIDTH, height=ROW_HEIGHT, margin="0", flex="none")
        self._check_style = CheckboxStyle()
        self._cells_layout = widgets.Layout(height=ROW_HEIGHT, margin="0")
        self._html_style = HTMLStyle()
        self._row_layout = widgets.Layout(flex_flow="row nowrap", align_items="center", width="max-content")
        self._button_style = widgets.ButtonStyle()
        self.page_check = widgets.Checkbox(
            indent=False,
            description="all",
            tooltip="Select every run of this page (untick to clear them)",
            layout=widgets.Layout(width=CHECK_WIDTH, margin="0", flex="none"),
        )
        self.page_check.observe(self._page_toggled, names="value")
        self.head = widgets.HBox([self.page_check], layout=widgets.Layout(flex_flow="row nowrap"))
        self.head.add_class("nbtrack-grid-head")
        self.body = widgets.VBox()
        self.headers: list[widgets.Button] = []  # pool, one per column shown
        self._columns: list[str] = []
        self.rows: list[_Row] = []  # pool; the first ``len(self.shown_rows)`` are on screen
        super().__init__([widgets.HTML(CSS), self.head, self.body])
        self.add_class("nbtrack-grid")

    @property
    def shown_rows(self) -> list[_Row]:
        return self.rows[: len(self.body.children)]

    @property
    def labels(self) -> list[str]:
        """The header buttons' labels, in column order (``i ▲`` when sorted by ``params.i``, ascending)."""
        return [b.description for b in self.headers[: len(self._columns)]]

    def text(self) -> str:
        """The header labels and every shown row's HTML (what the grid shows, for tests and the fallback)."""
        heads = " ".join(b.description for b in self.headers[: len(self._columns)])
        return heads + "\n" + "\n".join(row.cells.value for row in self.shown_rows)

    def show(self, model: Any) -> None:
        """Bring the grid in line with ``model`` (a :class:`~nbtrack.views.panel_model.PanelModel`)."""
        columns = model.columns()
        frame = model.page_frame()
        wanted = ["run_id", *(c for c in columns if c != "run_id")]
        records = frame[wanted].to_dict("records") if len(frame) else []
        widths = column_widths(columns, frame) if len(frame) else {c: 80 for c in columns}
        selected = set(model.selected)
        self._syncing = threading.get_ident()
        try:
            self._show_header(columns, widths, model.sort_by, model.descending)
            while len(self.rows) < len(records):
                self.rows.append(_Row(self))
            start = model.page * model.page_size
            for i, (row, record) in enumerate(zip(self.rows, records, strict=False)):
                row.run_id = record["run_id"]
                name = record["name"] if isinstance(record.get("name"), str) and record["name"] else row.run_id
                row.check.description = str(start + i + 1)
                row.check.tooltip = f"Select {name}"
                row.check.value = row.run_id in selected
                row.cells.value = row_html(columns, widths, record)
                _set_class(row.box, "nbtrack-selected", row.check.value)
            shown = tuple(row.box for row in self.rows[: len(records)])
            if self.body.children != shown:
                self.body.children = shown
            self.page_check.value = bool(records) and all(r["run_id"] in selected for r in records)
            self.page_check.disabled = not records
        finally:
            self._syncing = None

    def _show_header(self, columns: list[str], widths: dict[str, int], sort_by: str, descending: bool) -> None:
        while len(self.headers) < len(columns):
            button = widgets.Button(layout=widgets.Layout(height=ROW_HEIGHT, flex="none"), style=self._button_style)
            button.on_click(lambda b: self._sort_clicked(b))
            self.headers.append(button)
        for button, column in zip(self.headers, columns, strict=False):
            button.description = header_label(column, sort_by, descending)
            button.tooltip = f"Sort by {column}" + (" (click again to reverse)" if column == sort_by else "")
            button.layout.width = f"{widths[column]}px"
        self._columns = list(columns)
        wanted = (self.page_check, *self.headers[: len(columns)])
        if self.head.children != wanted:
            self.head.children = wanted

    def close(self) -> None:
        """Close the pooled rows and headers too (those off screen are not among the children)."""
        for row in getattr(self, "rows", ()):  # also called by __del__, maybe of a half-built grid
            for widget in (row.check, row.cells, row.box):
                widget.close()
        for button in getattr(self, "headers", ()):
            button.layout.close()
            button.close()
        for name in ("_check_layout", "_cells_layout", "_row_layout", "_check_style", "_html_style", "_button_style"):
            shared = getattr(self, name, None)
            if shared is not None:
                shared.close()
        super().close()

    def _sort_clicked(self, button: widgets.Button) -> None:
        index = self.headers.index(button)
        if index < len(self._columns):
            self._on_sort(self._columns[index])

    def _toggled(self, row: _Row, value: bool) -> None:
        if self._syncing == threading.get_ident() or not row.run_id:
            return
        _set_class(row.box, "nbtrack-selected", value)
        self._on_toggle(row.run_id, value)

    def _page_toggled(self, change: Any) -> None:
        if self._syncing != threading.get_ident():
            self._on_toggle_page(bool(change.new))


def _set_class(widget: widgets.DOMWidget, name: str, on: bool) -> None:
    if on and name not in widget._dom_classes:
        widget.add_class(name)
    elif not on and name in widget._dom_classes:
        widget.remove_class(name)
