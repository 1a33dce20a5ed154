"""A first push with several workers against real tracking servers backed by SQLite and by PostgreSQL.

MLflow creates a dataset on first use without a lock, so two workers logging the same new dataset at once
used to fail one run (``UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtrack

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    from mlflow_server import MlflowServer, quiet_mlflow_env
    from postgres_server import PostgresServer, binaries

    database = None
    backend_uri = ""
    if request.param == "postgresql":
        if binaries() is None:
            pytest.skip("PostgreSQL is not installed here (.ci/run installs Debian's postgresql)")
        pytest.importorskip("psycopg2", reason="the PostgreSQL driver is in the test extra (psycopg2-binary)")
        database = PostgresServer().start()
        backend_uri = database.uri
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**QUIET_ENV, **quiet_mlflow_env()}.items():
            mp.setenv(key, value)
        mp.delenv("NBTRACK_TRACKING_URI", raising=False)
        srv = MlflowServer(tmp_path_factory.mktemp(f"mlflow-{request.param}"), workers=2, backend_uri=backend_uri)
        try:
            yield srv.start()
        finally:
            srv.stop()
            if database is not None:
                database.stop()


def test_a_parallel_first_push_creates_every_run_and_each_dataset_once(server, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    store = tmp_path / ".nbtrack"
    shared = pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50) % 2})
    for seed in range(8):
        own = pd.DataFrame({"z": np.random.default_rng(seed).normal(size=20)})
        with nbtrack.track(
            name=f"r{seed}",
            experiment="parallel",
            params={"seed": seed},
            data={"train": shared, "own": own},
            store=store,
        ) as run:
            run.log_metric("acc", 0.5 + seed / 100)

    report = nbtrack.push(server.uri, store=store, workers=4, progress=False)
    assert [a.error for a in report.actions if a.error] == []
    assert sorted(a.action for a in report.actions) == ["create"] * 8

    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("parallel")
    pushed = client.search_runs([experiment.experiment_id])
    assert len(pushed) == 8
    digests = {}
    for run in pushed:
        names = sorted(d.dataset.name for d in run.inputs.dataset_inputs)
        assert names == ["own", "train"]
        for d in run.inputs.dataset_inputs:
            digests.setdefault(d.dataset.name, set()).add(d.dataset.digest)
    assert len(digests["train"]) == 1  # one dataset, linked to all eight runs
    assert len(digests["own"]) == 8

    again = nbtrack.push(server.uri, store=store, workers=4, progress=False)
    assert {a.action for a in again.actions} == {"up to date"}
