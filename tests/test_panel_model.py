"""The runs panel's model in-process, without widgets: filters, columns that differ, sorting, pages,
selection and incremental refresh."""

from __future__ import annotations

import pandas as pd
from panel_helpers import add_runs

import nbtrack
from nbtrack.query.table import build_frame
from nbtrack.store.local import get_store
from nbtrack.views.panel_model import PanelModel


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
