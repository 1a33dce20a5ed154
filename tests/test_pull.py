"""remote/pull.py without a server: what pull makes of MLflow run objects (real ``mlflow.entities.Run``s).

The pulls against a real MLflow tracking server are in tests/test_push.py.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("mlflow")

from mlflow.entities import Dataset, DatasetInput, Param, Run, RunData, RunInfo, RunInputs, RunTag

from nbtrack import ids
from nbtrack.remote.client import Server
from nbtrack.remote.mapping import TAG_RENAMED, TAG_RUN_ID, TAG_STATUS, derived_run_id
from nbtrack.remote.pull import local_id, pulled_record, remote_stamp
from nbtrack.run import Run as NbRun
from nbtrack.store.local import get_store

START_MS = 1_700_000_000_000


def mlflow_run(
    *,
    run_id: str = "a" * 32,
    status: str = "FINISHED",
    end_ms: int | None = START_MS + 2500,
    name: str = "native",
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    datasets: list[Dataset] = (),
) -> Run:
    """A run as MlflowClient.search_runs returns it (metrics left out: their history needs the server)."""
    info = RunInfo(
        run_id=run_id,
        experiment_id="7",
        user_id="me",
        status=status,
        start_time=START_MS,
        end_time=end_ms,
        lifecycle_stage="active",
        artifact_uri=f"file:///nowhere/{run_id}/artifacts",
        run_name=name,
    )
    data = RunData(
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in {"mlflow.runName": name, **(tags or {})}.items()],
    )
    return Run(info, data, RunInputs(dataset_inputs=[DatasetInput(d) for d in datasets]))


@pytest.fixture
def server() -> Server:
    """A Server object that is never asked anything (no metrics, no pushed record to download): nothing listens."""
    return Server("http://127.0.0.1:9")


def test_local_id_is_the_pushed_id_or_a_stable_one_derived_from_the_mlflow_id():
    pushed = ids.new_run_id()
    assert local_id(mlflow_run(tags={TAG_RUN_ID: pushed})) == pushed
    native = local_id(mlflow_run())
    assert ids.is_run_id(native) and native == derived_run_id("a" * 32, START_MS)
    assert local_id(mlflow_run()) == native  # the same run pulled twice is the same run here
    assert local_id(mlflow_run(run_id="b" * 32)) != native
    assert local_id(mlflow_run(tags={TAG_RUN_ID: "not an id"})) == native  # a tag edited by hand is not trusted


def test_remote_stamp_changes_exactly_when_the_run_changed_on_the_server():
    base = dict(params={"lr": "0.1", "opt": "adam"}, tags={"team": "a"})
    stamp = remote_stamp(mlflow_run(**base))
    assert remote_stamp(mlflow_run(params={"opt": "adam", "lr": "0.1"}, tags={"team": "a"})) == stamp  # order
    assert remote_stamp(mlflow_run(run_id="c" * 32, **base)) == stamp  # what changed, not which run
    changed = [
        mlflow_run(params={"lr": "0.2", "opt": "adam"}, tags={"team": "a"}),
        mlflow_run(params={"lr": "0.1"}, tags={"team": "a"}),
        mlflow_run(**base | {"tags": {"team": "b"}}),
        mlflow_run(**base, status="KILLED"),
        mlflow_run(**base, end_ms=None),
        mlflow_run(**base, name="renamed"),
    ]
    assert len({remote_stamp(r) for r in changed} | {stamp}) == len(changed) + 1


def test_a_native_run_becomes_a_typed_local_record(server, store_dir):
    store = get_store()
    dataset = Dataset(
        name="images",
        digest="abc123",
        source_type="local",
        source=json.dumps({"uri": "data/images"}),
        schema="not json",
    )
    run = mlflow_run(
        params={"lr": "0.1", "sizes": "[1, 2]", "aug": "True", "opt": "adam", "k_e_y": "1"},
        tags={"team": "vision", TAG_RENAMED: json.dumps({"k_e_y": "k/e/y"}), "nbtrack.other": "x"},
        datasets=[dataset],
    )
    doc = pulled_record(server, store, run, local_id(run), "pulled", remote_stamp(run))
    assert doc["id"] == local_id(run) and doc["experiment"] == "pulled" and doc["name"] == "native"
    assert doc["params"] == {"lr": 0.1, "sizes": [1, 2], "aug": True, "opt": "adam", "k/e/y": 1}
    assert doc["tags"] == {"team": "vision"}  # nbtrack's own tags and mlflow.runName are not user tags
    assert doc["data"]["images"] == {
        "algorithm": "mlflow",
        "hash": "abc123",
        "kind": "mlflow-dataset",
        "source_type": "local",
        "source": {"uri": "data/images"},
        "schema": "not json",
    }
    assert doc["status"] == "finished" and doc["start_time"] == START_MS / 1000 and doc["duration"] == 2.5
    assert doc["series"] is None and doc["metrics"] == {} and doc["source"] == "mlflow"
    assert doc["origin"]["mlflow_run_id"] == "a" * 32 and doc["origin"]["experiment_id"] == "7"
    assert doc["origin"]["stamp"] == remote_stamp(run) and doc["origin"]["server"] == "http://127.0.0.1:9"
    store.put_run(doc)  # the store takes it, and it reads back as a Run
    back = NbRun.from_doc(store.get_doc(doc["id"]))
    assert back.params["sizes"] == [1, 2] and back.status == "finished"


@pytest.mark.parametrize(
    ("mlflow_status", "pushed", "expected"),
    [
        ("KILLED", None, "interrupted"),
        ("KILLED", "abandoned", "abandoned"),  # MLflow's KILLED covers both: the pushed tag tells them apart
        ("FAILED", "abandoned", "failed"),  # the server changed it since the push: the server wins
        ("RUNNING", None, "running"),
    ],
)
def test_the_status_comes_from_mlflow_and_the_pushed_tag_refines_it(server, store_dir, mlflow_status, pushed, expected):
    tags = {TAG_STATUS: pushed} if pushed else {}
    run = mlflow_run(status=mlflow_status, tags=tags, end_ms=None if mlflow_status == "RUNNING" else START_MS + 1)
    doc = pulled_record(server, get_store(), run, local_id(run), "e", remote_stamp(run))
    assert doc["status"] == expected
    assert (doc["end_time"] is None) == (mlflow_status == "RUNNING")
