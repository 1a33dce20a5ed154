"""The panel's page as an HTML table: also the static copy shown where the widget frontend is missing.

Every value is escaped: run names and values render as text. Cells are written with :mod:`nbtrack.format`.
"""

from __future__ import annotations

import html
import numbers
from typing import Any, Protocol

from nbtrack import format as fmt
from nbtrack.query.select import is_missing

CELL_CHARS = 40  # longer values are cut in the table (the full value is in the cell's tooltip)


class PageSource(Protocol):
    """What the table is made from: a :class:`~nbtrack.views.panel_model.PanelModel`."""

    sort_by: str
    descending: bool
    page: int
    page_size: int
    selected: list[str]

    def columns(self) -> list[str]: ...
    def page_frame(self) -> Any: ...
    def summary(self) -> str: ...


_TH = 'style="padding:2px 6px;text-align:left;border-bottom:1px solid #d0d7de;white-space:nowrap"'
_TD = 'style="padding:1px 6px;white-space:nowrap;{extra}"'


def page_html(model: PageSource, *, fallback_note: str | None = None) -> str:
    """The model's current page as an HTML table, under its one-line summary."""
    esc = html.escape
    columns = model.columns()
    rows = model.page_frame()
    selected = set(model.selected)
    head = [f"<th {_TH}></th>", f"<th {_TH}>#</th>"]
    for column in columns:
        group, dot, short = column.partition(".")
        label = f'<span style="color:#8c959f">{esc(group)}.</span>{esc(short)}' if dot else esc(column)
        if column == model.sort_by:
            label += " ▼" if model.descending else " ▲"
        head.append(f'<th {_TH} title="{esc(column, quote=True)}">{label}</th>')
    body = []
    start = model.page * model.page_size
    for i, values in enumerate(rows[["run_id", *columns]].itertuples(index=False, name=None)):
        run_id, row = values[0], dict(zip(columns, values[1:], strict=True))
        mark = "✓" if run_id in selected else ""
        shade = "background:#ddf4ff;" if mark else ""
        cells = [
            f"<td {_TD.format(extra=shade)}>{mark}</td>",
            f"<td {_TD.format(extra=shade + 'color:#8c959f')}>{start + i + 1}</td>",
        ]
        for column in columns:
            text, full, style = cell(column, row[column])
            title = f' title="{esc(full, quote=True)}"' if full != text else ""
            cells.append(f"<td {_TD.format(extra=shade + style)}{title}>{esc(text)}</td>")
        body.append(f'<tr class="nbtrack-run">{"".join(cells)}</tr>')
    note = (
        f'<div class="nbtrack-fallback-note" style="margin:4px 0">{esc(fallback_note)}</div>' if fallback_note else ""
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
        f'<div style="color:#57606a;margin:2px 0">{esc(model.summary())}</div>{table}</div>'
    )


def cell(column: str, value: Any) -> tuple[str, str, str]:
    """(shown text, full text, extra CSS) of one table cell; both texts are escaped by the caller."""
    if is_missing(value):
        return "", "", ""
    if column == "status":
        return str(value), str(value), f"color:{fmt.status_color(value)};font-weight:600"
    if column == "run_id":
        return str(value), str(value), "font-family:monospace;font-size:11px"
    if column in ("start_time", "end_time"):
        return fmt.timestamp(value), str(value), ""
    if column == "duration":
        return fmt.duration(value), f"{value} s", "text-align:right"
    if column.startswith("data."):
        text = str(value)
        return text[:10], text, "font-family:monospace;font-size:11px"
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # Python's or numpy's
        return str(bool(value)), str(bool(value)), ""
    if isinstance(value, numbers.Integral):
        return fmt.number(value), str(int(value)), "text-align:right"
    if isinstance(value, numbers.Real):
        return fmt.number(value), repr(float(value)), "text-align:right"
    full = value if isinstance(value, str) else _repr(value)
    return fmt.shorten(full, CELL_CHARS), full, ""


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
