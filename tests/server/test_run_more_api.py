"""server/run_more.py through HTTP: the preview of a comparison, a job started in the server, its state."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")


async def get_json(jp_fetch, *path, **params):
    response = await jp_fetch("nbtrack", "api", *path, params=params)
    return json.loads(response.body)


async def test_the_preview_says_what_would_run_and_runs_nothing(jp_fetch, runs_store):
    store, ids = runs_store
    credit = ",".join(ids[f"credit{i}"] for i in range(5))
    plan = await get_json(jp_fetch, "run-more", "preview", runs=credit, metric="acc")
    by_group = {g["group"]: g for g in plan["groups"]}
    assert by_group["lr=0.3"]["runs"] == 2 and by_group["lr=0.3"]["new_runs"] >= 1
    assert by_group["lr=0.3"]["seed_param"] == "seed"
    assert not set(by_group["lr=0.3"]["seeds"]) & {0, 1, 2, 3, 4}  # never a recorded seed
    assert plan["runs"] >= 1 and plan["workers"] >= 1
    assert len(store.run_docs()) == 10  # as the fixture made them


async def test_too_few_runs_or_no_seed_is_a_sentence(jp_fetch, runs_store):
    _, ids = runs_store
    with pytest.raises(HTTPClientError) as info:
        await get_json(jp_fetch, "run-more", "preview", runs=ids["credit0"])
    assert info.value.code == 400 and b"at least 2 runs" in info.value.response.body
    other = ",".join(ids[f"other{i}"] for i in range(3))
    with pytest.raises(HTTPClientError) as info:
        await get_json(jp_fetch, "run-more", "preview", runs=other, metric="loss")
    assert info.value.code == 409 and b"no seed-like param" in info.value.response.body


async def test_a_started_job_has_a_state_and_its_failure_says_why(jp_fetch, runs_store):
    _, ids = runs_store
    body = json.dumps({"runs": [ids[f"credit{i}"] for i in range(5)], "metric": "acc"})
    response = await jp_fetch("nbtrack", "api", "run-more", method="POST", body=body)
    job_id = json.loads(response.body)["job"]
    state = {}
    for _ in range(200):  # these runs were not recorded in a notebook: the job fails exporting them
        state = await get_json(jp_fetch, "jobs", job_id)
        if not state["running_here"]:
            break
        await asyncio.sleep(0.1)
    assert state["id"] == job_id and state["kind"] == "run_more"
    assert state["state"] == "failed" and "cannot be exported" in state["error"]
    assert state["runs"] == [] and not state["running_here"]
    with pytest.raises(HTTPClientError) as info:
        await get_json(jp_fetch, "jobs", "0" * 26)
    assert info.value.code == 404
