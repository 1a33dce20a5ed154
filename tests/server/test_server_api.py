"""The REST API under /nbtrack/api/ through a real jupyter_server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tornado.httpclient import HTTPClientError

import nbtrack

from .conftest import XSS_NAME, _run

# jupyter_server_terminals' TermSocket warns about its own auth; nbtrack's handlers are checked in test_handlers.py.
pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")


def body(response):
    return json.loads(response.body.decode("utf-8"))


async def api_error(fetch, *parts, **kwargs):
    """(status, JSON body) of a request expected to fail."""
    with pytest.raises(HTTPClientError) as info:
        await fetch(*parts, **kwargs)
    response = info.value.response
    return info.value.code, json.loads(response.body.decode("utf-8")) if response is not None else None


async def test_version(jp_fetch):
    response = await jp_fetch("nbtrack", "api", "version")
    assert response.code == 200
    assert body(response) == {"name": "nbtrack", "version": nbtrack.__version__, "api": 1}


async def test_runs_paging(jp_fetch, runs_store):
    store, _ = runs_store
    first = body(await jp_fetch("nbtrack", "api", "runs", params={"limit": 3}))
    assert first["total"] == 10
    assert [r["id"] for r in first["runs"]] == sorted(store.run_docs(), reverse=True)[:3]
    second = body(await jp_fetch("nbtrack", "api", "runs", params={"limit": 3, "offset": 3}))
    assert [r["id"] for r in second["runs"]] == sorted(store.run_docs(), reverse=True)[3:6]
    assert {e["name"]: e["runs"] for e in first["experiments"]} == {"credit": 6, "other": 4}
    assert first["stamp"] == second["stamp"]


async def test_runs_filters(jp_fetch, runs_store):
    _, ids = runs_store

    async def total(**params):
        return body(await jp_fetch("nbtrack", "api", "runs", params=params))["total"]

    assert await total(experiment="credit") == 6
    assert await total(experiment="credit", status="failed") == 1
    assert await total(status="finished") == 9
    assert await total(q="other-") == 3
    assert await total(where="params.lr >= 0.3") == 3
    page = body(await jp_fetch("nbtrack", "api", "runs", params={"experiment": "credit", "status": "failed"}))
    assert page["runs"][0]["id"] == ids["failed"]
    assert page["status"] == {ids["failed"]: "failed"}
    code, error = await api_error(jp_fetch, "nbtrack", "api", "runs", params={"where": "params.lr <"})
    assert code == 400 and error["code"] == "invalid_query"


async def test_run_is_its_stored_record(jp_fetch, runs_store):
    store, ids = runs_store
    for run_id in (ids["credit0"], ids["failed"], ids["xss"]):
        assert body(await jp_fetch("nbtrack", "api", "runs", run_id)) == store.run_docs()[run_id]
    listed = body(await jp_fetch("nbtrack", "api", "runs", params={"limit": 100}))["runs"]
    assert all(r == store.run_docs()[r["id"]] for r in listed)
    prefix = ids["other2"][:-3]
    assert body(await jp_fetch("nbtrack", "api", "runs", prefix))["id"] == ids["other2"]


async def test_unknown_run_and_endpoint(jp_fetch, runs_store):
    code, error = await api_error(jp_fetch, "nbtrack", "api", "runs", "0" * 26)
    assert (code, error["code"]) == (404, "not_found")
    assert error["message"]
    code, error = await api_error(jp_fetch, "nbtrack", "api", "nothing-here")
    assert (code, error["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "raw",
    [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "..%5C..%5Cwindows",
        "%2Fetc%2Fpasswd",
        "runs.jsonl",
        "0%00",
        "01J%20OR%201%3D1",
        "a" * 27,
    ],
)
async def test_traversal_ids_refused(jp_fetch, http_server_client, jp_auth_header, jp_base_url, runs_store, raw):
    for suffix in ("", "/details", "/export"):
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(f"{jp_base_url}nbtrack/api/runs/{raw}{suffix}", headers=jp_auth_header)
        assert info.value.code in (400, 404)
        error = json.loads(info.value.response.body)
        assert error["code"] in ("invalid_id", "not_found")
        assert "root:" not in info.value.response.body.decode()


@pytest.mark.parametrize("folder", ["..", "../..", "/etc", "sub/../../x", "x/./../..", "a//b"])
async def test_store_folder_stays_inside_root(jp_fetch, runs_store, folder):
    code, error = await api_error(jp_fetch, "nbtrack", "api", "runs", params={"dir": folder})
    assert (code, error["code"]) == (400, "invalid_path")


async def test_store_of_a_notebook_folder(jp_fetch, jp_root_dir):
    sub = jp_root_dir / "projects" / "credit"
    sub.mkdir(parents=True)
    run_id = _run(sub / ".nbtrack", "in-sub", "scoring", {"a": 1}, {"acc": 1.0})
    page = body(await jp_fetch("nbtrack", "api", "runs", params={"dir": "projects/credit"}))
    assert [r["id"] for r in page["runs"]] == [run_id]
    empty = body(await jp_fetch("nbtrack", "api", "runs", params={"dir": "projects"}))
    assert empty["total"] == 0 and empty["runs"] == []


async def test_html_in_a_run_name_is_inert(jp_fetch, runs_store):
    _, ids = runs_store
    for parts in (("runs", ids["xss"]), ("runs",), ("runs", ids["xss"], "details")):
        response = await jp_fetch("nbtrack", "api", *parts, params={"limit": 100} if len(parts) == 1 else None)
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        raw = response.body.decode("utf-8")
        assert "<" not in raw and ">" not in raw
        text = json.dumps(body(response))
        assert XSS_NAME in text and "<script>alert(1)</script>" in text  # the same data once parsed


async def test_details_with_drift(jp_fetch, jp_root_dir):
    store = jp_root_dir / ".nbtrack"
    df = pd.DataFrame({"x": range(100), "y": [i % 3 for i in range(100)]})
    first = _run(store, "before", "drift", {"a": 1}, {"acc": 0.9}, data={"train": df})
    shifted = df.assign(x=df["x"] * 3 + 50)
    second = _run(store, "after", "drift", {"a": 1}, {"acc": 0.7}, data={"train": shifted})
    details = body(await jp_fetch("nbtrack", "api", "runs", second, "details"))
    assert details["run"]["id"] == second and details["status"] == "finished"
    drift = details["drift"]["train"]
    assert drift["reference"] == first and drift["changed"] is True
    assert "x" in drift["note"]
    assert any(f["column"] == "x" for f in drift["findings"])
    unchanged = body(await jp_fetch("nbtrack", "api", "runs", first, "details"))["drift"]["train"]
    assert unchanged["reference"] is None
    assert set(details["export"]) == {"available", "formats", "reason"}


async def test_compare(jp_fetch, runs_store):
    _, ids = runs_store
    runs = ",".join(ids[f"credit{i}"] for i in range(5))
    result = body(await jp_fetch("nbtrack", "api", "compare", params={"runs": runs, "plots": "box"}))
    assert result["metrics"] == ["acc"]
    assert {g["group"] for g in result["groups"]} == {"lr=0.1", "lr=0.3"}
    assert len(result["pairs"]) == 1 and result["pairs"][0]["verdict"]
    assert result["warnings"]
    assert result["plots"]["box"].startswith("data:image/png;base64,")
    code, error = await api_error(jp_fetch, "nbtrack", "api", "compare", params={"runs": ids["credit0"]})
    assert (code, error["code"]) == (400, "bad_request")
    code, error = await api_error(jp_fetch, "nbtrack", "api", "compare", params={"runs": runs, "plots": "pie"})
    assert (code, error["code"]) == (400, "bad_request")


async def test_diff(jp_fetch, runs_store):
    _, ids = runs_store
    result = body(await jp_fetch("nbtrack", "api", "diff", params={"a": ids["credit0"], "b": ids["credit4"]}))
    assert result["a"] == ids["credit0"] and result["b"] == ids["credit4"]
    assert {p["name"] for p in result["params"]} == {"lr", "seed"}
    assert result["metrics"][0]["name"] == "acc"


def magic_run(store_path, history: list[str]) -> str:
    """A finished run as %%track records it (with the execution history export needs)."""
    from nbtrack.capture.lifecycle import ActiveRun

    store = nbtrack.get_store(store_path)
    run = ActiveRun(store, name="exported", experiment="unit", source="magic", params={"lr": 0.1})
    run.attach_cell(history[-1].split("\n", 1)[1], history=history, execution_count=len(history))
    run.start()
    run.log_metric("acc", 0.2)
    run.finish()
    return run.id


async def test_export_downloads(jp_fetch, jp_root_dir):
    history = ["import nbtrack\nscale = 2", "%%track --name exported\nlr = 0.1\nnbtrack.log_metric('acc', lr * scale)"]
    run_id = magic_run(jp_root_dir / ".nbtrack", history)
    details = body(await jp_fetch("nbtrack", "api", "runs", run_id, "details"))
    assert details["export"] == {"available": True, "formats": ["script", "notebook", "dvc"], "reason": None}
    script = await jp_fetch("nbtrack", "api", "runs", run_id, "export", params={"format": "script"})
    assert script.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    assert script.headers["Content-Disposition"].endswith(".py")
    assert b"lr" in script.body and b"scale = 2" in script.body
    assert script.headers["X-Nbtrack-Verified"] == "true"  # re-executed: it reproduces acc
    assert b"VERIFIED" in script.body
    unchecked = await jp_fetch("nbtrack", "api", "runs", run_id, "export", params={"format": "script", "verify": "0"})
    assert unchecked.headers["X-Nbtrack-Verified"] == "none"
    notebook = await jp_fetch("nbtrack", "api", "runs", run_id, "export", params={"format": "notebook"})
    assert json.loads(notebook.body)["cells"]
    stage = await jp_fetch("nbtrack", "api", "runs", run_id, "export", params={"format": "dvc"})
    assert stage.body[:2] == b"PK" and stage.headers["Content-Disposition"].endswith(".zip")
    code, error = await api_error(jp_fetch, "nbtrack", "api", "runs", run_id, "export", params={"format": "exe"})
    assert (code, error["code"]) == (400, "bad_request")


async def test_an_export_that_does_not_reproduce_says_so(jp_fetch, jp_root_dir):
    history = ["import random\nimport nbtrack", "%%track --name lucky\nnbtrack.log_metric('acc', random.random())"]
    run_id = magic_run(jp_root_dir / ".nbtrack", history)
    script = await jp_fetch("nbtrack", "api", "runs", run_id, "export", params={"format": "script"})
    assert script.headers["X-Nbtrack-Verified"] == "false"
    assert b"UNVERIFIED" in script.body and b"acc" in script.body


WRITER = """
import sys, time, nbtrack
for i in range(int(sys.argv[2])):
    with nbtrack.track(f"w{i}", "live", {"i": i}, store=sys.argv[1], environment=False):
        nbtrack.log_metric("m", i)
