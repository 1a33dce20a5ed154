"""The one selection: filters, order and the columns worth showing; the panel, the server and runs() agree."""

import pandas as pd
import pytest

import nbtrack
from nbtrack import ids
from nbtrack.query.select import columns_of, experiment_counts, parse_tag_filter, select, sort_rows
from nbtrack.query.table import build_frame
from nbtrack.server import api
from nbtrack.store.local import RUNS, get_store
from nbtrack.views.panel_model import PanelModel


def doc(experiment="sweep", **fields):
    return {
        "id": ids.new_run_id(),
        "experiment": experiment,
        "name": "run",
        "status": "finished",
        "start_time": 1_700_000_000.0,
        "params": {},
        "metrics": {},
        "tags": {},
        **fields,
    }


@pytest.fixture
def frame():
    docs = [
        doc(name="Alpha", params={"lr": 0.1, "seed": 0}, metrics={"acc": 0.5}, tags={"opt": "adam"}),
        doc(name="beta", params={"lr": 0.2, "seed": 0}, metrics={"acc": 0.7}, tags={"opt": "adam"}),
        doc(name="gamma", status="failed", params={"lr": 0.3, "seed": 0}, tags={"opt": "sgd", "note": "x"}),
        doc(experiment="other", name="delta", params={"depth": 3}, metrics={"loss": 1.0}),
        {"id": ids.new_run_id(), "name": "old", "status": "finished"},  # no experiment recorded
    ]
    return build_frame(docs)


def names(selection):
    return selection.rows["name"].tolist()


def test_no_filter_is_every_run_newest_first(frame):
    assert names(select(frame)) == ["old", "delta", "gamma", "beta", "Alpha"]


def test_experiment_none_is_all_and_unrecorded_is_default(frame):
    assert names(select(frame, experiment="default")) == ["old"]
    assert names(select(frame, experiment=["sweep", "other"])) == ["delta", "gamma", "beta", "Alpha"]
    assert experiment_counts(frame) == {"default": 1, "other": 1, "sweep": 3}


def test_status_tag_search_and_where(frame):
    assert names(select(frame, status="failed")) == ["gamma"]
    assert names(select(frame, status=["failed", "finished"], experiment="sweep")) == ["gamma", "beta", "Alpha"]
    assert names(select(frame, tag="note")) == ["gamma"]
    assert names(select(frame, tag="opt=adam")) == ["beta", "Alpha"]
    assert names(select(frame, tag="missing")) == []
    assert names(select(frame, search="ALP")) == ["Alpha"]
    run_id = frame["run_id"][0]
    assert names(select(frame, search=run_id[-6:].upper())) == [frame["name"][0]]
    assert names(select(frame, where="params.lr > 0.15 and params.seed == 0")) == ["gamma", "beta"]


def test_bad_where_raises_or_is_reported(frame):
    with pytest.raises(nbtrack.errors.QueryError):
        select(frame, where="params.nope > 1")
    selection = select(frame, where="params.nope > 1", status="failed", strict=False)
    assert "params.nope" in selection.where_error
    assert names(selection) == ["gamma"]  # the other filters still apply


def test_sort_and_page(frame):
    selection = select(frame, sort_by="params.lr", descending=False)
    assert names(selection)[:3] == ["Alpha", "beta", "gamma"]  # missing values last
    assert names(select(frame, sort_by="name", descending=False)) == ["Alpha", "beta", "delta", "gamma", "old"]
    assert selection.page(1, 2)["name"].tolist() == ["beta", "gamma"]
    assert selection.total == 5


def test_sort_mixed_types_numbers_before_text():
    rows = pd.DataFrame({"v": ["b", 2, None, 1, "a"]})
    assert sort_rows(rows, "v", descending=False)["v"].tolist()[:4] == [1, 2, "a", "b"]


def test_columns_that_differ(frame):
    found = columns_of(select(frame, experiment="sweep").rows)
    assert found.params == ["params.lr"]
    assert found.same == ["params.seed"]
    assert found.metrics == ["metrics.acc"]
    assert found.tags == ["tags.note", "tags.opt"]  # a tag only some runs have differs too
    assert found.most_filled(found.tags) == ["tags.opt", "tags.note"]
    single = columns_of(select(frame, search="delta").rows)
    assert single.params == ["params.depth"] and single.tags == [] and single.metrics == ["metrics.loss"]
    assert columns_of(select(frame, search="nobody").rows).params == []


