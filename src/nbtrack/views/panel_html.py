"""The panel's page as an HTML table (also the static copy shown where the widget frontend is missing), and one
run's details: params by source, metrics, models, artifacts (figures inline), output files, linked runs.

Every value is escaped: run names and values render as text. Cells are written with :mod:`nbtrack.format`.
In the details, a blob up to :data:`INLINE_BYTES` (a figure, a small model, a kept output) is a ``data:`` link
that downloads it from the page itself (the kernel cannot serve files); a larger one says its size and how to
get it (``nbtrack.load_model``, or the sidebar's download, which the server streams).
"""

from __future__ import annotations

import base64
import html
import numbers
from collections.abc import Mapping
from typing import Any, Protocol

from nbtrack import format as fmt
from nbtrack.query import contents
from nbtrack.query.select import is_missing

CELL_CHARS = 40  # longer values are cut in the table (the full value is in the cell's tooltip)
INLINE_BYTES = 2_000_000  # blobs up to this size are embedded in the details as data: links (figures as images)


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


_TH = 'style="padding:2px 6px;text-align:left;border-bottom:1px solid var(--jp-border-color1);white-space:nowrap"'
_TD = 'style="padding:1px 6px;white-space:nowrap;{extra}"'
_MUTED = "color:var(--jp-ui-font-color2)"
# Status: the text keeps the theme's font colour (AA in light and dark); the status colour is a side bar only.
_STATUS_BAR = {
    "finished": "--jp-success-color1",
    "failed": "--jp-error-color1",
    "interrupted": "--jp-warn-color1",
    "running": "--jp-brand-color1",
}
CHAR_PX = 7.5  # average width of a 12-13 px UI font character, for column widths
MIN_WIDTH, MAX_WIDTH = 48, 260  # column widths in the panel's grid (px); longer values end in … with a tooltip


def page_html(model: PageSource, *, fallback_note: str | None = None) -> str:
    """The model's current page as an HTML table, under its one-line summary."""
    esc = html.escape
    columns = model.columns()
    rows = model.page_frame()
    selected = set(model.selected)
    head = [f"<th {_TH}></th>", f"<th {_TH}>#</th>"]
    for column in columns:
        group, dot, short = column.partition(".")
        label = f'<span style="{_MUTED}">{esc(group)}.</span>{esc(short)}' if dot else esc(column)
        if column == model.sort_by:
            label += " ▼" if model.descending else " ▲"
        head.append(f'<th {_TH} title="{esc(column, quote=True)}">{label}</th>')
    body = []
    start = model.page * model.page_size
    for i, values in enumerate(rows[["run_id", *columns]].itertuples(index=False, name=None)):
        run_id, row = values[0], dict(zip(columns, values[1:], strict=True))
        mark = "✓" if run_id in selected else ""
        shade = "background:var(--jp-layout-color2);color:var(--jp-ui-font-color0);" if mark else ""
        cells = [
            f"<td {_TD.format(extra=shade)}>{mark}</td>",
            f"<td {_TD.format(extra=shade + _MUTED)}>{start + i + 1}</td>",
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
        f'<div style="{_MUTED};margin:2px 0">{esc(model.summary())}</div>{table}</div>'
    )


def cell(column: str, value: Any) -> tuple[str, str, str]:
    """(shown text, full text, extra CSS) of one table cell; both texts are escaped by the caller."""
    if is_missing(value):
        return "", "", ""
    if column == "status":
        bar = _STATUS_BAR.get(str(value), "--jp-border-color0")
        return fmt.status_label(value), str(value), f"border-left:3px solid var({bar});padding-left:4px"
    if column == "run_id":
        return str(value), str(value), "font-family:monospace;font-size:11px"
    if column in ("start_time", "end_time"):
        return fmt.timestamp(value), str(value), ""
    if column == "duration":
        return fmt.duration(value), f"{value} s", "text-align:right"
    if column.startswith(("data.", "models.", "outputs.")):
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


def column_widths(columns: list[str], rows: Any) -> dict[str, int]:
    """Pixel width of each column of the grid: its longest shown text (or header), within [MIN, MAX]."""
    widths = {}
    for column in columns:
        longest = len(column.partition(".")[2] or column) + 2  # the header label and its sort arrow
        for value in rows[column]:
            longest = max(longest, len(cell(column, value)[0]))
        widths[column] = int(min(MAX_WIDTH, max(MIN_WIDTH, longest * CHAR_PX + 12)))
    return widths


def row_html(columns: list[str], widths: dict[str, int], row: dict[str, Any]) -> str:
    """One run's cells for the grid, as fixed-width boxes lined up with the header buttons. Escaped."""
    esc = html.escape
    parts = []
    for column in columns:
        text, full, style = cell(column, row[column])
        title = f' title="{esc(full, quote=True)}"' if full != text or len(text) * CHAR_PX + 12 > widths[column] else ""
        parts.append(f'<span class="nbtrack-cell" style="width:{widths[column]}px;{style}"{title}>{esc(text)}</span>')
    return f'<div class="nbtrack-cells">{"".join(parts)}</div>'


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


# one run's details ---------------------------------------------------------------------------------------


