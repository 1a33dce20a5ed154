"""The runs panel: its model in-process (fast), the ipywidgets panel driven from Python, and the panel in a real
kernel (built by ``%nbtrack panel``, driven in later cells and by a comm message as a frontend would send it).
"""

from __future__ import annotations

import json
import textwrap
import time

import kernel_helpers as k
import pandas as pd
import pytest

import nbtrack
from nbtrack import ids
from nbtrack.query.table import build_frame
from nbtrack.store.local import RUNS, get_store
from nbtrack.views import widgets as panel_mod
from nbtrack.views.panel_model import PanelModel

EVIL = "<img src=x onerror=alert(1)>"


def add_runs(store, n, *, experiment="bulk", start=1_700_000_000.0, **extra):
    """Append ``n`` finished run records straight to the journal (fast), oldest first."""
    entries = []
    made = []
    for i in range(n):
        run_id = ids.new_run_id()
        doc = {
            "id": run_id,
            "experiment": experiment,
            "name": f"bulk {i}",
            "status": "finished",
            "start_time": start + i,
            "end_time": start + i + 1,
            "duration": 1.0,
            "params": {"i": i, "same": 1},
            "metrics": {"acc": i / max(1, n)},
            "tags": {},
            "data": {},
            "format": 1,
            **extra,
        }
        entries.append({"op": "put", "t": RUNS, "id": run_id, "doc": doc})
        made.append(run_id)
    store.ensure()
    store.journal.append(entries)
    return made


@pytest.fixture
def sweep(store_dir):
    """Six finished runs of experiment "sweep" (lr differs, batch does not), one failed run of "other"."""
    made = []
    for lr in (0.01, 0.1, 1.0):
        for seed in range(2):
            with nbtrack.track(
                name=f"lr{lr}",
                experiment="sweep",
                params={"lr": lr, "seed": seed, "batch": 32},
                tags={"opt": "adam" if lr < 1 else "sgd", "owner": "me"},
                environment=False,
            ) as run:
                nbtrack.log_metric("acc", 0.5 + lr / 4 + seed / 100)
                nbtrack.log_metric("loss", 1 - lr / 4)
            made.append(run.id)
    with pytest.raises(ValueError), nbtrack.track(name="broken", experiment="other", environment=False):
        raise ValueError("x")
    return made


def html_values(p):
    """Every HTML string the panel shows (HTML widgets anywhere inside it)."""
    import ipywidgets as widgets

    return [w.value for w in p._descendants() if isinstance(w, widgets.HTML)]


# the model, without widgets ---------------------------------------------------------------------------------


def test_model_frame_matches_runs(sweep):
    model = PanelModel()
    expected = nbtrack.runs()
    pd.testing.assert_frame_equal(model.frame, expected, check_dtype=False)
    assert model.experiments() == ["other", "sweep"]
    assert model.statuses() == ["finished", "failed"]
    assert {"opt", "opt=adam", "opt=sgd", "owner=me"} <= set(model.tag_choices())


def test_model_filters(sweep):
    model = PanelModel()
    assert model.n_matching == 7
    model.set(experiment="sweep")
    assert model.n_matching == 6
    model.set(experiment=None, status="failed")
    assert model.view()["name"].tolist() == ["broken"]
    model.set(status=None, tag="opt=sgd")
    assert set(model.view()["name"]) == {"lr1.0"}
    model.set(tag="opt")
    assert model.n_matching == 6
    model.set(tag="nosuchtag")
    assert model.n_matching == 0
    model.set(tag=None, where="params.lr < 0.5 and metrics.acc > 0.52")
    assert sorted(model.view()["params.lr"]) == [0.1, 0.1]
    model.set(where=None, search="LR0.0")  # case-insensitive part of a name
    assert set(model.view()["name"]) == {"lr0.01"}
    model.set(search=sweep[0][:12])  # or of a run id
    assert model.view()["run_id"].tolist() == [sweep[0]]


def test_model_where_error_is_reported_and_other_filters_still_apply(sweep):
    model = PanelModel(experiment="sweep", where="params.nope > 1")
    assert model.n_matching == 6
    assert "unknown column 'params.nope'" in model.where_error
    model.set(where="params.lr <")
    model.view()
    assert "cannot parse" in model.where_error
    model.set(where="params.lr > 0.5")
    assert model.n_matching == 2 and model.where_error is None


