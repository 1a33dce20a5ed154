"""nbtrack.capture.model_loading: load_model's trust rule, models() with each run's metrics, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xgboost
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import nbtrack
from nbtrack.capture import model_loading
from nbtrack.errors import ModelNotFoundError, StoreCorruptError, UntrustedModelError


class Scaled:
    """A model of no known framework: saved with (cloud)pickle."""

    def __init__(self, factor):
        self.factor = factor

    def predict(self, X):
        return X * self.factor


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=5, random_state=0)


@pytest.fixture
def saved(store_dir, data):
    """One run with a pickled model, a skops forest (types skops does not trust), a plain skops model, XGBoost."""
    X, y = data
    with nbtrack.track(environment=False) as run:
        nbtrack.log_model(Scaled(3), "scaled")
        nbtrack.log_model(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y), "forest")
        nbtrack.log_model(LogisticRegression().fit(X, y), "linear")
        nbtrack.log_model(xgboost.XGBClassifier(n_estimators=3).fit(X, y), "boosted")
        nbtrack.log_metric("acc", 0.75)
    return nbtrack.get_run(run.id)


def test_own_store_loads_every_format_without_asking(saved, data):
    X, _ = data
    assert saved.models["scaled"]["pickle"] is True and saved.models["forest"]["format"] == "skops"
    assert np.array_equal(nbtrack.load_model(saved, "scaled").predict(X), X * 3)
    assert nbtrack.load_model(saved.id[:10], "forest").n_estimators == 3  # an id prefix works too
    assert model_loading.foreign_reason(saved, saved.store) is None


@pytest.mark.parametrize(
    "how",
    ["pulled", "other host", "other user"],
)
def test_a_store_the_user_did_not_write_needs_trusted_for_code_running_formats(saved, data, how, monkeypatch):
    X, _ = data
    run = saved
    if how == "pulled":
        run.origin = {"server": "team-mlflow", "mlflow_run_id": "abc"}
        expected = "pulled from team-mlflow"
    elif how == "other host":
        run.owner = {**(run.owner or {}), "host": "elsewhere.example"}
        expected = "another machine, elsewhere.example"
    elif os.geteuid() == 0:  # root (CI): give the model files to another user for real
        for record in run.models.values():
            os.chown(run.store.blobs.path(record["blob"]), 65534, 65534)
        expected = "belongs to another user"
    else:  # an ordinary user cannot chown: this process pretends to be someone else
        monkeypatch.setattr(os, "getuid", lambda: os.stat(run.store.root).st_uid + 1)
        expected = "belongs to another user"
    with pytest.raises(UntrustedModelError, match=f"is a pickle from a store you did not write.*{expected}"):
        nbtrack.load_model(run, "scaled")
    with pytest.raises(UntrustedModelError, match="trusted=True") as caught:
        nbtrack.load_model(run, "forest")
    assert "skops file with types not trusted by default" in str(caught.value)
    assert str(caught.value).count(".") >= 1 and "\n" not in str(caught.value)
    assert np.array_equal(nbtrack.load_model(run, "scaled", trusted=True).predict(X), X * 3)
    assert nbtrack.load_model(run, "forest", trusted=True).n_estimators == 3
    # formats that run no code load from anywhere
    assert type(nbtrack.load_model(run, "linear")) is LogisticRegression
    assert type(nbtrack.load_model(run, "boosted")) is xgboost.XGBClassifier


def test_models_lists_each_model_with_its_runs_metrics(saved, data):
    X, y = data
    with nbtrack.track(environment=False) as later:
        nbtrack.log_model(LogisticRegression(C=2).fit(X, y), "linear")
        nbtrack.log_metric("acc", 0.9)
    listed = nbtrack.models()
    assert (listed[0].run_id, listed[0].name) == (later.id, "linear")  # newest run first
    assert {m.name for m in listed if m.run_id == saved.id} == {"scaled", "forest", "linear", "boosted"}
    (info,) = nbtrack.models(later.id)
    assert info.metrics == {"acc": 0.9} and info.framework == "sklearn" and info.format == "skops"
    assert info.class_name.endswith("LogisticRegression") and info.size > 0 and info.hash and info.skipped is None
    assert info.load().C == 2
    assert "scaled" in repr(nbtrack.models(saved.id))


def test_which_model_must_be_said_when_a_run_has_several_or_none(saved, store_dir):
    with pytest.raises(ModelNotFoundError, match="has models 'scaled', 'forest', 'linear', 'boosted'; pass the name"):
        nbtrack.load_model(saved)
    with pytest.raises(ModelNotFoundError, match="no model 'nope'"):
        nbtrack.load_model(saved, "nope")
    with nbtrack.track(environment=False) as empty:
        pass
    with pytest.raises(ModelNotFoundError, match="no saved model"):
        nbtrack.load_model(empty.id)
    with pytest.raises(nbtrack.errors.RunNotFoundError):
        nbtrack.load_model("0" * 26)


def test_a_changed_model_file_is_refused(saved):
    path = saved.store.blobs.path(saved.models["linear"]["blob"])
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="damaged"):
        nbtrack.load_model(saved, "linear")
