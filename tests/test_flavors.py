"""remote/flavors.py without a server: MLflow model directories written for nbtrack models (loaded back by
MLflow's own flavors), and MLflow model directories read into nbtrack records (loaded back by nbtrack)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("skops")

from nbtrack.capture.model_formats import dump, load
from nbtrack.remote.contents import ModelPart
from nbtrack.remote.flavors import native_record, write_model_dir
from nbtrack.store.local import Store


def data():
    rng = np.random.RandomState(1)
    X = rng.rand(60, 3)
    return X, (X[:, 0] > 0.5).astype(int)


def part_of(model, framework: str, flavor: str | None, name: str = "m") -> tuple[ModelPart, bytes]:
    dumped = dump(model, framework)
    record = {
        "format": dumped.format,
        "framework": framework,
        "class": f"{type(model).__module__}.{type(model).__name__}",
    }
    return ModelPart(name, record, "0" * 32, f"models/{name}", flavor), dumped.data


def test_a_skops_model_with_untrusted_types_becomes_an_mlflow_sklearn_model_holding_nbtracks_bytes(tmp_path):
    import mlflow.sklearn
    from sklearn.ensemble import RandomForestClassifier

    X, y = data()
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    part, raw = part_of(model, "sklearn", "sklearn")
    assert part.record["format"] == "skops"
    folder = tmp_path / "m"
    assert write_model_dir(part, raw, folder, trusted=True)
    assert (folder / "model.skops").read_bytes() == raw  # nbtrack's bytes are the flavor's data file
    loaded = mlflow.sklearn.load_model(str(folder))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_pickle_from_a_store_the_user_did_not_write_is_not_loaded_to_make_a_flavor(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = data()
    part, _ = part_of(LogisticRegression().fit(X, y), "sklearn", "sklearn")
    import pickle

    raw = pickle.dumps(LogisticRegression().fit(X, y))
    part = ModelPart(part.name, {**part.record, "format": "pickle"}, part.blob, part.folder, "sklearn")
    assert not write_model_dir(part, raw, tmp_path / "m", trusted=False)
    assert not (tmp_path / "m").exists()


def test_a_lightgbm_model_keeps_nbtracks_file_beside_the_flavors(tmp_path):
    lightgbm = pytest.importorskip("lightgbm")
    import mlflow.lightgbm

    X, y = data()
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    part, raw = part_of(model, "lightgbm", "lightgbm")
    folder = tmp_path / "m"
    assert write_model_dir(part, raw, folder, trusted=True)
    assert (folder / "nbtrack-model.json").read_bytes() == raw and part.file == "models/m/nbtrack-model.json"
    loaded = mlflow.lightgbm.load_model(str(folder))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    again = load(raw, part.record, trusted=True)
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("serialization", ["skops", "cloudpickle"])
def test_an_mlflow_sklearn_model_reads_back_as_an_nbtrack_record(tmp_path, serialization):
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    X, y = data()
    model = LogisticRegression(C=0.3).fit(X, y)
    folder = tmp_path / "native"
    mlflow.sklearn.save_model(model, str(folder), serialization_format=serialization)
    store = Store(tmp_path / "store")
    record = native_record(folder, "runs:/abc/model", store)
    assert record["format"] == ("skops" if serialization == "skops" else "pickle")
    assert record["pickle"] is (serialization != "skops")
    assert record["framework"] == "sklearn" and record["mlflow_uri"] == "runs:/abc/model"
    back = load(store.get_blob(record["blob"]), record, trusted=True)
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def test_a_flavor_nbtrack_cannot_read_is_listed_with_how_to_load_it(tmp_path):
    import mlflow.pyfunc

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input

    folder = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(str(folder), python_model=Echo())
    record = native_record(folder, "models:/m-1", Store(tmp_path / "store"))
    assert "blob" not in record and record["format"] == "mlflow-python_function"
    assert record["skipped"] == "an MLflow python_function model: load it with mlflow.pyfunc.load_model('models:/m-1')"