def test_model_shows_only_params_that_differ(sweep):
    model = PanelModel(experiment="sweep")
    columns = model.columns()
    assert columns[:5] == ["name", "run_id", "status", "start_time", "duration"]  # one experiment: no column
    assert "params.lr" in columns and "params.seed" in columns
    assert "params.batch" not in columns and model.hidden_params() == 1
    assert {"metrics.acc", "metrics.loss", "tags.opt"} <= set(columns)
    assert "tags.owner" not in columns  # the same everywhere
    assert "with one value hidden" in model.summary()
    model.set(all_columns=True)
    assert {"params.batch", "tags.owner"} <= set(model.columns())
    model.set(all_columns=False, pinned=["params.batch"])
    assert "params.batch" in model.columns()
    model.set(pinned=[], experiment=None, search="lr0.01", where="params.seed == 0")  # one run: all its params
    assert {"params.lr", "params.seed", "params.batch"} <= set(model.columns())
    assert "experiment" in PanelModel().columns()


def test_model_sorts_mixed_types_with_missing_last(store_dir):
    store = get_store()
    for value in (3, "b", None, 1.5, "A", 10):
        params = {} if value is None else {"p": value}
        with nbtrack.track(name=f"v{value}", experiment="x", params=params, environment=False):
            pass
    model = PanelModel(sort_by="params.p", descending=False)
    assert model.view()["name"].tolist() == ["v1.5", "v3", "v10", "vA", "vb", "vNone"]
    model.set(descending=True)
    assert model.view()["name"].tolist() == ["vb", "vA", "v10", "v3", "v1.5", "vNone"]
    model.set(sort_by="name", descending=False)
    assert model.view()["name"].tolist()[:2] == ["v1.5", "v10"]
    model.set(sort_by="no such column")  # falls back to the store's order (newest first)
    assert model.view()["run_id"].tolist() == sorted(model.view()["run_id"], reverse=True)
    assert store.root == store_dir.absolute()


def test_model_pages(store_dir):
    add_runs(get_store(), 120)
    model = PanelModel(page_size=50)
    assert model.n_pages == 3 and len(model.page_frame()) == 50
    assert model.summary().startswith("Runs 1–50 of 120 · page 1 of 3")
    assert model.go_to(2) == 2 and len(model.page_frame()) == 20
    assert model.page_frame()["name"].iloc[-1] == "bulk 0"  # newest first, so the oldest is last
    assert model.go_to(99) == 2 and model.go_to(-5) == 0
    model.go_to(1)
    model.set(search="bulk 11")  # a filter change goes back to page 1
    assert model.page == 0 and model.n_matching == 11
    html = model.page_html()
    assert html.count('<tr class="nbtrack-run">') == 11


def test_model_selection_survives_paging_filters_and_refresh(store_dir):
    made = add_runs(get_store(), 60)
    model = PanelModel(page_size=25)
    first_page = list(model.page_frame()["run_id"])
    model.set_page_selection(first_page[:3])
    model.go_to(1)
    second = list(model.page_frame()["run_id"])
    model.set_page_selection(second[:1])
    assert model.selected == first_page[:3] + second[:1]
    model.set_page_selection([])  # clearing page 2 keeps page 1's selection
    assert model.selected == first_page[:3]
    model.set(search="nothing matches this")
    assert model.selected == first_page[:3]  # kept while hidden
    nbtrack.delete_run(first_page[0])
    assert model.refresh() is True
    assert model.selected == first_page[1:3]
    model.select([made[0], "not-a-run"])
    assert model.selected == [*first_page[1:3], made[0]]
    model.clear_selection()
    assert model.selected == []


def test_model_refresh_is_incremental_and_equals_a_full_load(sweep):
    model = PanelModel()
    frame = model.frame
    version = model.table.version
    assert model.refresh() is False and model.frame is frame and model.table.version == version
    with nbtrack.track(name="new", experiment="sweep", params={"lr": 2.0, "extra": "x"}, environment=False) as run:
        assert model.refresh() is True  # the running record
        assert model.frame["run_id"].iloc[0] == run.id
        assert model.frame["status"].iloc[0] == "running"
    assert model.refresh() is True  # the final record replaces it
    assert model.frame["status"].iloc[0] == "finished"
    pd.testing.assert_frame_equal(model.frame, nbtrack.runs(), check_dtype=False)
    nbtrack.set_tag("stage", "final", run=sweep[2])
    assert model.refresh() is True
    pd.testing.assert_frame_equal(model.frame, nbtrack.runs(), check_dtype=False)
    nbtrack.delete_run(run.id)
    assert model.refresh() is True
    assert "params.extra" not in model.frame.columns  # only the deleted run had it
    pd.testing.assert_frame_equal(model.frame, nbtrack.runs(), check_dtype=False)


