"""Params of real ML cells in a real Jupyter kernel (nbclient): inline estimator arguments, config dicts, earlier
cells' values, ``-p`` read after the cell, and the framework params of a fitted 20-step pipeline."""

from __future__ import annotations

import textwrap

import pytest
from kernel_helpers import code, new_session

pytest.importorskip("ipykernel")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.kernel


def src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


SETUP = src("""
    %load_ext nbtrack
    import nbtrack
    from sklearn.datasets import make_classification
    X, y = make_classification(120, n_features=6, random_state=0)
""")
ISSUE_CELL = src("""
    %%track --name inline
    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(C=0.5, max_iter=200)
    clf.fit(X, y)
    acc = clf.score(X, y)
    nbtrack.log_metric('acc', acc)
""")
CONFIG_CELL = src("""
    %%track --name config -q
    config = dict(lr=0.1, depth=3)
    params = {'alpha': 0.01, 'layers': [64, 32]}
    total = config['depth'] + len(params['layers'])
""")
EARLIER = "lr = 0.1\nepochs = 5"
INPUT_CELL = src("""
    %%track --name input -q -p lr
    lr = 0.2
    steps = epochs * 2
""")
PIPELINE_CELL = src("""
    %%track --name pipe -q
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler, MinMaxScaler
    from sklearn.linear_model import LogisticRegression
    steps = [(f"s{i}", StandardScaler() if i % 2 else MinMaxScaler(feature_range=(0, 2))) for i in range(19)]
    pipe = Pipeline(steps + [("clf", LogisticRegression(C=2.0))])
    pipe.fit(X, y)
""")


def test_params_of_real_ml_cells(tmp_path):
    session = new_session(
        tmp_path,
        [code(SETUP), code(ISSUE_CELL), code(CONFIG_CELL), code(EARLIER), code(INPUT_CELL), code(PIPELINE_CELL)],
        name="models.ipynb",
    )
    try:
        session.execute_all()
        runs = {name: session.run_named(name)[0] for name in ("inline", "config", "input", "pipe")}
    finally:
        session.close()

    inline = runs["inline"]
    assert inline.params["C"] == 0.5 and inline.params["max_iter"] == 200
    assert inline.param_sources["C"] == "call" and inline.param_sources["max_iter"] == "call"
    assert inline.params["LogisticRegression.C"] == 0.5
    framework = {k for k, s in inline.param_sources.items() if s.startswith("framework")}
    assert {"clf", "clf.C", "clf.max_iter", "clf.tol", "clf.solver", "clf.fit_intercept"} <= framework
    assert inline.param_sources["clf.C"] == "framework" and inline.param_sources["clf.tol"] == "framework-default"
    assert inline.params["clf"] == "LogisticRegression" and inline.params["clf.solver"] == "lbfgs"
    assert "acc" in inline.metrics and "acc" not in inline.params

    config = runs["config"]
    assert {k: config.params[k] for k in ("config.lr", "config.depth", "params.alpha", "params.layers")} == {
        "config.lr": 0.1,
        "config.depth": 3,
        "params.alpha": 0.01,
        "params.layers": [64, 32],
    }
    assert "params" not in config.params and config.param_sources["params.alpha"] == "config"

    given = runs["input"]
    assert given.params["lr"] == 0.2 and given.param_sources["lr"] == "explicit"  # -p read after the cell
    assert given.params["epochs"] == 5 and given.param_sources["epochs"] == "input"

    pipe = runs["pipe"]
    assert pipe.params["pipe.clf__C"] == 2.0 and pipe.param_sources["pipe.clf__C"] == "framework"
    assert pipe.params["pipe.s0__feature_range"] == (0, 2)
    assert pipe.param_sources["pipe.s0__feature_range"] == "framework"
    assert pipe.param_sources["pipe.s1__with_mean"] == "framework-default"
    assert len(pipe.params["pipe.steps"]) == 20 and pipe.params["pipe.steps"][-1] == ("clf", "LogisticRegression")
    assert pipe.params["LogisticRegression.C"] == 2.0 and pipe.params["MinMaxScaler.feature_range"] == (0, 2)