def details_html(run: Any, docs: Mapping[str, dict[str, Any]], store: Any) -> str:
    """``run``'s details as HTML; ``docs`` (every record of the store) finds the runs downstream, ``store``
    reads the blobs embedded as images and ``data:`` links."""
    esc = html.escape
    head = (
        f'<div class="nbtrack-details" style="font-size:12px"><b>{esc(run.name or run.id)}</b> '
        f"<code>{esc(run.id)}</code> · {esc(str(run.status))} · {esc(fmt.duration(run.duration or 0))}"
    )
    sections = [
        _section("params", ["source", "name", "value"], _param_rows(run)),
        _section("metrics", ["name", "value"], [[k, _text(v)] for k, v in run.metrics.items()]),
        _section("models", ["name", "class", "format", "size", "hash", ""], _model_rows(run, store), raw=5),
        *_figures(run, store),
        _section("artifacts", ["name", "kind", "type", "size", ""], _artifact_rows(run, store), raw=4),
        _section("outputs", ["path", "size", "hash", ""], _output_rows(run, store), raw=3),
        _section("linked runs", ["", "file", "run"], _link_rows(run, docs)),
    ]
    return head + "".join(sections) + "</div>"


def _section(title: str, head: list[str], rows: list[list[str]], raw: int | None = None) -> str:
    return f"<h4 style='margin:8px 0 2px'>{html.escape(title)}</h4>{_table(head, rows, raw)}" if rows else ""


def _param_rows(run: Any) -> list[list[str]]:
    groups = contents.params_by_label(run.params, run.param_sources) if run.param_sources else {"": list(run.params)}
    return [[label, name, _text(run.params[name])] for label, names in groups.items() for name in names]


def _model_rows(run: Any, store: Any) -> list[list[str]]:
    rows = []
    for m in contents.model_rows(run.models):
        link = _download(store, run, m["blob"], m["size"]) if m["kept"] else html.escape(f"not kept: {m['skipped']}")
        hash_ = contents.short_hash(m["hash"]) or ""
        rows.append([m["name"], m["class"] or "?", m["format"] or "", fmt.size(m["size"]), hash_, link])
    return rows


def _figures(run: Any, store: Any) -> list[str]:
    """Each figure as an image in the page (a ``data:`` URL), with its name as caption."""
    out = []
    for a in contents.artifact_rows(run.artifacts):
        if contents.is_figure(a):
            url = _data_url(store, a["blob"], a["size"], a["media_type"] or "image/png")
            alt = html.escape(a["name"], quote=True)
            shown = f'<img src="{url}" alt="{alt}" style="max-width:480px">' if url else "(too large to show)"
            out.append(
                f'<figure style="margin:4px 0">{shown}<figcaption>{html.escape(a["name"])}</figcaption></figure>'
            )
    return out


def _artifact_rows(run: Any, store: Any) -> list[list[str]]:
    return [
        [
            a["name"],
            a["kind"],
            a["media_type"] or "",
            fmt.size(a["size"]),
            _download(store, run, a["blob"], a["size"]),
        ]
        for a in contents.artifact_rows(run.artifacts)
    ]


def _output_rows(run: Any, store: Any) -> list[list[str]]:
    rows = []
    for o in contents.output_rows(run.outputs):
        link = _download(store, run, o["kept"], o["size"]) if o["kept"] else "hashed only"
        rows.append([o["path"], fmt.size(o["size"]), contents.short_hash(o["hash"]) or "", link])
    return rows


def _link_rows(run: Any, docs: Mapping[str, dict[str, Any]]) -> list[list[str]]:
    rows = [["upstream", name, run_id] for name, run_id in run.upstream.items()]
    rows += [["downstream", name, ", ".join(ids)] for name, ids in contents.downstream(docs, run.id).items()]
    return rows


def _text(value: Any) -> str:
    return fmt.number(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else _repr(value)


def _table(head: list[str], rows: list[list[str]], raw: int | None = None) -> str:
    """A small table; every cell is escaped except column ``raw`` (HTML this module made from escaped parts)."""
    esc = html.escape
    cells = "".join(
        "<tr>"
        + "".join(f"<td {_TD.format(extra='')}>{c if i == raw else esc(str(c))}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{''.join(f'<th {_TH}>{esc(h)}</th>' for h in head)}</tr>{cells}</table>"


def _data_url(store: Any, digest: str | None, size: int | None, media_type: str) -> str | None:
    """The blob as a ``data:`` URL when it is small enough to embed and readable, else None."""
    if not digest or (size or 0) > INLINE_BYTES:
        return None
    try:
        data = store.get_blob(digest)
    except (OSError, ValueError):
        return None
    if len(data) > INLINE_BYTES:
        return None
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _download(store: Any, run: Any, digest: str | None, size: int | None) -> str:
    """A ``data:`` link downloading a small blob of ``run`` under the name the server gives it; for a large or
    missing one, a note instead."""
    url = _data_url(store, digest, size, "application/octet-stream")
    ref = contents.blob_of(run.to_doc(), digest or "")
    if url is None or ref is None:
        return html.escape("too large to embed: nbtrack.load_model or the sidebar" if digest else "")
    return f'<a download="{html.escape(ref.filename, quote=True)}" href="{url}">download</a>'
