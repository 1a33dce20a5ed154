"""GET /nbtrack/api/charts and the compare endpoint's Vega-Lite charts, through a real jupyter_server."""

from __future__ import annotations

import json

import pytest

import nbtrack
from nbtrack.charts import MIMETYPE, SCHEMA, colors_for

from .conftest import XSS_NAME
from .test_server_api import api_error, body

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")


def stepped(store, name, lr, seed):
    with nbtrack.track(name, "curves", {"lr": lr, "seed": seed}, store=store, environment=False) as run:
        for step in range(4):
            nbtrack.log_metric("acc", 0.5 + 0.1 * step + lr + 0.001 * seed, step=step)
    return run.id


@pytest.fixture
def curve_runs(runs_store):
    store, _ = runs_store
    made = [stepped(store, XSS_NAME if i == 0 else f"c{i}", lr, i) for i, lr in enumerate([0.1] * 3 + [0.3] * 3)]
    return store, made


async def test_charts_of_one_run_and_of_a_comparison(jp_fetch, curve_runs):
    _, made = curve_runs
    one = body(await jp_fetch("nbtrack", "api", "charts", params={"runs": made[0], "kind": "curves"}))
    assert one["kind"] == "curves" and one["colors"] == colors_for([made[0]])
    assert one["spec"]["$schema"] == SCHEMA
    rows = one["spec"]["layer"][0]["data"]["values"]
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and {r["run"] for r in rows} == {XSS_NAME}
    grouped = body(await jp_fetch("nbtrack", "api", "charts", params={"runs": ",".join(made), "kind": "box"}))
    assert grouped["colors"] == colors_for(["lr=0.1", "lr=0.3"])
    flat = body(
        await jp_fetch("nbtrack", "api", "charts", params={"runs": ",".join(made), "kind": "curves", "grouped": "0"})
    )
    assert set(flat["colors"]) == set(made)


async def test_charts_response_escapes_run_names(jp_fetch, curve_runs):
    _, made = curve_runs
    response = await jp_fetch("nbtrack", "api", "charts", params={"runs": made[0]})
    assert b"<img" not in response.body and b"\\u003cimg" in response.body
    assert json.loads(response.body)["spec"]["layer"][0]["data"]["values"][0]["run"] == XSS_NAME


async def test_charts_errors_say_what_to_do(jp_fetch, curve_runs):
    _, made = curve_runs
    cases = [
        ({"runs": ""}, "at least one run"),
        ({"runs": made[0], "kind": "pie"}, "unknown chart kind"),
        ({"runs": made[0], "kind": "box"}, "select at least two"),
        ({"runs": made[0], "metric": "loss"}, "no step series"),
        ({"runs": "../../etc"}, "not a run id"),
    ]
    for params, text in cases:
        code, error = await api_error(jp_fetch, "nbtrack", "api", "charts", params=params)
        assert code == 400 and text in error["message"], (params, error)


async def test_compare_returns_specs_and_colors(jp_fetch, curve_runs):
    _, made = curve_runs
    params = {"runs": ",".join(made), "charts": "curves,matrix", "plots": "diff"}
    result = body(await jp_fetch("nbtrack", "api", "compare", params=params))
    assert result["colors"] == colors_for(["lr=0.1", "lr=0.3"])
    assert set(result["charts"]) == {"curves", "matrix"} and result["plots"]["diff"].startswith("data:image/png")
    assert all(spec["$schema"] == SCHEMA for spec in result["charts"].values())
    assert MIMETYPE.endswith("v5+json")
    code, error = await api_error(jp_fetch, "nbtrack", "api", "compare", params={**params, "charts": "pie"})
    assert code == 400 and "unknown chart kind" in error["message"]
