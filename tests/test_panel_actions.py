"""The panel's action buttons driven from Python (no kernel): compare, diff, export, tag and delete."""

from __future__ import annotations

import pytest
from panel_helpers import EVIL, tick, tick_run

import nbtrack
from nbtrack.store.local import get_store


def html_values(p):
    """Every HTML string the panel shows (HTML widgets anywhere inside it)."""
    import ipywidgets as widgets

    return [w.value for w in p._descendants() if isinstance(w, widgets.HTML)]


def test_panel_actions_compare_diff_tag_delete(sweep):
    p = nbtrack.panel(live=False)
    try:
        assert p.compare_button.disabled and "at least 2" in p.compare_button.tooltip
        assert p.diff_button.disabled and "exactly 2" in p.diff_button.tooltip
        p.experiment.value = "sweep"
        assert len(tick(p)) == 6  # a click on each row's checkbox
        assert len(p.model.selected) == 6 and "6 selected" in p.selection.value
        assert all("nbtrack-selected" in row.box._dom_classes for row in p.grid.shown_rows)
        assert not p.compare_button.disabled and p.diff_button.disabled
        assert list(p.metric.options) == ["acc", "loss"]
        p.metric.value = "acc"
        p.compare_button.click()
        assert p.message.value == "", p.message.value
        assert "nbtrack-compare" in p.result.value and p.result_box.layout.display == ""

        def chart():  # the Vega-Lite spec (with nbtrack.charts) or the PNG (without): see test_panel_rows
            return p.chart.bundle or p.plot.value

        first_chart = chart()
        assert first_chart and (p.chart.bundle is not None or first_chart[:8] == b"\x89PNG\r\n\x1a\n")
        p.plot_kind.value = "parallel"
        assert chart() and chart() != first_chart
        p.close_result_button.click()
        assert p.result_box.layout.display == "none"

        for row in p.grid.shown_rows[2:]:
            row.check.value = False
        assert not p.diff_button.disabled and len(p.model.selected) == 2
        p.diff_button.click()
        assert "nbtrack-diff" in p.result.value and "Diff" in p.result_title.value

        p.tag_text.value = "stage=final"
        p.tag_button.click()
        assert "Tagged 2 runs" in p.action_note.value
        assert [nbtrack.get_run(r).tags["stage"] for r in p.model.selected] == ["final", "final"]
        p.tag_text.value = "n=3"
        p.tag_button.click()
        assert nbtrack.get_run(p.model.selected[0]).tags["n"] == 3
        assert "stage" in p.grid.labels  # differs now

        doomed = list(p.model.selected)
        p.delete_button.click()
        assert p.confirm_box.layout.display == "" and "Delete 2 runs" in p.confirm_text.value
        p.cancel_button.click()
        assert p.confirm_box.layout.display == "none" and len(nbtrack.runs()) == 7
        p.delete_button.click()
        p.confirm_button.click()
        assert "Deleted 2 runs" in p.action_note.value
        assert not set(doomed) & set(nbtrack.runs()["run_id"])
        assert p.model.selected == [] and p.model.n_matching == 4
        p.delete_button.click()  # nothing selected: clicking from code explains instead of deleting
        assert "select at least 1 run" in p.action_note.value
    finally:
        p.close()


def test_panel_export_when_available(sweep, monkeypatch):
    calls = []

    def export(run, to="script", path=None, *, store=None):
        calls.append((run, to, store))
        return f"# run {run}\nprint('<b>')\n"

    monkeypatch.setattr("nbtrack.exporting.exporter.export", export)
    p = nbtrack.panel(live=False)
    try:
        assert p.export_button.disabled and "exactly 1" in p.export_button.tooltip
        run_id = p.grid.rows[0].run_id
        tick_run(p, run_id)
        assert not p.export_button.disabled
        p.export_button.click()
        assert calls == [(run_id, "script", get_store())]
        assert "print(&#x27;&lt;b&gt;&#x27;)" in p.result.value
    finally:
        p.close()


def _cell_run(history: list[str], metric: float) -> str:
    """A finished run as %%track records it, with the execution history export needs."""
    from nbtrack.capture.lifecycle import ActiveRun

    run = ActiveRun(get_store(), name="cell", experiment="x", source="magic")
    run.attach_cell(history[-1].split("\n", 1)[1], history=history, execution_count=len(history))
    run.start()
    run.log_metric("acc", metric)
    run.finish()
    return run.id


@pytest.mark.parametrize(
    ("code", "metric", "expected"),
    [
        ("nbtrack.log_metric('acc', 0.25 * 2)", 0.5, "Verified: re-executed"),
        ("nbtrack.log_metric('acc', random.random())", 0.5, "Unverified</b>: re-executed"),
    ],
)
def test_panel_export_says_whether_the_script_reproduces_the_run(
    store_dir, tmp_path, monkeypatch, code, metric, expected
):
    monkeypatch.chdir(tmp_path)
    run_id = _cell_run(["import random\nimport nbtrack", f"%%track --name cell\n{code}"], metric)
    p = nbtrack.panel(live=False)
    try:
        tick_run(p, run_id)
        p.export_button.click()
        assert "Written to" in p.result.value and expected in p.result.value
        if expected.startswith("Unverified"):
            assert "acc 0.5 -&gt;" in p.result.value
    finally:
        p.close()


def test_panel_escapes_names_everywhere(store_dir):
    for i in range(2):
        with nbtrack.track(name=EVIL, experiment="x", params={"i": i, "v": f"<i>{i}</i>"}, environment=False):
            nbtrack.log_metric("acc", 0.5 + i)
    p = nbtrack.panel(live=False)
    try:
        tick(p)
        assert EVIL in p.grid.rows[0].check.tooltip  # a tooltip is plain text, shown as text by the widget
        p.diff_button.click()
        p.delete_button.click()  # the confirmation names the runs
        p.where.value = "params.v == '<img src=y>' and"  # an error message quoting the expression
        shown = [*html_values(p), p._repr_mimebundle_()["text/html"]]
        assert any("&lt;img src=x onerror=alert(1)&gt;" in v for v in shown)
        for value in shown:
            assert "<img" not in value and "<i>" not in value, value
    finally:
        p.close()


def test_details_button_shows_the_runs_models_figures_and_outputs(store_dir):
    from contents_helpers import record_run

    run = record_run(get_store(), name="fit")
    p = nbtrack.panel(live=False)
    try:
        assert p.details_button.disabled and "exactly 1" in p.details_button.tooltip
        tick_run(p, run.id)
        assert not p.details_button.disabled
        p.details_button.click()
        assert p.message.value == "", p.message.value
        assert f"Run {run.id}" in p.result_title.value and p.result_box.layout.display == ""
        assert 'class="nbtrack-details"' in p.result.value and '<img src="data:image/png;base64,' in p.result.value
        assert "LogisticRegression" in p.result.value and "results/preds.csv" in p.result.value
    finally:
        p.close()
