"""nbtrack.capture.model_formats: real models of each installed framework go through their own format and back
with bit-identical predictions; what no format takes is pickled and marked so.

torch and keras are not installed in the test environment (torch's CPU wheel and a Keras backend are large):
their formats are not exercised here; a model of a framework whose package is missing falls back to pickle.
"""

from __future__ import annotations

import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from nbtrack.capture import model_formats
from nbtrack.capture.frameworks import framework_of
from nbtrack.errors import UnpicklableModelError, UntrustedModelError


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)


def round_trip(model):
    dumped = model_formats.dump(model, framework_of(model))
    record = {"format": dumped.format, "class": model_formats.qualified_name(model)}
    return dumped, model_formats.load(dumped.data, record, trusted=True)


def same_predictions(a, b, X):
    assert np.array_equal(a.predict(X), b.predict(X))
    if hasattr(a, "predict_proba"):
        assert np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_sklearn_estimator_and_nested_pipeline_use_skops(data):
    X, y = data
    clf = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    pipe = make_pipeline(
        ColumnTransformer([("scale", StandardScaler(), [0, 1, 2]), ("keep", "passthrough", [3, 4, 5])]),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ).fit(X, y)
    for model in (clf, pipe):
        dumped, loaded = round_trip(model)
        assert dumped.format == "skops" and not dumped.pickle and dumped.note is None
        assert type(loaded) is type(model)
        same_predictions(model, loaded, X)
    assert model_formats.untrusted_types(round_trip(clf)[0].data, "skops") == []  # all on skops' default list


def test_xgboost_wrapper_keeps_its_class_and_booster_loads_as_booster(data):
    X, y = data
    clf = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    dumped, loaded = round_trip(clf)
    assert dumped.format == "xgboost-ubj" and type(loaded) is xgboost.XGBClassifier
    same_predictions(clf, loaded, X)
    reg = xgboost.XGBRegressor(n_estimators=5).fit(*make_regression(100, 4, random_state=1))
    assert type(round_trip(reg)[1]) is xgboost.XGBRegressor
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, y), 4)
    dumped, loaded = round_trip(booster)
    assert type(loaded) is xgboost.Booster
    assert np.array_equal(booster.predict(xgboost.DMatrix(X)), loaded.predict(xgboost.DMatrix(X)))


def test_lightgbm_wrapper_with_string_labels_and_plain_booster(data):
    X, y = data
    labels = np.array(["no", "yes"])[y]
    clf = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, labels)
    dumped, loaded = round_trip(clf)
    assert dumped.format == "lightgbm" and type(loaded) is lightgbm.LGBMClassifier
    same_predictions(clf, loaded, X)
    assert list(loaded.classes_) == ["no", "yes"]
    booster = lightgbm.train({"verbose": -1}, lightgbm.Dataset(X, y), 5)
    dumped, loaded = round_trip(booster)
    assert type(loaded) is lightgbm.Booster and np.array_equal(booster.predict(X), loaded.predict(X))


def test_what_skops_refuses_is_pickled_with_a_note(data):
    X, y = data
    pipe = make_pipeline(FunctionTransformer(lambda v: v * 2), LogisticRegression()).fit(X, y)
    dumped, loaded = round_trip(pipe)
    assert dumped.format == "pickle" and dumped.pickle
    assert dumped.note is not None and dumped.note.startswith("sklearn format failed")
    same_predictions(pipe, loaded, X)


class Doubler:
    """A transformer class that skops can find again by name (module level)."""

    def fit(self, X, y=None):
        self.factor_ = 2
        return self

    def transform(self, X):
        return X * self.factor_

    def get_params(self, deep=True):
        return {}


def test_local_classes_are_pickled_by_value_but_module_level_ones_stay_skops(data):
    X, y = data

    class LocalDoubler(Doubler):  # defined in a function (or a notebook): skops could not load it
        pass

    dumped, loaded = round_trip(make_pipeline(LocalDoubler(), LogisticRegression()).fit(X, y))
    assert dumped.format == "pickle"
    dumped, loaded = round_trip(make_pipeline(Doubler(), LogisticRegression()).fit(X, y))
    assert dumped.format == "skops" and loaded.steps[0][1].factor_ == 2


def test_a_framework_that_is_not_installed_falls_back_to_pickle():
    class FakeModule:  # looks like a torch module, but torch is not installed here
        __module__ = "torch.nn.fake"

        def state_dict(self):
            return {}

        def parameters(self):
            return []

    model = FakeModule()
    assert framework_of(model) == "torch"
    try:
        import torch  # noqa: F401
    except ImportError:
        dumped = model_formats.dump(model, "torch")
        assert dumped.format == "pickle" and "ModuleNotFoundError" in (dumped.note or "")
    else:  # pragma: no cover - torch installed: its own format is used
        assert model_formats.dump(model, "torch").format == "torch-state-dict"


def test_unpicklable_objects_raise_one_clear_error():
    import threading

    with pytest.raises(UnpicklableModelError, match="cannot be pickled"):
        model_formats.dump(threading.Lock(), None)


def test_pickle_and_untrusted_skops_refuse_without_trust(data):
    X, y = data
    data_bytes = model_formats.dump_pickle(LogisticRegression().fit(X, y))
    with pytest.raises(UntrustedModelError):
        model_formats.load(data_bytes, {"format": "pickle"}, trusted=False)
    forest = model_formats.dump(RandomForestClassifier(n_estimators=2).fit(X, y), "sklearn").data
    assert model_formats.untrusted_types(forest, "skops")  # skops does not trust tree internals by default
    with pytest.raises(UntrustedModelError, match="skops does not trust"):
        model_formats.load(forest, {"format": "skops"}, trusted=False)


def test_a_record_naming_another_package_never_imports_it(data):
    X, y = data
    booster = xgboost.train({}, xgboost.DMatrix(X, y), 2)
    raw = model_formats.dump(booster, "xgboost").data
    loaded = model_formats.load(raw, {"format": "xgboost-ubj", "class": "os.system"}, trusted=False)
    assert type(loaded) is xgboost.Booster
