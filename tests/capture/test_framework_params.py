"""Framework params (nbtrack.capture.framework_params) of real scikit-learn, XGBoost and LightGBM models; Keras
and PyTorch through small fake classes whose ``__module__`` is theirs (neither package is installed here)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from nbtrack.capture.framework_params import (
    best_iteration,
    is_default,
    loggable,
    model_params,
    model_series,
    record_framework,
)
from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.capture.params import parse
from nbtrack.store.local import get_store


@pytest.fixture(scope="module")
def data():
    return make_classification(120, n_features=6, random_state=0)


def test_sklearn_params_with_non_default_values_marked(data):
    clf = LogisticRegression(C=0.5, max_iter=200).fit(*data)
    found = model_params("clf", clf)
    assert found.params["clf"] == "LogisticRegression"
    assert found.params["clf.C"] == 0.5 and found.sources["clf.C"] == "framework"
    assert found.params["clf.max_iter"] == 200 and found.sources["clf.max_iter"] == "framework"
    assert found.sources["clf.tol"] == "framework-default" and found.params["clf.tol"] == 1e-4
    nondefault = {k for k, s in found.sources.items() if s == "framework"}
    assert nondefault == {"clf", "clf.C", "clf.max_iter"}


def test_nested_pipeline_params(data):
    inner = make_pipeline(StandardScaler(with_mean=False), LogisticRegression(C=2.0))
    pipe = Pipeline([("prep", StandardScaler()), ("model", inner)]).fit(*data)
    found = model_params("pipe", pipe)
    assert found.params["pipe.steps"] == [("prep", "StandardScaler"), ("model", "Pipeline")]
    assert found.params["pipe.model__logisticregression__C"] == 2.0
    assert found.sources["pipe.model__logisticregression__C"] == "framework"
    assert found.sources["pipe.model__standardscaler__with_mean"] == "framework"
    assert found.sources["pipe.model__standardscaler__with_std"] == "framework-default"
    assert found.params["pipe.model"] == "Pipeline"


def test_loggable_values_are_stable():
    assert loggable(np.float64(0.5)) == 0.5 and type(loggable(np.int64(3))) is int
    assert loggable(LogisticRegression()) == "LogisticRegression"
    assert loggable(np.mean) == "numpy.mean" and loggable(len) == "len"
    assert loggable(np.float32) == "numpy.float32"
    assert loggable(object()) == "object"  # its repr has a memory address
    assert loggable({"a": (1, np.int64(2))}) == {"a": (1, 2)}


def test_is_default_for_kwargs_params():
    class Est:
        def __init__(self, a=1, **kwargs):
            self.a = a

        def get_params(self, deep=True):
            return {"a": self.a}

    assert is_default(Est(), "a", 1) and not is_default(Est(), "a", 2)
    assert is_default(Est(), "b", None) and not is_default(Est(), "b", 3)


def test_xgboost_params_best_iteration_and_eval_series(data):
    xgb = pytest.importorskip("xgboost")
    X, y = data
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, early_stopping_rounds=3, eval_metric="logloss")
    model.fit(X[:90], y[:90], eval_set=[(X[90:], y[90:])], verbose=False)
    found = model_params("xgb", model)
    nondefault = {k for k, s in found.sources.items() if s == "framework"}
    assert {"xgb.max_depth", "xgb.n_estimators", "xgb.eval_metric"} <= nondefault
    assert "xgb.missing" not in nondefault and "xgb.enable_categorical" not in nondefault
    series = model_series("xgb", model)
    assert list(series) == ["xgb.validation_0.logloss"] and len(series["xgb.validation_0.logloss"]) >= 4
    assert best_iteration(model) == model.best_iteration
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 4)
    assert model_params("bst", booster).params == {"bst": "Booster", "bst.num_boosted_rounds": 4}


@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")  # lightgbm 4.7 renames it
def test_lightgbm_params_and_eval_series(data):
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    model = lgb.LGBMClassifier(n_estimators=15, num_leaves=5, verbose=-1)
    model.fit(X[:90], y[:90], eval_set=[(X[90:], y[90:])])
    found = model_params("lgbm", model)
    assert found.params["lgbm.num_leaves"] == 5 and found.sources["lgbm.num_leaves"] == "framework"
    assert found.sources["lgbm.learning_rate"] == "framework-default"
    assert len(model_series("lgbm", model)["lgbm.valid_0.binary_logloss"]) == 15
    booster = lgb.train({"num_leaves": 4, "verbose": -1}, lgb.Dataset(X, y), 3)
    assert model_params("bst", booster).params["bst.num_leaves"] == 4


# fakes of the frameworks that are not installed: only their class's module and the methods nbtrack reads


class FakeSGD:
    def __init__(self, params, lr, momentum=0.0):
        self.param_groups = [{"params": list(params), "lr": lr, "momentum": momentum, "nesterov": False}]

    def state_dict(self):
        return {}


FakeSGD.__module__ = "torch.optim.sgd"


class FakeAdam:
    def get_config(self):
        return {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9}


FakeAdam.__module__ = "keras.src.optimizers.adam"


class FakeHistory:
    def __init__(self, history, params):
        self.history = history
        self.params = params


FakeHistory.__module__ = "keras.src.callbacks.history"


class FakeSequential:
    def __init__(self):
        self.optimizer = FakeAdam()
        self.history = None

    def get_config(self):
        return {}

    def fit(self, x, y, batch_size=None, epochs=1):
        self.history = FakeHistory({"loss": [0.9, 0.5][:epochs], "val_loss": [1.0, 0.7][:epochs]}, {"epochs": epochs})
        return self.history


FakeSequential.__module__ = "keras.src.models.sequential"


class FakeLightning:
    def __init__(self):
        self.hparams = {"lr": 0.02, "hidden": 64}

    def state_dict(self):
        return {}

    def parameters(self):
        return []


FakeLightning.__module__ = "lightning.pytorch.core.module"


def run_cell_into_run(source, namespace):
    run = ActiveRun(get_store(), name="t")
    tree = parse(source)
    exec(compile(tree, "<cell>", "exec"), namespace)  # the test's own cell, as the kernel would run it
    record_framework(run, tree, namespace)
    return run


def test_keras_optimizer_fit_arguments_and_history(store_dir):
    ns = {"FakeSequential": FakeSequential, "EPOCHS": 2}
    run = run_cell_into_run("model = FakeSequential()\nhistory = model.fit(1, 2, batch_size=16, epochs=EPOCHS)\n", ns)
    params, sources = run.record.params, run.record.param_sources
    assert params["model"] == "FakeSequential" and params["model.optimizer"] == "FakeAdam"
    assert params["model.optimizer.learning_rate"] == 0.001 and params["model.optimizer.beta_1"] == 0.9
    assert params["model.epochs"] == 2 and params["model.batch_size"] == 16
    assert set(sources.values()) == {"framework"}
    assert run.series["model.loss"]["value"] == [0.9, 0.5] and run.series["model.val_loss"]["step"] == [0, 1]
    assert "history.loss" not in run.series  # the model's own History, logged once


def test_torch_optimizer_param_groups_and_lightning_hparams(store_dir):
    ns = {"FakeSGD": FakeSGD, "FakeLightning": FakeLightning}
    run = run_cell_into_run("net = FakeLightning()\nopt = FakeSGD(net.parameters(), 0.1)\nopt.lr_used = 1\n", ns)
    params = run.record.params
    assert params["opt"] == "FakeSGD" and params["opt.lr"] == 0.1 and params["opt.momentum"] == 0.0
    assert "opt.params" not in params
    assert params["net"] == "FakeLightning" and params["net.lr"] == 0.02 and params["net.hidden"] == 64


def test_framework_params_never_replace_what_the_run_has(store_dir, data):
    ns = {"LogisticRegression": LogisticRegression, "X": data[0], "y": data[1]}
    run = ActiveRun(get_store(), name="t")
    run.log_param("clf.C", 99)
    run.log_metric("clf.best_iteration", 1)
    tree = parse("clf = LogisticRegression(C=0.5).fit(X, y)\n")
    exec(compile(tree, "<cell>", "exec"), ns)
    record_framework(run, tree, ns)
    assert run.record.params["clf.C"] == 99 and "clf.C" not in run.record.param_sources
    assert run.record.params["clf.max_iter"] == 100


def test_no_framework_is_imported_by_looking(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from sklearn.linear_model import LogisticRegression
        import nbtrack
        from nbtrack.capture.framework_params import record_framework
        from nbtrack.capture.hyperparams import cell_params
        from nbtrack.capture.lifecycle import ActiveRun
        from nbtrack.capture.params import parse
        from nbtrack.store.local import get_store
        nbtrack.set_store(sys.argv[1])
        source = "clf = LogisticRegression(C=0.5)\\nopt = object()\\n"
        ns = {"LogisticRegression": LogisticRegression}
        tree = parse(source)
        cell_params(tree, ns)
        exec(source, ns)
        run = ActiveRun(get_store(), name="t")
        record_framework(run, tree, ns)
        assert run.record.params["clf.C"] == 0.5
        frameworks = ("torch", "keras", "tensorflow", "xgboost", "lightgbm", "lightning")
        loaded = sorted(m for m in frameworks if m in sys.modules)
        print(loaded)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