def test_model_full_rebuild_after_compaction_keeps_rows(sweep):
    model = PanelModel()
    before = model.frame.copy()
    assert get_store().journal.compact()
    model.refresh()  # new file, new record objects with the same content: no row is rebuilt
    pd.testing.assert_frame_equal(model.frame, before)


def test_empty_store(store_dir):
    model = PanelModel()
    assert model.n_matching == 0 and model.n_pages == 1
    assert "No runs yet" in model.summary()
    assert "<table" not in model.page_html()
    assert build_frame([]).columns.tolist()[:3] == ["run_id", "experiment", "name"]
    model.set(search="x", tag="k=v", where="params.a > 1", sort_by="params.zz")
    assert model.n_matching == 0 and "unknown column" in model.where_error


def test_page_html_escapes_everything(store_dir):
    with nbtrack.track(
        name=EVIL,
        experiment="<b>exp</b>",
        params={"p": "<script>x</script>", "q": 1},
        tags={"t": '"><svg onload=1>'},
        environment=False,
    ):
        pass
    with nbtrack.track(name="plain", experiment="<b>exp</b>", params={"p": "ok", "q": 2}, environment=False):
        pass
    model = PanelModel(all_columns=True, search="<img")
    html = model.page_html()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html and "<script" not in html and "<svg" not in html and "<b>exp" not in html
    assert "&quot;&gt;&lt;svg onload=1&gt;" in html
    model.set(search=None, where="params.p == '<x>' and params.nope")
    assert "<x>" not in model.page_html() or "&lt;x&gt;" in model.page_html()


# the widget panel, driven from Python (no kernel) --------------------------------------------------------


def test_panel_filters_sort_and_pages_through_its_controls(store_dir):
    add_runs(get_store(), 130, experiment="bulk")
    add_runs(get_store(), 5, experiment="small", start=1_800_000_000.0)
    p = nbtrack.panel(live=False)
    try:
        assert p.model.experiment is None and p.experiment.value == ""
        assert [v for _, v in p.experiment.options] == ["", "bulk", "small"]
        assert p.table.value.count('<tr class="nbtrack-run">') == 50
        assert p.page_label.value == "page 1 of 3"
        assert p.prev_button.disabled and not p.next_button.disabled
        p.next_button.click()
        assert p.page_label.value == "page 2 of 3" and p.model.page == 1
        p.last_button.click()
        assert p.next_button.disabled and p.table.value.count('<tr class="nbtrack-run">') == 35
        p.experiment.value = "small"
        assert p.model.experiment == "small" and p.page_label.value == "page 1 of 1"
        assert p.table.value.count('<tr class="nbtrack-run">') == 5
        p.experiment.value = ""
        p.where.value = "params.i < 3"
        assert p.model.n_matching == 3 + 3
        p.where.value = "params.i <"
        assert "cannot parse" in p.message.value
        p.where.value = ""
        p.search.value = "bulk 12"
        assert p.model.n_matching == 11  # bulk 12 and bulk 120-129 of "bulk" ("small" stops at bulk 4)
        p.search.value = ""
        p.sort_by.value = "params.i"
        p.descending.value = False
        assert p.model.page_frame()["params.i"].tolist()[:4] == [0, 0, 1, 1]
        assert "params.</span>i ▲" in p.table.value
        p.status.value = "failed"
        assert "No run matches" in p.table.value
        p.status.value = ""
        p.all_columns.value = True
        assert "params.</span>same" in p.table.value
    finally:
        p.close()


