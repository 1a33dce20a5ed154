"""push / pull against a real MLflow tracking server, plus the pure parts that need a rich record (payload, since).

The mapping of names and values is tested in test_mapping.py, the push state in test_state.py.

One ``mlflow server`` (sqlite backend, artifacts in a temp dir) is shared by the module; the resume test
kills it mid-push and starts it again on the same port and database. Tests that need the server are
skipped, with the reason, only when mlflow cannot be imported.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings

import pytest

import nbtrack
from nbtrack.cli import main as cli_main
from nbtrack.errors import RemoteError
from nbtrack.remote.live import wait_live
from nbtrack.remote.mapping import (
    MAX_PARAM_VALUE_LENGTH,
    TAG_PUSHED,
    TAG_RUN_ID,
    build_payload,
    mlflow_key,
    record_signature,
)
from nbtrack.remote.push import parse_since
from nbtrack.remote.state import PushState

try:
    import mlflow  # noqa: F401

    HAVE_MLFLOW = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAVE_MLFLOW = False

needs_mlflow = pytest.mark.skipif(not HAVE_MLFLOW, reason="mlflow is not installed (pip install -e '.[test]')")

QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


# the server ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from mlflow_server import MlflowServer

    with pytest.MonkeyPatch.context() as mp:
        for key, value in QUIET_ENV.items():
            mp.setenv(key, value)
        mp.delenv("NBTRACK_TRACKING_URI", raising=False)
        srv = MlflowServer(tmp_path_factory.mktemp("mlflow-server"), workers=1).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(server.uri)


def closed_port_uri() -> str:
    from mlflow_server import free_port

    return f"http://127.0.0.1:{free_port()}"


def server_runs(client, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else list(client.search_runs([exp.experiment_id], max_results=1000))


def by_nbtrack_id(client, experiment: str) -> dict:
    runs = server_runs(client, experiment)
    ids = [r.data.tags.get(TAG_RUN_ID) for r in runs]
    assert len(ids) == len(set(ids)), "a run was pushed twice"
    return {r.data.tags[TAG_RUN_ID]: r for r in runs}


# recording runs -----------------------------------------------------------------------------------------

LONG_TEXT = "x" * (MAX_PARAM_VALUE_LENGTH + 500)


def record_rich_run(experiment: str, store=None) -> str:
    """A run with params of many types, a NaN, a long value, an odd name, a data input, history and snapshot."""
    import numpy as np
    import pandas as pd

    from nbtrack.capture.notebook import store_history

    params = {
        "lr": 0.01,
        "epochs": 20,
        "optimizer": "adam",
        "nesterov": True,
        "dropout": None,
        "layers": [64, 32],
        "shape": (3, 4),
        "extra": {"a": 1},
        "prompt": LONG_TEXT,
        "acc@top[1]": 5,
    }
    with nbtrack.track(
        name="rich",
        experiment=experiment,
        params=params,
        tags={"owner": "ana", "stage": "explore", "huge": "y" * 9000},
        store=store,
    ) as run:
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            run.log_metric("acc", 0.5 + step / 10, step=step)
        run.log_metric("weird", float("nan"))
        frame = pd.DataFrame({"x": np.arange(10), "y": np.linspace(0, 1, 10), "s": list("abcdefghij")})
        run.log_data("train", frame)
    st = nbtrack.get_store(store)
    doc = dict(st.get_doc(run.id))
    doc["history"] = store_history(st, ["import pandas as pd", "lr = 0.01\nfit(lr)"])
    notebook = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    doc["snapshot"] = {
        "path": "/notebooks/train.ipynb",
        "source": "test",
        "blob": st.put_blob(notebook),
        "size": len(notebook),
        "mtime": time.time(),
        "stale": False,
        "stale_reason": None,
    }
    st.put_run(doc)
    return run.id


def record_runs(experiment: str, n: int, steps: int = 10, store=None) -> list[str]:
    ids = []
    for i in range(n):
        with nbtrack.track(
            name=f"r{i}",
            experiment=experiment,
            params={"i": i, "lr": 0.1 * (i + 1)},
            tags={"batch": "b"},
            store=store,
            environment=False,
        ) as run:
            for step in range(steps):
                run.log_metrics({"loss": 1.0 / (step + 1 + i), "acc": step / steps}, step=step)
        ids.append(run.id)
    return ids


# pure parts (no server) --------------------------------------------------------------------------------


def test_since_accepts_dates_and_ages():
    now = time.time()
    assert abs(parse_since("7d") - (now - 7 * 86400)) < 5
    assert abs(parse_since("12h") - (now - 12 * 3600)) < 5
    assert parse_since("2024-05-01") < parse_since("2024-05-01T12:00")
    with pytest.raises(RemoteError, match="not a date"):
        parse_since("last tuesday")


def test_payload_of_a_rich_run(store_dir):
    run_id = record_rich_run("payload")
    st = nbtrack.get_store()
    payload = build_payload(st.get_doc(run_id), st)
    params = dict(payload.params)
    assert params["lr"] == "0.01" and params["nesterov"] == "True" and params["dropout"] == "None"
    assert params["shape"] == "(3, 4)" and params["acc_top_1_"] == "5"
    assert len(params["prompt"]) <= MAX_PARAM_VALUE_LENGTH and "nbtrack/params/" in params["prompt"]
    tags = dict(payload.tags)
    assert tags["nbtrack.long_param.prompt"] in payload.artifacts
    assert payload.artifacts[tags["nbtrack.long_param.prompt"]].decode() == LONG_TEXT
    assert json.loads(tags["nbtrack.renamed"]) == {"acc_top_1_": "acc@top[1]"}
    assert len([m for m in payload.metrics if m[0] == "loss"]) == 5
    assert any(math.isnan(m[1]) for m in payload.metrics if m[0] == "weird")
    assert {
        "nbtrack/run.json",
        "nbtrack/code.py",
        "nbtrack/history.py",
        "nbtrack/history.json",
        "nbtrack/notebook.ipynb",
        "nbtrack/requirements.txt",
    } <= set(payload.artifacts)
    assert payload.datasets[0]["name"] == "train" and len(payload.datasets[0]["digest"]) == 32


def test_nbtrack_exports_push_and_pull_lazily():
    assert callable(nbtrack.push) and callable(nbtrack.pull)
    assert nbtrack.push.__module__ == "nbtrack.remote.push"


# against the server ------------------------------------------------------------------------------------


@needs_mlflow
def test_push_then_read_back_field_by_field(server, client, store_dir):
    run_id = record_rich_run("fields")
    failed_id = None
    with pytest.raises(ZeroDivisionError), nbtrack.track(name="broken", experiment="fields") as run:
        failed_id = run.id
        run.log_metric("loss", 3.0)
        1 / 0  # noqa: B018
    report = nbtrack.push(server.uri, experiment="fields")
    assert not report.failed, report.failed
    assert len(report.by("create")) == 2 and report.bytes > 0

    st = nbtrack.get_store()
    local = nbtrack.get_run(run_id)
    remote_runs = by_nbtrack_id(client, "fields")
    assert set(remote_runs) == {run_id, failed_id}
    r = client.get_run(remote_runs[run_id].info.run_id)
    assert r.info.run_name == "rich" and r.info.status == "FINISHED"
    assert r.info.start_time == round(local.start_time * 1000) and r.info.end_time == round(local.end_time * 1000)
    for name, value in local.params.items():
        key = mlflow_key(name)
        if name == "prompt":
            assert r.data.params[key].startswith("x" * 100) and r.data.tags["nbtrack.long_param.prompt"]
        else:
            assert r.data.params[key] == str(value), name
    assert r.data.tags["owner"] == "ana" and r.data.tags["stage"] == "explore"
    assert r.data.tags["nbtrack.status"] == "finished" and r.data.tags[TAG_PUSHED] == record_signature(local.doc)
    assert len(r.data.tags["huge"]) <= 8000 and r.data.tags["nbtrack.long_tag.huge"]
    assert r.data.metrics["loss"] == local.metrics["loss"] and math.isnan(r.data.metrics["weird"])
    series = local.series
    for name in ("loss", "acc"):
        history = sorted(client.get_metric_history(r.info.run_id, name), key=lambda m: m.step)
        expected = series[series.name == name].sort_values("step")
        assert [m.step for m in history] == expected.step.tolist()
        assert [m.value for m in history] == pytest.approx(expected.value.tolist())
        assert [m.timestamp for m in history] == [round(t * 1000) for t in expected.time]
    dataset = r.inputs.dataset_inputs[0].dataset
    assert dataset.name == "train" and dataset.digest == local.data["train"]["hash"]
    assert [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]] == ["x", "y", "s"]
    assert json.loads(dataset.profile)["num_rows"] == 10
    assert json.loads(dataset.profile)["nbtrack_profile"] == local.data["train"]["profile"]

    def artifact(path: str) -> bytes:
        with open(client.download_artifacts(r.info.run_id, path, str(store_dir.parent)), "rb") as f:
            return f.read()

    assert artifact("nbtrack/code.py").decode() == local.code
    assert json.loads(artifact("nbtrack/history.json")) == local.history
    assert "# In[2]:" in artifact("nbtrack/history.py").decode()
    assert artifact("nbtrack/notebook.ipynb") == st.get_blob(local.snapshot_info["blob"])
    requirements = artifact("nbtrack/requirements.txt").decode()
    assert f"pytest=={local.env['packages']['pytest']}" in requirements.splitlines()
    assert json.loads(artifact("nbtrack/run.json"))["id"] == run_id
    assert artifact(r.data.tags["nbtrack.long_param.prompt"]).decode() == LONG_TEXT

    failed = client.get_run(remote_runs[failed_id].info.run_id)
    assert failed.info.status == "FAILED" and failed.data.tags["nbtrack.error"].startswith("ZeroDivisionError")


@needs_mlflow
def test_pushing_again_creates_nothing_and_sends_only_changes(server, client, store_dir):
    ids = record_runs("again", 5)
    first = nbtrack.push(server.uri, experiment="again")
    assert len(first.by("create")) == 5

    second = nbtrack.push(server.uri, experiment="again")
    assert len(second.by("up to date")) == 5 and not second.sent and second.bytes == 0
    assert len(by_nbtrack_id(client, "again")) == 5

    nbtrack.set_tag("verdict", "keep", run=ids[2])
    third = nbtrack.push(server.uri, experiment="again")
    assert [a.run_id for a in third.by("update")] == [ids[2]] and len(third.by("up to date")) == 4
    runs = by_nbtrack_id(client, "again")
    assert len(runs) == 5 and runs[ids[2]].data.tags["verdict"] == "keep"
    assert len(client.get_metric_history(runs[ids[2]].info.run_id, "loss")) == 10  # metrics not sent twice

    # without the local push state (another machine, a wiped .nbtrack/push): found by their tag, not re-created
    import shutil

    shutil.rmtree(store_dir / "push")
    fourth = nbtrack.push(server.uri, experiment="again")
    assert len(fourth.by("up to date")) == 5 and not fourth.sent
    forced = nbtrack.push(server.uri, experiment="again", force=True)
    assert len(forced.by("up to date")) == 5
    assert len(by_nbtrack_id(client, "again")) == 5

    # a run deleted on the server: the push state still says "up to date"; --force asks the server
    client.delete_run(by_nbtrack_id(client, "again")[ids[0]].info.run_id)
    assert len(nbtrack.push(server.uri, experiment="again").by("up to date")) == 5
    forced = nbtrack.push(server.uri, experiment="again", force=True)
    assert [(a.run_id, a.action) for a in forced.sent] == [(ids[0], "create")]
    assert set(by_nbtrack_id(client, "again")) == set(ids)


@needs_mlflow
def test_selection_dry_run_and_running_runs(server, client, store_dir):
    ids = record_runs("select", 3)
    old = dict(nbtrack.get_store().get_doc(ids[0]))
    old["start_time"] -= 10 * 86400
    nbtrack.get_store().put_run(old)
    dry = nbtrack.push(server.uri, experiment="select", dry_run=True)
    assert [a.action for a in dry.actions] == ["create"] * 3 and "metric points" in dry.actions[0].detail
    assert client.get_experiment_by_name("select") is None  # nothing sent, not even the experiment

    report = nbtrack.push(server.uri, [ids[1][:10]], experiment="select")
    assert [a.run_id for a in report.sent] == [ids[1]]
    report = nbtrack.push(server.uri, experiment="select", since="2d")
    assert [a.action for a in report.actions] == ["up to date", "create"]
    assert set(by_nbtrack_id(client, "select")) == {ids[1], ids[2]}

    with nbtrack.track(experiment="select", environment=False) as live:
        report = nbtrack.push(server.uri, [live.id])
        assert report.actions[0].action == "skip" and "running" in report.actions[0].detail


@needs_mlflow
def test_cli_push_and_pull(server, client, store_dir, tmp_path, capsys):
    record_runs("cli", 2)
    assert cli_main(["push", "--to", server.uri, "-e", "cli", "-n"]) == 0
    out = capsys.readouterr().out
    assert out.count("would create") == 2 and "dry run" in out
    assert cli_main(["push", "--to", server.uri, "-e", "cli", "-q"]) == 0
    assert "2 create" in capsys.readouterr().out
    assert len(server_runs(client, "cli")) == 2

    other = tmp_path / "other-store"
    assert cli_main(["--store", str(other), "pull", "--from", server.uri, "--experiment", "cli", "-q"]) == 0
    assert "2 import" in capsys.readouterr().out
    assert len(nbtrack.runs(store=other)) == 2
    assert cli_main(["--store", str(other), "pull", "--from", server.uri, "-e", "cli", "-q"]) == 0
    assert "2 up to date" in capsys.readouterr().out

    assert cli_main(["pull", "--from", server.uri, "-e", "no-such-experiment"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("nbtrack: error: no experiment 'no-such-experiment' on http://127.0.0.1:") and "\n" not in err


@needs_mlflow
def test_pull_restores_pushed_runs_exactly(server, client, store_dir, tmp_path):
    run_id = record_rich_run("roundtrip")
    nbtrack.push(server.uri, experiment="roundtrip")
    other = tmp_path / "teammate"
    report = nbtrack.pull(server.uri, "roundtrip", store=other)
    assert [a.action for a in report.actions] == ["import"]
    mine, theirs = nbtrack.get_run(run_id), nbtrack.get_run(run_id, store=other)
    assert theirs.params == mine.params  # types included: tuple, None, dict, the long text
    assert theirs.tags == mine.tags and theirs.code == mine.code
    assert theirs.data == mine.data and theirs.data["train"]["profile"]  # profiles included
    assert theirs.history == mine.history and theirs.snapshot == mine.snapshot
    assert theirs.env["packages"] == mine.env["packages"]
    assert theirs.status == "finished" and theirs.start_time == pytest.approx(mine.start_time, abs=1e-3)
    a, b = mine.series.sort_values(["name", "step"]), theirs.series.sort_values(["name", "step"])
    assert a.name.tolist() == b.name.tolist() and a.step.tolist() == b.step.tolist()
    assert a.value.tolist() == pytest.approx(b.value.tolist(), nan_ok=True)
    # the local store is the source of truth: pulling into it changes nothing
    again = nbtrack.pull(server.uri, "roundtrip")
    assert [x.action for x in again.actions] == ["skip"]


@needs_mlflow
def test_pull_mlflow_native_runs_beside_local_ones(server, client, store_dir):
    from mlflow.entities import Dataset, DatasetInput, Metric, Param, RunTag

    exp = client.create_experiment("native")
    created = client.create_run(exp, run_name="mlflow-run", tags={"team": "vision"})
    mid = created.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        mid,
        metrics=[Metric("loss", 1.0 / (s + 1), now + s, s) for s in range(7)],
        params=[
            Param("lr", "0.1"),
            Param("batch", "32"),
            Param("opt", "adam"),
            Param("aug", "True"),
            Param("sizes", "[1, 2]"),
        ],
        tags=[RunTag("note", "from mlflow")],
    )
    client.log_inputs(
        mid, [DatasetInput(Dataset("images", "abc123", "local", '{"uri": "/data"}', None, '{"num_rows": 5}'))]
    )
    client.set_terminated(mid, "KILLED")
    record_runs("native", 1)  # a local run in the same experiment

    report = nbtrack.pull(server.uri, "native")
    assert [a.action for a in report.actions] == ["import"]
    frame = nbtrack.runs(experiment="native")
    assert len(frame) == 2
    pulled = nbtrack.get_run(report.actions[0].run_id)
    assert pulled.params == {"lr": 0.1, "batch": 32, "opt": "adam", "aug": True, "sizes": [1, 2]}
    assert pulled.tags["team"] == "vision" and pulled.tags["note"] == "from mlflow"
    assert pulled.status == "interrupted" and pulled.name == "mlflow-run"
    assert pulled.metrics["loss"] == pytest.approx(1 / 7)
    assert pulled.series.step.tolist() == list(range(7))
    assert pulled.data["images"]["hash"] == "abc123"
    assert pulled.doc["origin"]["mlflow_run_id"] == mid

    assert [a.action for a in nbtrack.pull(server.uri, "native").actions] == ["up to date"]
    client.set_tag(mid, "note", "changed on the server")
    assert [a.action for a in nbtrack.pull(server.uri, "native").actions] == ["update"]
    assert nbtrack.get_run(pulled.id).tags["note"] == "changed on the server"
    # pushing the experiment back does not copy the pulled run onto the server it came from
    push = nbtrack.push(server.uri, experiment="native")
    assert sorted(a.action for a in push.actions) == ["create", "skip"]
    assert len(server_runs(client, "native")) == 2


@needs_mlflow
def test_unreachable_server_fails_fast_with_one_line(store_dir, capsys, monkeypatch):
    for key, value in QUIET_ENV.items():
        monkeypatch.setenv(key, value)
    record_runs("down", 1)
    uri = closed_port_uri()
    started = time.monotonic()
    with pytest.raises(RemoteError, match=f"cannot reach the MLflow tracking server {uri}"):
        nbtrack.push(uri)
    assert cli_main(["push", "--to", uri]) == 1
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nbtrack: error: cannot reach the MLflow tracking server {uri}") and "\n" not in err


@needs_mlflow
def test_direct_logging_and_offline_first(server, client, store_dir, monkeypatch):
    monkeypatch.setenv("NBTRACK_TRACKING_URI", server.uri)
    with nbtrack.track(name="live", experiment="live", params={"lr": 0.1}, environment=False) as run:
        assert wait_live(60)
        started = by_nbtrack_id(client, "live")[run.id]
        assert started.info.status == "RUNNING" and started.data.tags["nbtrack.status"] == "running"
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
    assert wait_live(60)
    finished = by_nbtrack_id(client, "live")[run.id]
    assert finished.info.status == "FINISHED" and finished.data.params["lr"] == "0.1"
    assert len(client.get_metric_history(finished.info.run_id, "loss")) == 3
    assert finished.data.tags[TAG_PUSHED] == record_signature(nbtrack.get_store().get_doc(run.id))
    assert [a.action for a in nbtrack.push(server.uri, experiment="live").actions] == ["up to date"]

    # the server is down: the run is recorded locally, with one warning, and pushed later
    monkeypatch.setenv("NBTRACK_TRACKING_URI", closed_port_uri())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.track(name="offline", experiment="live", environment=False) as offline:
            offline.log_metric("loss", 0.5)
        assert wait_live(60)
    messages = [str(w.message) for w in caught if issubclass(w.category, nbtrack.NbtrackWarning)]
    assert len(messages) == 1 and "unreachable" in messages[0] and "nbtrack push --to" in messages[0]
    assert nbtrack.get_run(offline.id).status == "finished"
    monkeypatch.delenv("NBTRACK_TRACKING_URI")
    later = nbtrack.push(server.uri, experiment="live")
    assert [(a.run_id, a.action) for a in later.sent] == [(offline.id, "create")]


@needs_mlflow
def test_direct_logging_from_the_magic(server, client, ip, monkeypatch):
    monkeypatch.setenv("NBTRACK_TRACKING_URI", server.uri)
    result = ip.run_cell(
        "%%track -e magic-live -n cell --quiet\nlr = 0.5\nimport nbtrack\nnbtrack.log_metric('score', lr * 2)",
        store_history=True,
    )
    assert result.success
    assert wait_live(60)
    (run_id,) = nbtrack.runs(experiment="magic-live").run_id
    r = by_nbtrack_id(client, "magic-live")[run_id]
    assert r.info.status == "FINISHED" and r.info.run_name == "cell"
    assert r.data.params["lr"] == "0.5" and r.data.metrics["score"] == 1.0
    artifacts = {f.path for f in client.list_artifacts(r.info.run_id, "nbtrack")}
    assert {"nbtrack/code.py", "nbtrack/history.py", "nbtrack/run.json"} <= artifacts


@needs_mlflow
def test_kill_the_server_mid_push_then_resume(server, client, store_dir, monkeypatch):
    """Runs the module's server into the ground halfway through a push, restarts it, pushes again."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once when the server is gone
    ids = record_runs("resume", 30, steps=120)  # 240 metric points per run
    result: dict = {}

    def pushing() -> None:
        try:
            result["report"] = nbtrack.push(server.uri, experiment="resume", workers=2)
        except Exception as exc:
            result["error"] = exc

    thread = threading.Thread(target=pushing)
    thread.start()
    state_path = PushState(store_dir, server.uri).path
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and thread.is_alive():
        done = PushState(store_dir, server.uri)
        if sum(1 for e in done.runs.values() if e.get("done")) >= 4:
            break
        time.sleep(0.05)
    server.kill()
    thread.join(120)
    assert not thread.is_alive()
    error = result.get("error")
    assert isinstance(error, RemoteError), result
    assert server.uri in str(error) and "run the same push again to resume" in str(error)
    finished_before = {k for k, e in PushState(store_dir, server.uri).runs.items() if e.get("done")}
    assert 4 <= len(finished_before) < 30 and state_path.exists()

    server.start()
    report = nbtrack.push(server.uri, experiment="resume")
    assert not report.failed
    assert {a.run_id for a in report.by("up to date")} == finished_before
    assert {a.run_id for a in report.sent} == set(ids) - finished_before
    runs = by_nbtrack_id(client, "resume")
    assert set(runs) == set(ids)  # every run exactly once
    for run_id in ids:
        r = runs[run_id]
        assert r.info.status == "FINISHED" and r.data.tags[TAG_PUSHED]
        history = client.get_metric_history(r.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(120)), "points lost or sent twice"
    assert not nbtrack.push(server.uri, experiment="resume").sent


@pytest.fixture(autouse=True)
def _no_live_logging_left(monkeypatch):
    monkeypatch.delenv("NBTRACK_TRACKING_URI", raising=False)
    yield
    wait_live(30)


def test_import_stays_cheap():
    import subprocess
    import sys

    code = "import sys, nbtrack; nbtrack.__getattr__('push'); print('mlflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NBTRACK_TRACKING_URI": ""},
    )
    assert out.stdout.strip() == "False"
