"""The runs table's endpoints (/nbtrack/api/grid...) through a real jupyter_server: columns, the where filter,
groups with intervals from nbtrack.analysis, bulk tag and delete, auth and id checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError

import nbtrack
from nbtrack.analysis.intervals import mean_interval

from .conftest import XSS_NAME

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")


def body(response):
    return json.loads(response.body.decode("utf-8"))


async def api_error(fetch, *parts, **kwargs):
    with pytest.raises(HTTPClientError) as info:
        await fetch(*parts, **kwargs)
    response = info.value.response
    return info.value.code, json.loads(response.body.decode("utf-8")) if response is not None else None


def post(fetch, path, payload):
    return fetch("nbtrack", "api", "grid", path, method="POST", body=json.dumps(payload))


async def test_rows_come_as_typed_columns_newest_first(jp_fetch, runs_store):
    store, ids = runs_store
    grid = body(await jp_fetch("nbtrack", "api", "grid"))
    assert grid["total"] == 10
    assert grid["ids"] == sorted(store.run_docs(), reverse=True)
    columns = {c["key"]: c for c in grid["columns"]}
    assert {"name", "status", "experiment", "start_time", "duration"} <= set(columns)
    assert columns["params.lr"]["group"] == "params" and columns["params.lr"]["type"] == "number"
    assert columns["metrics.acc"]["type"] == "number" and columns["start_time"]["type"] == "time"
    assert columns["name"]["group"] == "system" and columns["params.note"]["type"] == "text"
    by_id = dict(zip(grid["ids"], columns["name"]["values"], strict=True))
    assert by_id[ids["xss"]] == XSS_NAME  # sent as data, escaped by the JSON encoder, shown as text by the grid
    assert b"<img" not in (await jp_fetch("nbtrack", "api", "grid")).body
    acc = dict(zip(grid["ids"], columns["metrics.acc"]["values"], strict=True))
    assert acc[ids["credit3"]] == pytest.approx(0.83) and acc[ids["other0"]] is None
    assert all(len(c["values"]) == 10 for c in grid["columns"])


async def test_where_and_experiment_filter_on_the_server(jp_fetch, runs_store):
    _, ids = runs_store
    grid = body(await jp_fetch("nbtrack", "api", "grid", params={"experiment": "credit", "where": "params.lr >= 0.3"}))
    assert set(grid["ids"]) == {ids["credit3"], ids["credit4"], ids["failed"]}
    assert "params.depth" not in {c["key"] for c in grid["columns"]}  # no matching run has it
    code, error = await api_error(jp_fetch, "nbtrack", "api", "grid", params={"where": "params.lr >"})
    assert code == 400 and error["code"] == "invalid_query" and error["message"]


async def test_groups_use_the_analysis_intervals(jp_fetch, runs_store):
    store, _ = runs_store
    answer = body(
        await jp_fetch("nbtrack", "api", "grid", "groups", params={"by": "lr", "metric": "acc", "experiment": "credit"})
    )
    groups = {g["key"]["lr"]: g for g in answer["groups"]}
    assert set(groups) == {"0.1", "0.3", "0.5"}
    docs = store.run_docs().values()
    accs = [d["metrics"]["acc"] for d in docs if d["experiment"] == "credit" and d["params"]["lr"] == 0.1]
    low, high = mean_interval(np.asarray(accs))
    g = groups["0.1"]
    assert g["n"] == 3 and g["n_scores"] == 3 and len(g["ids"]) == 3
    assert g["mean"] == pytest.approx(np.mean(accs)) and (g["ci_low"], g["ci_high"]) == pytest.approx((low, high))
    assert groups["0.5"]["n"] == 1 and groups["0.5"]["ci_low"] is None  # one run: no interval
    code, error = await api_error(jp_fetch, "nbtrack", "api", "grid", "groups", params={"by": "nope", "metric": "acc"})
    assert code == 400 and error["code"] == "unknown_column"
    code, _ = await api_error(jp_fetch, "nbtrack", "api", "grid", "groups", params={"by": "lr", "metric": "zzz"})
    assert code == 400


async def test_bulk_tag_and_delete_change_the_store(jp_fetch, runs_store):
    store, ids = runs_store
    chosen = [ids["credit0"], ids["credit1"][:12]]  # a prefix is resolved
    answer = body(await post(jp_fetch, "tag", {"runs": chosen, "key": "review", "value": "keep"}))
    assert answer["tagged"] == [ids["credit0"], ids["credit1"]]
    assert nbtrack.get_run(ids["credit1"], store=store).tags["review"] == "keep"
    body(await post(jp_fetch, "delete", {"runs": [ids["other0"], ids["other1"]]}))
    assert ids["other0"] not in store.run_docs() and ids["other2"] in store.run_docs()
    grid = body(await jp_fetch("nbtrack", "api", "grid"))
    assert grid["total"] == 8 and ids["other1"] not in grid["ids"]


@pytest.mark.parametrize(
    ("path", "payload", "code"),
    [
        ("delete", {"runs": ["../../etc/passwd"]}, 400),
        ("delete", {"runs": "abc"}, 400),
        ("delete", {"runs": []}, 400),
        ("delete", {"runs": ["0" * 26]}, 404),
        ("tag", {"runs": ["0" * 26], "key": "", "value": 1}, 400),
        ("tag", {"runs": ["0" * 26], "key": "k", "value": {"a": 1}}, 400),
    ],
)
async def test_bulk_requests_check_ids_before_touching_the_store(jp_fetch, runs_store, path, payload, code):
    store, _ = runs_store
    before = dict(store.run_docs())
    status, error = await api_error(post, jp_fetch, path, payload)
    assert status == code and error["message"]
    assert store.run_docs() == before


async def test_a_bad_id_among_good_ones_deletes_nothing(jp_fetch, runs_store):
    store, ids = runs_store
    status, _ = await api_error(post, jp_fetch, "delete", {"runs": [ids["credit0"], "z" * 26]})
    assert status == 404 and ids["credit0"] in store.run_docs()


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "grid"), ("GET", "grid/groups"), ("POST", "grid/tag"), ("POST", "grid/delete")]
)
async def test_grid_endpoints_need_authentication(jp_fetch, runs_store, method, path):
    store, ids = runs_store
    kwargs = {"body": json.dumps({"runs": [ids["credit0"]], "key": "k", "value": "v"})} if method == "POST" else {}
    status, _ = await api_error(
        jp_fetch, "nbtrack", "api", *path.split("/"), method=method, headers={"Authorization": ""}, **kwargs
    )
    assert status == 403
    assert ids["credit0"] in store.run_docs() and "k" not in store.run_docs()[ids["credit0"]].get("tags", {})
