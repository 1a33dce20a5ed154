"""The panel's grid (views/panel_rows.py) driven from Python with real ipywidgets: rows ticked by their
checkboxes, header buttons that sort, the page checkbox, paging 500 runs, number formats, wrapping layout and
theme colours, and export errors shown next to the buttons."""

from __future__ import annotations

import re

import ipywidgets as widgets
import pytest
from panel_helpers import add_runs, rows_shown, tick, tick_run

import nbtrack
from nbtrack.store.local import get_store
from nbtrack.views.panel_html import MAX_WIDTH


def test_rows_are_selected_by_their_checkboxes_across_pages(store_dir):
    add_runs(get_store(), 120, experiment="bulk")
    p = nbtrack.panel(live=False)
    try:
        assert rows_shown(p) == 50 and len(p.grid.rows) == 50  # one page of row widgets, whatever the total
        first = p.grid.rows[0]
        first_id = first.run_id
        first.check.value = True
        assert p.model.selected == [first_id] and "nbtrack-selected" in first.box._dom_classes
        assert "1 selected" in p.selection.value and p.details_button.disabled is False
        p.next_button.click()
        assert not any(row.check.value for row in p.grid.shown_rows)  # same widgets, the next page's runs
        assert first_id not in {row.run_id for row in p.grid.shown_rows}
        assert "nbtrack-selected" not in first.box._dom_classes
        p.grid.page_check.value = True  # the whole page
        assert len(p.model.selected) == 51 and all(row.check.value for row in p.grid.shown_rows)
        p.last_button.click()
        assert rows_shown(p) == 20 and len(p.grid.rows) == 50  # the pool is reused, not grown
        assert not p.grid.page_check.value
        p.first_button.click()
        assert first.check.value and first.run_id == first_id
        first.check.value = False
        assert first_id not in p.model.selected and "nbtrack-selected" not in first.box._dom_classes
        p.clear_button.click()
        assert p.model.selected == [] and not any(row.check.value for row in p.grid.shown_rows)
    finally:
        p.close()


def test_header_buttons_sort_and_reverse(store_dir):
    add_runs(get_store(), 30, experiment="bulk")
    p = nbtrack.panel("bulk", live=False)
    try:
        assert "start_time ▼" in p.grid.labels  # the default order: newest first
        acc = p.grid.headers[p.grid.labels.index("acc")]
        assert acc.tooltip == "Sort by metrics.acc"
        acc.click()
        assert p.model.sort_by == "metrics.acc" and p.model.descending
        assert p.sort_by.value == "metrics.acc" and p.descending.value is True  # the controls follow
        assert "acc ▼" in p.grid.labels and "start_time" in p.grid.labels
        assert "bulk 29" in p.grid.rows[0].check.tooltip
        p.grid.headers[p.grid.labels.index("acc ▼")].click()  # again: reversed
        assert not p.model.descending and "acc ▲" in p.grid.labels
        assert p.grid.rows[0].check.tooltip.removeprefix("Select ") == "bulk 0"
        p.grid.headers[p.grid.labels.index("name")].click()  # a text column starts ascending
        assert p.model.sort_by == "name" and not p.model.descending
    finally:
        p.close()


def test_where_filter_uses_the_query_language(store_dir):
    add_runs(get_store(), 40, experiment="bulk")
    p = nbtrack.panel("bulk", live=False)
    try:
        p.where.value = "params.i >= 10 and metrics.acc < 0.5"
        assert rows_shown(p) == 10 and "of 10 matching" in p.summary_line.value
        ticked = tick(p)
        p.where.value = "params.i < 5"
        assert "10 selected" in p.summary_line.value and "(10 hidden by the filters)" in p.selection.value
        assert set(ticked) == set(p.model.selected)
    finally:
        p.close()


def test_cells_format_numbers_and_keep_full_values_in_tooltips(store_dir):
    long_name = "a-very-long-run-name-" * 15
    with nbtrack.track(name=long_name, experiment="f", params={"lr": 0.1 + 0.2}, environment=False):
        nbtrack.log_metric("acc", 2 / 3)
    with nbtrack.track(name="b", experiment="f", params={"lr": 1e-7}, environment=False):
        nbtrack.log_metric("acc", 0.5)
    p = nbtrack.panel("f", live=False)
    try:
        cells = p.grid.text()
        assert ">0.6667<" in cells and ">0.6666666" not in cells  # 4 significant digits, never 17
        assert ">0.3000000" not in cells and ">0.3<" in cells and ">1e-07<" in cells
        assert 'title="0.30000000000000004"' in cells  # the exact value on hover
        widths = [int(w) for w in re.findall(r"width:(\d+)px", cells)]
        assert max(widths) <= MAX_WIDTH  # a 315-character name does not widen its column past the limit
        assert f'title="{long_name}"' in cells
        assert "text-align:right" in cells  # numbers right-aligned
    finally:
        p.close()