def test_panel_actions_compare_diff_tag_delete(sweep):
    p = nbtrack.panel(live=False)
    try:
        assert p.compare_button.disabled and "at least 2" in p.compare_button.tooltip
        assert p.diff_button.disabled and "exactly 2" in p.diff_button.tooltip
        p.experiment.value = "sweep"
        p.selector.value = tuple(value for _, value in p.selector.options)  # all six
        assert len(p.model.selected) == 6 and "6 selected" in p.selection.value
        assert p.table.value.count("✓") == 6
        assert not p.compare_button.disabled and p.diff_button.disabled
        assert list(p.metric.options) == ["acc", "loss"]
        p.metric.value = "acc"
        p.compare_button.click()
        assert p.message.value == "", p.message.value
        assert "nbtrack-compare" in p.result.value and p.result_box.layout.display == ""
        assert p.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
        first_plot = p.plot.value
        p.plot_kind.value = "diff"
        assert p.plot.value[:4] == b"\x89PNG" and p.plot.value != first_plot
        p.close_result_button.click()
        assert p.result_box.layout.display == "none"

        p.selector.value = tuple(value for _, value in p.selector.options)[:2]
        assert not p.diff_button.disabled
        p.diff_button.click()
        assert "nbtrack-diff" in p.result.value and "Diff" in p.result_title.value

        p.tag_text.value = "stage=final"
        p.tag_button.click()
        assert "Tagged 2 runs" in p.message.value
        assert [nbtrack.get_run(r).tags["stage"] for r in p.model.selected] == ["final", "final"]
        p.tag_text.value = "n=3"
        p.tag_button.click()
        assert nbtrack.get_run(p.model.selected[0]).tags["n"] == 3
        assert "tags.stage" in p.table.value  # differs now

        doomed = list(p.model.selected)
        p.delete_button.click()
        assert p.confirm_box.layout.display == "" and "Delete 2 runs" in p.confirm_text.value
        p.cancel_button.click()
        assert p.confirm_box.layout.display == "none" and len(nbtrack.runs()) == 7
        p.delete_button.click()
        p.confirm_button.click()
        assert "Deleted 2 runs" in p.message.value
        assert not set(doomed) & set(nbtrack.runs()["run_id"])
        assert p.model.selected == [] and p.model.n_matching == 4
        p.delete_button.click()  # nothing selected: clicking from code explains instead of deleting
        assert "select at least 1 run" in p.message.value
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
        run_id = p.selector.options[0][1]
        p.selector.value = (run_id,)
        assert not p.export_button.disabled
        p.export_button.click()
        assert calls == [(run_id, "script", get_store())]
        assert "print(&#x27;&lt;b&gt;&#x27;)" in p.result.value
    finally:
        p.close()


def test_panel_escapes_names_everywhere(store_dir):
    for i in range(2):
        with nbtrack.track(name=EVIL, experiment="x", params={"i": i, "v": f"<i>{i}</i>"}, environment=False):
            nbtrack.log_metric("acc", 0.5 + i)
    p = nbtrack.panel(live=False)
    try:
        p.selector.value = tuple(value for _, value in p.selector.options)
        assert EVIL in p.selector.options[0][0]  # option labels are plain text, shown as text by the widget
        p.diff_button.click()
        p.delete_button.click()  # the confirmation names the runs
        p.where.value = "params.v == '<img src=y>' and"  # an error message quoting the expression
        shown = [*html_values(p), p._repr_mimebundle_()["text/html"]]
        assert any("&lt;img src=x onerror=alert(1)&gt;" in v for v in shown)
        for value in shown:
            assert "<img" not in value and "<i>" not in value, value
    finally:
        p.close()


def test_panel_mimebundle_has_a_static_fallback(sweep):
    p = nbtrack.panel(live=False)
    bundle = p._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == p.model_id
    assert bundle["text/html"].count('<tr class="nbtrack-run">') == 7
    assert "static copy of the nbtrack panel" in bundle["text/html"]
    assert "jupyterlab_widgets" in bundle["text/html"]
    assert bundle["text/plain"].startswith("nbtrack panel: Runs 1–7 of 7")
    p.close()
    assert p.comm is None and not p.polling


