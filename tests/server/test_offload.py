"""No request stalls the server (issue 18, reproductions 1 and 2): heavy work runs off the IO loop, within a
concurrency limit (503) and a time limit (504, the child process is stopped). Through a real jupyter_server."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time

import pytest
from tornado.httpclient import HTTPClientError

import nbtrack
from nbtrack.server.offload import Offload, ServerLimits

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")


@pytest.fixture
def big_store(jp_root_dir):
    """500 runs, each its own configuration: a compare with box and matrix plots of them ran for minutes."""
    store = nbtrack.get_store(jp_root_dir / ".nbtrack")
    ids = []
    for i in range(500):
        with nbtrack.track(f"r{i}", "big", {"lr": i / 1000}, store=store, environment=False) as run:
            run.log_metrics({"acc": (i * 7919 % 1000) / 1000, "loss": (i * 104729 % 997) / 997})
        ids.append(run.id)
    return ids


def limit(jp_serverapp, **limits):
    jp_serverapp.web_app.settings["nbtrack_offload"] = Offload(ServerLimits(**limits))


async def failure(request):
    with pytest.raises(HTTPClientError) as info:
        await request
    return info.value.code, json.loads(info.value.response.body)


def heavy_children():
    return [p for p in multiprocessing.active_children() if p.name.startswith("nbtrack-")]


async def test_status_answers_while_a_hostile_where_and_a_500_run_compare_run(jp_fetch, jp_serverapp, big_store):
    limit(jp_serverapp, heavy_seconds=6)
    compare = asyncio.ensure_future(
        jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(big_store), "plots": "box,matrix"})
    )
    hostile = asyncio.ensure_future(jp_fetch("nbtrack", "api", "runs", params={"where": "10**10**7 > 1"}))
    await asyncio.sleep(0.5)
    slowest = 0.0
    for _ in range(10):
        start = time.perf_counter()
        status = await asyncio.wait_for(jp_fetch("api", "status"), 5)
        slowest = max(slowest, time.perf_counter() - start)
        assert status.code == 200
        await asyncio.sleep(0.2)
    assert slowest < 1.0, f"/api/status took {slowest:.2f} s"
    code, error = await failure(hostile)
    assert code == 400 and "exceeds nbtrack's query limits" in error["message"]
    code, error = await failure(compare)
    assert (code, error["code"]) == (504, "time_limit")
    assert "stopped the comparison after 6 s" in error["message"]
    assert not heavy_children(), "the child process outlived its time limit"


async def test_past_the_concurrency_limit_the_answer_is_503(jp_fetch, jp_serverapp, big_store):
    limit(jp_serverapp, max_heavy=1, heavy_seconds=4)
    first = asyncio.ensure_future(
        jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(big_store), "plots": "matrix"})
    )
    await asyncio.sleep(0.3)
    code, error = await failure(jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(big_store[:3])}))
    assert (code, error["code"]) == (503, "busy") and "try again" in error["message"]
    assert (await failure(first))[0] == 504
    # the slot is free again; a longer time limit on the same lanes, so a loaded machine's slow compare is no 504
    offload = jp_serverapp.web_app.settings["nbtrack_offload"]
    offload.limits = ServerLimits(max_heavy=1, heavy_seconds=120)
    small = await jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(big_store[:3])})  # a slot again
    assert json.loads(small.body)["metrics"] == ["acc", "loss"]


async def test_reads_past_their_limits(jp_fetch, jp_serverapp, big_store):
    limit(jp_serverapp, read_seconds=0.0)
    code, error = await failure(jp_fetch("nbtrack", "api", "runs"))
    assert (code, error["code"]) == (504, "time_limit")
    limit(jp_serverapp, max_reads=0)
    code, error = await failure(jp_fetch("nbtrack", "api", "runs"))
    assert (code, error["code"]) == (503, "busy")
