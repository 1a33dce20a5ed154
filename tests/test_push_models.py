"""Models, artifacts and kept outputs through push and pull, against a real ``mlflow server``.

A tracked scikit-learn pipeline and an XGBoost model become MLflow models that ``mlflow.sklearn`` /
``mlflow.xgboost`` load with identical predictions; a figure and a kept output are artifacts; pushing again
sends nothing; pull into a fresh store restores the bytes so ``nbtrack.load_model`` predicts identically;
a run made with MLflow's own ``log_model`` pulls with its model listed and loadable.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

import nbtrack
from nbtrack.errors import UntrustedModelError
from nbtrack.remote.contents import ARTIFACT_MODELS
from nbtrack.remote.mapping import TAG_RUN_ID, build_payload

pytest.importorskip("mlflow")
pytest.importorskip("skops")

QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from mlflow_server import MlflowServer

    with pytest.MonkeyPatch.context() as mp:
        for key, value in QUIET_ENV.items():
            mp.setenv(key, value)
        mp.delenv("NBTRACK_TRACKING_URI", raising=False)
        srv = MlflowServer(tmp_path_factory.mktemp("mlflow-models"), workers=1).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def client(server):
    """A client of the server, which is also MLflow's global tracking URI (``runs:/`` URIs resolve there)."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(server.uri)
    yield MlflowClient(server.uri)
    mlflow.set_tracking_uri(None)


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.rand(80, 4)
    y = (X[:, 0] + X[:, 1] * 0.5 > 0.7).astype(int)
    return X, y