def test_panel_presets_the_notebooks_experiment(sweep, monkeypatch):
    p = nbtrack.panel(live=False)
    assert p.model.experiment is None  # no notebook known: all runs
    p.close()
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/sweep.ipynb")
    p = nbtrack.panel(live=False)
    assert p.model.experiment == "sweep" and p.experiment.value == "sweep" and p.model.n_matching == 6
    p.experiment.value = ""
    assert p.model.n_matching == 7
    p.close()
    monkeypatch.setenv("JPY_SESSION_NAME", "fresh.ipynb")  # no runs yet: preset anyway, runs will land there
    p = nbtrack.panel(live=False)
    assert p.experiment.value == "fresh" and p.model.n_matching == 0
    p.close()
    p = nbtrack.panel("other", live=False)
    assert p.model.experiment == "other" and p.model.n_matching == 1
    p.close()


def test_panel_live_refresh_thread(sweep):
    p = panel_mod.Panel(None, live=True, interval=0.05)
    try:
        assert p.polling
        with nbtrack.track(name="landed", experiment="sweep", environment=False):
            pass
        deadline = time.monotonic() + 10
        while "landed" not in p.table.value and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "landed" in p.table.value
        p._view_count = 1  # a frontend shows it
        p._view_count = 0  # ... and its output was cleared: polling pauses
        assert not p.polling
        p._view_count = 1
        assert p.polling
        p.live.value = False
        assert not p.polling
        p.live.value = True
        assert p.polling
    finally:
        p.close()
    assert not p.polling and not p._thread.is_alive()


def test_nbtrack_magic(ip, sweep):
    p = ip.run_line_magic("nbtrack", "panel sweep --static --page-size 4")
    try:
        assert isinstance(p, panel_mod.Panel)
        assert p.model.experiment == "sweep" and p.model.page_size == 4 and not p.polling
        assert p.page_label.value == "page 1 of 2"
    finally:
        p.close()
    from IPython.core.error import UsageError

    for line in ("", "nope", "panel --bad", "panel a b"):
        with pytest.raises(UsageError):
            ip.run_line_magic("nbtrack", line)


def test_panel_is_callable_after_the_submodule_is_imported(sweep):
    import importlib

    module = importlib.import_module("nbtrack.views.widgets")
    assert callable(nbtrack.panel) and nbtrack.panel is module.panel
    p = nbtrack.panel(live=False)
    assert isinstance(p, module.Panel)
    p.close()


# in a real kernel -------------------------------------------------------------------------------------------


def src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def printed(cell) -> dict:
    """The JSON object a cell printed last."""
    lines = [line for line in k.stream_text(cell).splitlines() if line.startswith("{")]
    assert lines, cell.outputs
    return json.loads(lines[-1])


@pytest.fixture
def kernel_session(tmp_path):
    sessions = []

    def make(cells):
        session = k.new_session(tmp_path, cells, name="exp.ipynb")
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


SETUP = src(f"""
    %load_ext nbtrack
    import json, time
    import nbtrack
    for lr in (0.01, 0.1):
        for seed in range(3):
            with nbtrack.track(name=f"lr{{lr}}", params={{"lr": lr, "seed": seed, "batch": 32}}):
                nbtrack.log_metric("acc", 0.8 + lr + seed / 100)
    with nbtrack.track(name={EVIL!r}, params={{"lr": 1.0, "seed": 0, "batch": 32}}):
        nbtrack.log_metric("acc", 0.1)
    with nbtrack.track(name="elsewhere", experiment="other"):
        pass
""")