def test_parse_tag_filter():
    assert parse_tag_filter(" k ") == ("k", None)
    assert parse_tag_filter("k = v=w") == ("k", "v=w")


# the point of one selection: every view shows the same runs for the same filter ---------------------------


@pytest.fixture
def mixed_store(store_dir):
    store = get_store()
    entries = []
    for i in range(30):
        fields = {
            "name": f"run {i}",
            "status": ["finished", "failed", "running"][i % 3],
            "start_time": 1_700_000_000.0 + i,
            "params": {"lr": round(0.1 * (i % 5), 1), "opt": "adam" if i % 2 else "sgd"},
            "metrics": {"acc": i / 30} if i % 4 else {},
            "tags": {"seed": i % 3},
        }
        experiment = "a" if i % 3 else "b"
        record = doc(experiment=experiment, **fields) if i % 7 else {**doc(**fields), "experiment": None}
        entries.append({"op": "put", "t": RUNS, "id": record["id"], "doc": record})
    store.ensure()
    store.journal.append(entries)
    return store


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"experiment": "a"},
        {"experiment": "default"},
        {"status": "failed"},
        {"where": "params.lr >= 0.2 and metrics.acc > 0.3"},
        {"experiment": "a", "status": "abandoned", "where": "params.opt == 'adam'"},
    ],
)
def test_panel_server_and_runs_give_the_same_rows(mixed_store, filters):
    expected = nbtrack.runs(**filters, store=mixed_store)["run_id"].tolist()

    model = PanelModel(
        mixed_store, sort_by="run_id", page_size=100, **{k: filters.get(k) for k in ("experiment", "status", "where")}
    )
    assert model.where_error is None or not filters.get("where")
    assert model.view()["run_id"].tolist() == expected

    listed = api.list_runs(
        mixed_store,
        experiments=[filters["experiment"]] if "experiment" in filters else None,
        statuses=[filters["status"]] if "status" in filters else None,
        where=filters.get("where"),
        limit=100,
    )
    assert [r["id"] for r in listed["runs"]] == expected
    assert listed["total"] == len(expected)
    if expected:
        statuses = nbtrack.runs(**filters, store=mixed_store)["status"]
        assert listed["status"] == dict(zip(expected, statuses, strict=True))


def test_panel_and_server_agree_on_the_columns(mixed_store):
    model = PanelModel(mixed_store, experiment="a")
    listed = api.list_runs(mixed_store, experiments=["a"])
    shown = model.columns()
    assert [c for c in shown if c.startswith("params.")] == sorted(f"params.{p}" for p in listed["columns"]["params"])
    assert [c for c in shown if c.startswith("metrics.")] == [f"metrics.{m}" for m in listed["columns"]["metrics"]]


def test_models_and_outputs_columns_and_where():
    def model(h):
        return {"blob": h * 32, "hash": h * 32, "format": "skops", "class": "sklearn.linear_model.Ridge"}

    frame = build_frame(
        [
            doc(name="a", models={"clf": model("a")}, outputs={"out/p.csv": {"hash": "1" * 32, "size": 1}}),
            doc(name="b", models={"clf": model("a")}, outputs={"out/p.csv": {"hash": "2" * 32, "size": 1}}),
            doc(name="c", models={"clf": model("b")}),
        ]
    )
    found = columns_of(frame)
    assert found.models == ["models.clf"] and found.outputs == ["outputs.out/p.csv"]
    assert "models.clf" in found.shown and "outputs.out/p.csv" in found.shown
    same = columns_of(frame[frame["name"] != "c"])
    assert same.models == [] and same.outputs == ["outputs.out/p.csv"]  # the same model in both: no column
    assert columns_of(frame[frame["name"] == "c"]).models == ["models.clf"]  # one run: all of them
    assert names(select(frame, where="models.clf == 'aaaaaaaaaaaa'")) == ["b", "a"]
    assert names(select(frame, where="outputs['out/p.csv'] == '222222222222'")) == ["b"]
