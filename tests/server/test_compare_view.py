"""The compare endpoint's view extras: headline, column help, and the ``by`` parameter of the group-by control."""

from __future__ import annotations

import json

import nbtrack

from .conftest import _run
from .test_server_api import api_error, body


def _lr_runs(store, lrs, experiment="sweep"):
    return [
        _run(store, f"fit-{i}", experiment, {"lr": lr, "depth": 3 + i % 2, "seed": i}, {"loss": lr + 0.01 * (i % 3)})
        for i, lr in enumerate(lrs)
    ]


async def test_compare_sends_headline_and_column_help(jp_fetch, runs_store):
    _, ids = runs_store
    runs = ",".join(ids[f"credit{i}"] for i in range(5))
    result = body(await jp_fetch("nbtrack", "api", "compare", params={"runs": runs}))
    (headline,) = result["headline"]
    verdict = result["pairs"][0]["verdict"]
    assert headline["metric"] == "acc" and headline["text"].startswith("acc: ") == (verdict not in ("better", "worse"))
    needed = result["column_help"]["pairs"]["runs_needed"]
    assert needed.startswith("Runs per group to detect an effect of 0.5 pooled SD with power 0.8")
    assert {"verdict", "p_better", "diff"} <= set(result["column_help"]["pairs"])
    assert result["group_by"]["by"] == ["lr"] and result["group_by"]["default"] == ["lr"]
    assert result["plots"] == {}  # plots only when asked for


async def test_compare_by_regroups(jp_fetch, jp_root_dir):
    store = nbtrack.store.local.get_store(jp_root_dir / ".nbtrack")
    ids = _lr_runs(store, [0.1, 0.1, 0.1, 0.3, 0.3, 0.3])
    runs = ",".join(ids)
    default = body(await jp_fetch("nbtrack", "api", "compare", params={"runs": runs}))
    assert sorted(default["group_by"]["default"]) == ["depth", "lr"]
    assert set(default["group_by"]["options"]) >= {"lr", "depth", "seed"}
    by_lr = body(await jp_fetch("nbtrack", "api", "compare", params={"runs": runs, "by": "lr"}))
    assert {g["group"] for g in by_lr["groups"]} == {"lr=0.1", "lr=0.3"}
    assert by_lr["group_by"]["by"] == ["lr"] and sorted(by_lr["group_by"]["default"]) == ["depth", "lr"]
    assert len(default["groups"]) == 4
    code, error = await api_error(jp_fetch, "nbtrack", "api", "compare", params={"runs": runs, "by": "nope"})
    assert (code, error["code"]) == (400, "bad_request") and "nope" in error["message"]


async def test_continuous_param_warns_and_suggests(jp_fetch, jp_root_dir):
    store = nbtrack.store.local.get_store(jp_root_dir / ".nbtrack")
    ids = [
        _run(store, f"fit-{i}", "cont", {"lr": 0.01 * (i + 1.37), "depth": 3 + i % 2, "seed": i}, {"acc": 0.5 + i / 50})
        for i in range(6)
    ]
    result = body(await jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(ids)}))
    (warning,) = result["group_by"]["warnings"]
    assert "lr has a different value in every run" in warning and "group by depth only" in warning
    regrouped = body(await jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(ids), "by": "depth"}))
    assert regrouped["group_by"]["warnings"] == [] and len(regrouped["groups"]) == 2
    json.dumps(regrouped)