def png(width: int = 2) -> bytes:
    """A real (tiny) PNG file."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(width))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def record_model_run(experiment: str, model, name: str = "clf") -> str:
    """A run holding ``model``, a figure artifact, one kept and one hashed-only output."""
    X, y = data()
    with nbtrack.track(name="models", experiment=experiment, params={"C": 0.5}, environment=False) as run:
        run.log_model(model, name)
        run.log_metric("acc", float((model.predict(X) == y).mean()))
    st = nbtrack.get_store()
    doc = dict(st.get_doc(run.id))
    figure, csv = png(), b"id,pred\n1,0\n2,1\n"
    doc["artifacts"] = {
        "figure-1.png": {"blob": st.put_blob(figure), "size": len(figure), "media_type": "image/png", "kind": "figure"}
    }
    doc["outputs"] = {
        "out/preds.csv": {"hash": "a" * 32, "size": len(csv), "kept": st.put_blob(csv)},
        "out/big.bin": {"hash": "b" * 32, "size": 10**9, "kept": None},
    }
    st.put_run(doc)
    return run.id


def pushed_run(client, experiment: str, run_id: str):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{TAG_RUN_ID}` = '{run_id}'")
    assert len(runs) == 1
    return runs[0]


def artifact_bytes(server, remote, path: str) -> bytes:
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(run_id=remote.info.run_id, artifact_path=path, tracking_uri=server.uri)
    with open(local, "rb") as f:
        return f.read()


def sklearn_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data()
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))]).fit(X, y)


def test_a_pushed_pipeline_is_an_mlflow_sklearn_model_and_pulls_back(server, client, store_dir, tmp_path):
    import mlflow.sklearn

    model = sklearn_pipeline()
    run_id = record_model_run("models-sk", model)
    payload = build_payload(nbtrack.get_store().get_doc(run_id), nbtrack.get_store())
    assert [(p.name, p.flavor, p.file) for p in payload.models] == [("clf", "sklearn", "models/clf/model.skops")]
    assert sorted(payload.files) == ["artifacts/figure-1.png", "outputs/out/preds.csv"]

    report = nbtrack.push(server.uri, experiment="models-sk")
    assert [a.action for a in report.actions] == ["create"]
    remote = pushed_run(client, "models-sk", run_id)
    X, _ = data()
    loaded = mlflow.sklearn.load_model(f"runs:/{remote.info.run_id}/models/clf")
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))

    files = {f.path for f in client.list_artifacts(remote.info.run_id, "artifacts")}
    assert files == {"artifacts/figure-1.png"}
    assert artifact_bytes(server, remote, "artifacts/figure-1.png") == png()
    outputs = {f.path for f in client.list_artifacts(remote.info.run_id, "outputs/out")}
    assert outputs == {"outputs/out/preds.csv"}  # the hashed-only output stays in the record

    # nbtrack's bytes are the MLflow model's data file, unchanged
    manifest = json.loads(artifact_bytes(server, remote, ARTIFACT_MODELS))
    assert manifest == {"clf": {"file": "models/clf/model.skops", "flavor": "sklearn", "mlflow": "models/clf"}}
    stored = nbtrack.get_store().get_blob(nbtrack.get_run(run_id).models["clf"]["blob"])
    assert artifact_bytes(server, remote, "models/clf/model.skops") == stored

    # push again: nothing is sent
    again = nbtrack.push(server.uri, experiment="models-sk")
    assert [a.action for a in again.actions] == ["up to date"] and again.bytes == 0

    # pull into a fresh store: the model, the figure and the kept output come back bit for bit
    fresh = tmp_path / "fresh"
    pulled_report = nbtrack.pull(server.uri, "models-sk", store=fresh)
    assert [a.action for a in pulled_report.actions] == ["import"]
    pulled = nbtrack.get_run(run_id, store=fresh)
    assert pulled.origin is not None
    back = nbtrack.load_model(pulled, "clf")  # skops with default types only: no trust needed
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert pulled.models["clf"]["blob"] == nbtrack.get_run(run_id).models["clf"]["blob"]
    assert pulled.models["clf"]["mlflow_uri"] == f"runs:/{remote.info.run_id}/models/clf"
    fresh_store = nbtrack.get_store(fresh)
    assert fresh_store.get_blob(pulled.artifacts["figure-1.png"]["blob"]) == png()
    assert fresh_store.get_blob(pulled.outputs["out/preds.csv"]["kept"]) == b"id,pred\n1,0\n2,1\n"
    assert pulled.outputs["out/big.bin"]["kept"] is None and pulled.outputs["out/big.bin"]["size"] == 10**9


def test_a_changed_model_is_sent_again_and_an_unchanged_one_is_not(server, client, store_dir):
    from sklearn.linear_model import LogisticRegression

    X, y = data()
    run_id = record_model_run("models-change", LogisticRegression(C=0.1).fit(X, y))
    nbtrack.push(server.uri, experiment="models-change")
    st = nbtrack.get_store()
    doc = dict(st.get_doc(run_id))
    with nbtrack.track(name="other", experiment="scratch", environment=False) as other:
        other.log_model(LogisticRegression(C=5.0).fit(X, y), "clf")
    doc["models"] = {"clf": st.get_doc(other.id)["models"]["clf"]}
    st.put_run(doc)

    import requests

    puts: list[str] = []
    original = requests.Session.request

    def counting(self, method, url, *args, **kwargs):
        if method == "PUT":
            puts.append(url.split("/artifacts/", 2)[-1])
        return original(self, method, url, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(requests.Session, "request", counting)
        report = nbtrack.push(server.uri, experiment="models-change")
    assert [a.action for a in report.actions] == ["update"]
    sent = sorted({p.rsplit("/", 1)[0] if p.startswith("models/") else p for p in puts})
    # the new model and the record; not the figure, the output, nor the manifest (the model's files keep their paths)
    assert sent == ["models/clf", "nbtrack/run.json"]

    import mlflow.sklearn

    remote = pushed_run(client, "models-change", run_id)
    loaded = mlflow.sklearn.load_model(f"runs:/{remote.info.run_id}/models/clf")
    assert loaded.C == 5.0


def test_an_xgboost_model_is_an_mlflow_xgboost_model(server, client, store_dir, tmp_path):
    xgboost = pytest.importorskip("xgboost")
    import mlflow.xgboost

    X, y = data()
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    run_id = record_model_run("models-xgb", model, "booster")
    nbtrack.push(server.uri, experiment="models-xgb")
    remote = pushed_run(client, "models-xgb", run_id)
    loaded = mlflow.xgboost.load_model(f"runs:/{remote.info.run_id}/models/booster")
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))

    fresh = tmp_path / "fresh"
    nbtrack.pull(server.uri, "models-xgb", store=fresh)
    back = nbtrack.load_model(run_id, "booster", store=fresh)
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


class Doubler:
    """A model no MLflow flavor knows: pushed as a plain file, pickled."""

    def __init__(self, k: float) -> None:
        self.k = k

    def predict(self, X):
        return X.sum(axis=1) * self.k


def test_a_model_without_a_flavor_is_a_plain_file_and_a_pulled_pickle_needs_trust(server, client, store_dir, tmp_path):
    X, _ = data()
    with nbtrack.track(name="plain", experiment="models-plain", environment=False) as run:
        run.log_model(Doubler(2.0), "doubler")
    assert nbtrack.get_run(run.id).models["doubler"]["format"] == "pickle"
    nbtrack.push(server.uri, experiment="models-plain")
    remote = pushed_run(client, "models-plain", run.id)
    files = {f.path for f in client.list_artifacts(remote.info.run_id, "models/doubler")}
    assert files == {"models/doubler/doubler.pkl"}

    fresh = tmp_path / "fresh"
    nbtrack.pull(server.uri, "models-plain", store=fresh)
    with pytest.raises(UntrustedModelError, match="pulled from"):
        nbtrack.load_model(run.id, store=fresh)
    back = nbtrack.load_model(run.id, trusted=True, store=fresh)
    assert np.array_equal(back.predict(X), Doubler(2.0).predict(X))


def test_a_native_mlflow_run_with_a_logged_sklearn_model_pulls_with_its_model(server, client, store_dir):
    import mlflow
    import mlflow.sklearn
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = data()
    forest = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y)
    linear = LogisticRegression().fit(X, y)
    mlflow.set_experiment("models-native")
    with mlflow.start_run() as active:
        mlflow.log_param("n_estimators", 4)
        mlflow.sklearn.log_model(forest, name="forest", serialization_format="cloudpickle")
        mlflow.sklearn.log_model(linear, name="linear")  # skops, MLflow 3's default

    report = nbtrack.pull(server.uri, "models-native")
    assert [a.action for a in report.actions] == ["import"]
    pulled = nbtrack.get_run(report.actions[0].run_id)
    assert pulled.origin["mlflow_run_id"] == active.info.run_id
    assert sorted(pulled.models) == ["forest", "linear"]
    assert {i.name: i.format for i in nbtrack.models(pulled)} == {"forest": "pickle", "linear": "skops"}
    record = pulled.models["linear"]
    assert record["framework"] == "sklearn" and record["mlflow_uri"].startswith("models:/m-")
    assert record["class"] == "sklearn.linear_model._logistic.LogisticRegression"
    back = nbtrack.load_model(pulled, "linear")  # skops, default types only: loads without trust
    assert np.array_equal(back.predict_proba(X), linear.predict_proba(X))
    with pytest.raises(UntrustedModelError):  # a pickle from a server: only when the caller trusts it
        nbtrack.load_model(pulled, "forest")
    back = nbtrack.load_model(pulled, "forest", trusted=True)
    assert np.array_equal(back.predict_proba(X), forest.predict_proba(X))


def test_a_model_folder_logged_the_mlflow_2_way_pulls_too(server, client, store_dir, tmp_path):
    """MLflow 2's log_model saved the model among the run's artifacts and listed it in a tag."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    X, y = data()
    model = LogisticRegression(C=2.0).fit(X, y)
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(folder), serialization_format="cloudpickle")
    exp = client.create_experiment("models-mlflow2")
    mid = client.create_run(exp).info.run_id
    client.log_artifacts(mid, str(folder), "model")
    history = [{"run_id": mid, "artifact_path": "model", "flavors": {"sklearn": {}}}]
    client.set_tag(mid, "mlflow.log-model.history", json.dumps(history))
    client.set_terminated(mid)

    report = nbtrack.pull(server.uri, "models-mlflow2")
    pulled = nbtrack.get_run(report.actions[0].run_id)
    assert pulled.models["model"]["mlflow_uri"] == f"runs:/{mid}/model"
    back = nbtrack.load_model(pulled, trusted=True)
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def test_a_manifest_naming_a_file_outside_models_is_not_followed(server, client, store_dir, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = data()
    run_id = record_model_run("models-tampered", LogisticRegression().fit(X, y))
    nbtrack.push(server.uri, experiment="models-tampered")
    remote = pushed_run(client, "models-tampered", run_id)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "models.json").write_text(json.dumps({"clf": {"file": "nbtrack/run.json", "flavor": None}}))
    client.log_artifact(remote.info.run_id, str(bad / "models.json"), "nbtrack")

    nbtrack.pull(server.uri, "models-tampered", store=tmp_path / "fresh")
    pulled = nbtrack.get_run(run_id, store=tmp_path / "fresh")
    assert pulled.models["clf"]["blob"] is None
    assert pulled.models["clf"]["skipped"] == "its file is not on the MLflow server"
    assert nbtrack.get_store(tmp_path / "fresh").get_blob(pulled.artifacts["figure-1.png"]["blob"]) == png()