@pytest.mark.kernel
def test_panel_in_a_real_kernel(kernel_session):
    session = kernel_session(
        [
            k.code(SETUP),
            k.code("%%track --name exported -q\nlr = 0.3\nacc = 0.7\nnbtrack.log_metric('acc', acc)"),
            k.code("p = %nbtrack panel\np"),
            k.code(
                src("""
            print(json.dumps({"experiment": p.model.experiment, "dropdown": p.experiment.value,
                              "polling": p.polling, "where": p.where.model_id, "table": p.table.model_id,
                              "rows": p.table.value.count('<tr class="nbtrack-run">')}))
        """)
            ),
            k.code(
                src("""
            p.search.value = "lr0.1"
            print(json.dumps({"rows": p.table.value.count('<tr class="nbtrack-run">'), "html": p.table.value}))
        """)
            ),
            k.code(
                src("""
            p.search.value = ""
            p.selector.value = tuple(v for label, v in p.selector.options if "lr0." in label)
            p.compare_button.click()
            print(json.dumps({"selected": len(p.model.selected), "message": p.message.value,
                              "result": p.result.value, "png": p.plot.value[:4].hex()}))
        """)
            ),
            k.code(
                src("""
            import os
            p.selector.value = tuple(v for label, v in p.selector.options if " exported " in label)
            p.export_button.click()
            print(json.dumps({"message": p.message.value, "title": p.result_title.value, "result": p.result.value,
                              "files": sorted(os.listdir("."))}))
        """)
            ),
            k.code(
                src("""
            evil = [v for label, v in p.selector.options if "<img" in label]
            other = [v for label, v in p.selector.options if "<img" not in label]
            p.selector.value = (evil[0], other[0])
            p.diff_button.click()
            p.delete_button.click()
            print(json.dumps({"diff": p.result.value, "confirm": p.confirm_text.value, "table": p.table.value}))
        """)
            ),
        ]
    )
    with session.kernel():
        results = [session.run(i) for i in range(len(session.nb.cells))]
        shown = k.results(results[2])[0].data
        assert "application/vnd.jupyter.widget-view+json" in shown
        assert "&lt;img src=x onerror=alert(1)&gt;" in shown["text/html"]
        assert "<img" not in shown["text/html"] and "static copy of the nbtrack panel" in shown["text/html"]

        state = printed(results[3])
        assert state["experiment"] == "exp" and state["dropdown"] == "exp"  # the notebook's experiment
        assert state["polling"] is True and state["rows"] == 8

        searched = printed(results[4])
        assert searched["rows"] == 3 and "lr0.01" not in searched["html"]

        compared = printed(results[5])
        assert compared["selected"] == 6 and compared["message"] == ""
        assert "nbtrack-compare" in compared["result"] and compared["png"] == "89504e47"

        exported = printed(results[6])
        assert exported["message"] == "" and "Exported run" in exported["title"], exported
        assert "Written to" in exported["result"] and any(f.endswith(".py") for f in exported["files"])

        acted = printed(results[7])
        assert "nbtrack-diff" in acted["diff"] and "Delete 2 runs" in acted["confirm"]
        for value in acted.values():
            assert "<img" not in value
        assert "&lt;img src=x onerror=alert(1)&gt;" in acted["table"]

        # Then a client plays the frontend: it changes the Where field with the comm message a widget manager
        # sends, and watches IOPub while a busy cell records a run: the polling thread's table update must
        # arrive before that cell ends.
        kc = session.blocking_client()
        try:
            msg = kc.session.msg(
                "comm_msg",
                {
                    "comm_id": state["where"],
                    "data": {"method": "update", "state": {"value": "params.seed == 2"}, "buffer_paths": []},
                },
            )
            kc.shell_channel.send(msg)
            wait_idle(kc, msg["header"]["msg_id"])
            where = printed(
                session.run_extra(
                    src("""
                print(json.dumps({"where": p.model.where, "rows": p.table.value.count('<tr class="nbtrack-run">')}))
            """)
                )
            )
            assert where == {"where": "params.seed == 2", "rows": 2}

            busy = kc.execute(
                src("""
                p.where.value = ""
                with nbtrack.track(name="landed-late", params={"lr": 0.5, "seed": 9, "batch": 32}):
                    pass
                time.sleep(6)
            """)
            )
            updates = wait_idle(kc, busy, collect=state["table"])
        finally:
            kc.stop_channels()
        assert any("landed-late" in value for value in updates), "no table update reached the client during the cell"

        closed = printed(
            session.run_extra(
                src("""
            thread = p._thread
            p.close()
            print(json.dumps({"polling": p.polling, "alive": thread.is_alive(), "comm": p.comm is None}))
        """)
            )
        )
        assert closed == {"polling": False, "alive": False, "comm": True}


def wait_idle(kc, msg_id, collect=None, timeout=60):
    """Read IOPub until the kernel is idle after request ``msg_id``; the table values sent to comm ``collect``
    while it was busy."""
    values = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = kc.get_iopub_msg(timeout=timeout)
        content = reply["content"]
        if reply["msg_type"] == "comm_msg" and content.get("comm_id") == collect:
            value = content["data"].get("state", {}).get("value")
            if isinstance(value, str):
                values.append(value)
        if (
            reply["parent_header"].get("msg_id") == msg_id
            and reply["msg_type"] == "status"
            and content["execution_state"] == "idle"
        ):
            return values
    raise TimeoutError(f"kernel not idle after {timeout} s")