def test_layout_wraps_and_labels_stay_whole(sweep):
    p = nbtrack.panel(live=False)
    try:
        rows = [c for c in p.children if isinstance(c, widgets.HBox)]
        assert rows and all(r.layout.flex_flow == "row wrap" for r in rows)
        for button in (p.compare_button, p.diff_button, p.export_button, p.delete_button, p.clear_button):
            assert button.layout.width == "auto" and button.layout.flex == "none"
        assert p.descending.style.button_width == "auto"  # "▼ desc" is never cut
    finally:
        p.close()


def test_no_hard_coded_colours_in_what_the_panel_shows(sweep):
    p = nbtrack.panel(live=False)
    try:
        tick(p, "lr0.01")
        p.where.value = "params.lr <"  # an error notice
        p.delete_button.click()  # the confirmation
        shown = [w.value for w in p._descendants() if isinstance(w, widgets.HTML)]
        shown += [str(w.layout.border) for w in p._descendants() if w.layout.border]
        assert shown
        for value in shown:
            assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgb\(", value), value
        assert "var(--jp-layout-color2)" in p.grid.children[0].value  # the selected rows' background
    finally:
        p.close()


def test_export_error_shows_next_to_the_button_and_clears_the_earlier_export(sweep, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    from test_panel_actions import _cell_run

    good = _cell_run(["import nbtrack", "%%track --name cell\nnbtrack.log_metric('acc', 0.5)"], 0.5)
    p = nbtrack.panel(live=False)
    try:
        tick_run(p, good)
        p.export_button.click()
        assert "Written to" in p.result.value and p.action_note.value == ""
        tick_run(p, good, value=False)
        tick_run(p, p.grid.rows[-1].run_id)  # a run of nbtrack.track(): no cell to export
        p.export_button.click()
        assert "Error" in p.action_note.value and "nbtrack-note-error" in p.action_note.value
        assert p.result_box.layout.display == "none" and "Written to" not in p.result.value
        assert p.message.value == ""  # not above the table, out of view
        actions = next(c for c in p.children if isinstance(c, widgets.HBox) and p.export_button in c.children)
        assert p.children.index(p.action_note) == p.children.index(actions) + 1  # right under the buttons
    finally:
        p.close()


def test_diff_shows_numbers_with_four_significant_digits(store_dir):
    with nbtrack.track(name="a", experiment="d", params={"lr": 0.1 + 0.2}, environment=False):
        nbtrack.log_metric("acc", 2 / 3)
    with nbtrack.track(name="b", experiment="d", params={"lr": 0.7}, environment=False):
        nbtrack.log_metric("acc", 0.123456789)
    p = nbtrack.panel("d", live=False)
    try:
        tick(p)
        p.diff_button.click()
        shown = p.result.value
        assert "nbtrack-diff" in shown and ">0.3<" in shown and ">0.6667<" in shown and ">0.1235<" in shown
        assert not re.search(r"\\d\\.\\d{6,}", shown), shown  # no 17-digit floats
        row = nbtrack.diff(*p.model.selected).params[0]
        assert 0.1 + 0.2 in (row["a"], row["b"])  # the diff itself keeps the exact values
    finally:
        p.close()


def test_compare_chart_is_a_vega_lite_mimebundle_output(sweep):
    """With nbtrack.charts (Comparison.chart), the chart is a display_data output of the Vega-Lite spec."""
    charts = pytest.importorskip("nbtrack.charts")
    p = nbtrack.panel("sweep", live=False)
    try:
        tick(p)
        assert tuple(p.plot_kind.options) == tuple(charts.KINDS)
        p.metric.value = "acc"
        p.compare_button.click()
        assert p.action_note.value == "", p.action_note.value
        bundle = p.chart.bundle
        assert bundle is not None and p.chart.output.layout.display == ""
        spec = bundle["application/vnd.vegalite.v5+json"]
        assert spec["$schema"].endswith("vega-lite/v5.json")
        assert p.plot.layout.display == "none" and p.plot.value == b""  # no PNG next to it
        kinds = [k for k in charts.KINDS if k != p.plot_kind.value]
        p.plot_kind.value = kinds[0]
        assert p.chart.bundle["application/vnd.vegalite.v5+json"] != spec  # another chart, same output
    finally:
        p.close()


def test_compare_chart_falls_back_to_a_png_at_its_natural_width(sweep, monkeypatch):
    """Without nbtrack.charts (a Comparison with no ``chart``): the matplotlib figure as a PNG whose width is
    the figure's own."""
    from nbtrack.analysis.comparison import Comparison

    monkeypatch.delattr(Comparison, "chart", raising=False)
    p = nbtrack.panel("sweep", live=False)
    try:
        tick(p)
        p.compare_button.click()
        assert p.plot.value[:8] == b"\x89PNG\r\n\x1a\n" and p.chart.bundle is None
        import struct

        png_width = struct.unpack(">I", p.plot.value[16:20])[0]  # the IHDR chunk's width
        assert p.plot.width == str(png_width)
    finally:
        p.close()