"""


async def test_reads_while_a_kernel_writes(jp_fetch, jp_root_dir):
    """Another process appends runs while the API serves pages: every answer is whole, totals only grow."""
    import asyncio
    import subprocess
    import sys

    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(jp_root_dir / ".nbtrack"), "150"])
    totals = []
    try:
        while writer.poll() is None or len(totals) < 3:
            page = body(await jp_fetch("nbtrack", "api", "runs", params={"experiment": "live", "limit": 20}))
            assert len(page["runs"]) == min(20, page["total"])
            assert all(r["experiment"] == "live" and r["id"] in page["status"] for r in page["runs"])
            totals.append(page["total"])
            await asyncio.sleep(0.02)
    finally:
        assert writer.wait(60) == 0
    assert totals == sorted(totals)
    final = body(await jp_fetch("nbtrack", "api", "runs", params={"experiment": "live"}))
    assert final["total"] == 150


async def test_downloads_have_their_content_type_and_the_dvc_zip_runs_unzipped(jp_fetch, jp_root_dir, tmp_path):
    """Reproduction 4: downloads were application/json (octet-stream), and the DVC zip pointed into a deleted
    temporary folder (``../../../nbtrack-export-xxxx/...``)."""
    import io
    import os
    import subprocess
    import zipfile

    import yaml

    history = ["import nbtrack\nscale = 2", "%%track --name exported\nlr = 0.1\nnbtrack.log_metric('acc', lr * scale)"]
    run_id = magic_run(jp_root_dir / ".nbtrack", history)
    types = {}
    for fmt in ("script", "notebook", "dvc"):
        response = await jp_fetch("nbtrack", "api", "runs", run_id, "export", params={"format": fmt})
        types[fmt] = response.headers["Content-Type"]
        if fmt == "dvc":
            archive = zipfile.ZipFile(io.BytesIO(response.body))
    assert types == {
        "script": "text/x-python; charset=UTF-8",
        "notebook": "application/x-ipynb+json",
        "dvc": "application/zip",
    }
    assert all(".." not in name and not name.startswith("/") for name in archive.namelist())
    archive.extractall(tmp_path)
    (top,) = {name.split("/")[0] for name in archive.namelist()}
    stage_file = tmp_path / top / "dvc.yaml"
    assert "nbtrack-export-" not in stage_file.read_text()
    (stage,) = yaml.safe_load(stage_file.read_text())["stages"].values()
    workdir = (tmp_path / top / stage.get("wdir", ".")).resolve()
    assert workdir == tmp_path.resolve() or tmp_path.resolve() in workdir.parents
    script, *_ = stage["deps"]
    assert (workdir / script).is_file()
    params_file = next(iter(stage["params"][0]))
    assert (workdir / params_file).is_file()
    env = {**os.environ, "NBTRACK_DIR": str(tmp_path / "replay-store")}
    done = subprocess.run(stage["cmd"], shell=True, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    metrics_file = next(iter(stage["metrics"][0]))
    assert json.loads((workdir / metrics_file).read_text())["acc"] == pytest.approx(0.2)
