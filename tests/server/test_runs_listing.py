"""The sidebar's listing through a real jupyter_server: a notebook's runs by its id, counts for an honest empty
state, and sparklines downsampled on the server."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

import nbtrack
from nbtrack.server.runs_listing import SPARK_POINTS, downsample
from nbtrack.store import local as store_mod

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")

NB = "3f2a9c1e-0000-4000-8000-00000000abcd"
OTHER_NB = "77777777-0000-4000-8000-000000000000"


def _run(store, name, experiment, notebook_id, steps=0, metric="loss"):
    with nbtrack.track(name, experiment, store=store, environment=False) as run:
        run.record.notebook_id = notebook_id
        for step in range(steps):
            nbtrack.log_metric(metric, 1.0 / (step + 1), step=step)
        nbtrack.log_metric(metric, 0.5)
    return run.id


@pytest.fixture
def notebook_store(jp_root_dir):
    """Runs of notebook NB in experiments ``losses`` and ``lr-sweep``, two old runs of ``losses`` without an
    id (recorded before ids), and runs of another notebook in ``losses`` too."""
    path = jp_root_dir / ".nbtrack"
    store = store_mod.get_store(path)
    ids = {
        "a": _run(store, "a", "losses", NB, steps=100),
        "b": _run(store, "b", "losses", NB, steps=3),
        "sweep": _run(store, "sweep", "lr-sweep", NB),
        "old": _run(store, "old", "losses", None),
        "old2": _run(store, "old-2", "losses", None),
        "elsewhere": _run(store, "elsewhere", "losses", OTHER_NB),
        "x": _run(store, "x", "unrelated", None),
    }
    yield store, ids
    store_mod._stores.pop(path.absolute(), None)


async def runs(fetch, **params):
    return json.loads((await fetch("nbtrack", "api", "runs", params=params)).body.decode("utf-8"))


async def test_a_notebooks_runs_are_those_with_its_id_and_old_runs_of_its_name(jp_fetch, notebook_store):
    _, ids = notebook_store
    page = await runs(jp_fetch, notebook=NB, notebook_name="losses")
    assert {r["name"] for r in page["runs"]} == {"a", "b", "sweep", "old", "old-2"}
    assert page["notebook_experiments"] == [{"name": "losses", "runs": 4}, {"name": "lr-sweep", "runs": 1}]
    # after a rename the name no longer matches: the runs with the id are still there, the old ones are not
    renamed = await runs(jp_fetch, notebook=NB, notebook_name="losses v2")
    assert {r["name"] for r in renamed["runs"]} == {"a", "b", "sweep"}
    # the picker's choice of one experiment keeps to the notebook's runs in it
    picked = await runs(jp_fetch, notebook=NB, notebook_name="losses", experiment="lr-sweep")
    assert [r["id"] for r in picked["runs"]] == [ids["sweep"]]
    # without a notebook: the experiment as before, every notebook's runs in it
    assert (await runs(jp_fetch, experiment="losses"))["total"] == 5
    assert "notebook_experiments" not in await runs(jp_fetch)


async def test_unfiltered_counts_what_the_search_hides(jp_fetch, notebook_store):
    page = await runs(jp_fetch, notebook=NB, notebook_name="losses", q="zzz")
    assert (page["total"], page["unfiltered"]) == (0, 5)
    assert (await runs(jp_fetch, notebook=NB, q="zzz", where="metrics.loss > 0"))["unfiltered"] == 3
    assert (await runs(jp_fetch, experiment="nothing-here"))["unfiltered"] == 0


async def test_sparklines_are_the_primary_metric_downsampled(jp_fetch, notebook_store):
    _, ids = notebook_store
    page = await runs(jp_fetch, notebook=NB, notebook_name="losses")
    assert page["metric"] == "loss"
    lines = page["sparklines"]
    assert set(lines) == {ids["a"], ids["b"]}  # runs that logged one value have no line
    assert len(lines[ids["a"]]) == SPARK_POINTS
    assert lines[ids["a"]][0] == 1.0 and lines[ids["a"]][-1] == 0.5  # first and last kept
    assert lines[ids["b"]] == [1.0, 0.5, 1.0 / 3, 0.5]
    assert (await runs(jp_fetch, notebook=NB, metric="nope"))["metric"] == "loss"  # unknown: the first


async def test_a_malformed_notebook_id_is_refused(jp_fetch, notebook_store):
    with pytest.raises(HTTPClientError) as info:
        await runs(jp_fetch, notebook="../x")
    assert info.value.code == 400


def test_downsample_keeps_short_series_and_the_ends():
    assert downsample([1.0, None, 3.0]) == [1.0, None, 3.0]
    long = [float(i) for i in range(1000)]
    short = downsample(long)
    assert len(short) == SPARK_POINTS and short[0] == 0.0 and short[-1] == 999.0
    assert short == sorted(short)


async def test_the_primary_metric_is_the_first_the_oldest_run_logged(jp_fetch, jp_root_dir):
    store = store_mod.get_store(jp_root_dir / ".nbtrack")
    try:
        with nbtrack.track("first", "m", store=store, environment=False):
            nbtrack.log_metric("val_acc", 0.9)
            nbtrack.log_metric("loss", 0.1)
        for name in ("second", "third"):  # newer runs log loss only: the most often logged is loss
            with nbtrack.track(name, "m", store=store, environment=False):
                nbtrack.log_metric("loss", 0.2)
        page = await runs(jp_fetch, experiment="m")
        assert page["columns"]["metrics"][0] == "loss"
        assert page["metric"] == "val_acc"  # what the oldest run logged first: it stays as runs arrive
        assert (await runs(jp_fetch, experiment="m", metric="loss"))["metric"] == "loss"
    finally:
        store_mod._stores.pop((jp_root_dir / ".nbtrack").absolute(), None)
