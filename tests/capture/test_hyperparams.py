"""Params read from a cell's code (nbtrack.capture.hyperparams), and the %%track magic recording them."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from sklearn import ensemble
from sklearn.ensemble import RandomForestClassifier

import nbtrack
from nbtrack.capture.hyperparams import LiteralMemory, call_params, cell_params, flatten, positional_names
from nbtrack.capture.params import parse


def found(source, namespace=None, memory=None, **kwargs):
    result = cell_params(parse(source), namespace or {}, memory, **kwargs)
    return result.params, result.sources


def test_keyword_and_positional_literals_of_calls_are_named_by_callee_with_an_alias():
    ns = {"RandomForestClassifier": RandomForestClassifier}
    params, sources = found("rf = RandomForestClassifier(200, max_depth=8, n_jobs=-1)\nrf.fit(X, y)\n", ns)
    assert params == {
        "RandomForestClassifier.n_estimators": 200,
        "n_estimators": 200,
        "RandomForestClassifier.max_depth": 8,
        "max_depth": 8,
        "RandomForestClassifier.n_jobs": -1,
        "n_jobs": -1,
    }
    assert set(sources.values()) == {"call"}


def test_two_estimators_never_collide_repeated_calls_take_their_variable():
    ns = {"ensemble": ensemble}
    source = (
        "from sklearn.tree import DecisionTreeClassifier\n"
        "small = ensemble.RandomForestClassifier(n_estimators=50, max_depth=4)\n"
        "big = ensemble.RandomForestClassifier(n_estimators=500, max_depth=16)\n"
        "ensemble.RandomForestClassifier(max_depth=2)\n"
        "tree = DecisionTreeClassifier(max_depth=3, criterion='gini')\n"
    )
    params, _ = found(source, ns)
    assert params["small.max_depth"] == 4 and params["big.max_depth"] == 16
    assert params["RandomForestClassifier#3.max_depth"] == 2
    assert params["DecisionTreeClassifier.max_depth"] == 3
    assert "max_depth" not in params  # four calls use it: no alias
    assert params["criterion"] == "gini"  # only one does


def test_alias_yields_to_an_assigned_param_of_the_same_name():
    params, sources = found("lr = 0.1\nopt = SGD(lr=0.01)\n")
    assert params == {"lr": 0.1, "SGD.lr": 0.01} and sources["lr"] == "assigned"


def test_dicts_of_literals_are_flattened_as_config():
    source = (
        "config = dict(lr=0.1, depth=3)\n"
        "params = {'alpha': 0.01, 'layers': [64, 32], 'opt': {'name': 'adam', 'beta': 0.9}}\n"
        "empty = {}\n"
        "mixed = dict(lr=0.5, model=make())\n"
    )
    params, sources = found(source)
    assert params == {
        "config.lr": 0.1,
        "config.depth": 3,
        "params.alpha": 0.01,
        "params.layers": [64, 32],
        "params.opt.name": "adam",
        "params.opt.beta": 0.9,
        "empty": {},
    }
    assert sources["config.lr"] == "config" and sources["empty"] == "assigned"


def test_calls_that_give_no_params():
    ns = {"plt": plt, "pd": pd, "df": pd.DataFrame({"a": [1, 2]}), "nbtrack": nbtrack}
    source = (
        "import seaborn as sns\n"
        "print('x', end='')\n"
        "plt.plot([1, 2], color='r')\n"
        "df.plot(kind='bar')\n"
        "df.a.plot.hist(bins=3)\n"
        "sns.histplot(df, bins=10)\n"
        "nbtrack.log_metric('acc', 0.5, step=1)\n"
        "display(df, raw=True)\n"
        "range(10)\n"
        "import os, json\n"
        "os.makedirs('out', exist_ok=True)\n"
        "json.dump({}, open('out/x.json', 'w'), indent=2)\n"
        "sample = df.sample(frac=0.5, random_state=0)\n"
    )
    params, _ = found(source, ns)
    assert params == {"df.sample.frac": 0.5, "frac": 0.5, "df.sample.random_state": 0, "random_state": 0}


def test_big_literals_are_data_not_params():
    params, _ = found(f"model = fit(weights={list(range(500))!r}, alpha=1)\n")
    assert params == {"fit.alpha": 1, "alpha": 1}


def test_metric_names_are_not_params():
    params, _ = found("acc = 0.93\nlr = 0.1\n", exclude=["acc"])
    assert params == {"lr": 0.1}


def test_inputs_are_earlier_cells_literals_still_held():
    memory = LiteralMemory()
    memory.remember(parse("lr = 0.1\nepochs = 5\nname = 'x'\nconfig = dict(depth=3)\nlater = 1\n"))
    memory.remember(parse("later = compute()\n"))  # rebound to something unknowable: forgotten
    ns = {"lr": 0.1, "epochs": 5.0, "name": "y", "config": {"depth": 3}, "later": 1}
    params, sources = found("score = train(lr, epochs, name, config, later)\n", ns, memory)
    assert params == {"config.depth": 3, "lr": 0.1}  # epochs changed type, name changed value
    assert sources == {"config.depth": "input", "lr": "input"}
    params, _ = found("lr = 0.5\nscore = train(lr)\n", ns, memory)
    assert params == {"lr": 0.5}  # assigned by the cell: not an input


def test_signature_cache_is_per_callee():
    def f(a, b=1):
        return a

    class K:
        def method(self, x, y):
            return x

    assert positional_names(f, False) == ["a", "b"] and positional_names(f, False) == ["a", "b"]
    assert positional_names(K().method, False) == ["x", "y"]
    assert positional_names(len, False) == ["obj"]
    from collections import OrderedDict

    od = OrderedDict(a=1)  # a C method of an instance: its first parameter (self) is bound
    assert call_params(parse("od.move_to_end('a', False)"), {"od": od}).params == {
        "od.move_to_end.key": "a",
        "key": "a",
        "od.move_to_end.last": False,
        "last": False,
    }
    assert call_params(parse("k.method(1, 2)"), {"k": K()}).params == {"k.method.x": 1, "x": 1, "k.method.y": 2, "y": 2}


def test_properties_are_not_run_to_resolve_a_callee():
    ran = []

    class Sneaky:
        @property
        def model(self):
            ran.append(1)
            return RandomForestClassifier

    params = call_params(parse("s.model(10, max_depth=2)"), {"s": Sneaky()}).params
    assert ran == [] and params == {"s.model.max_depth": 2, "max_depth": 2}  # unresolved: keywords only


def test_flatten():
    assert flatten("a", {"b": {"c": 1}, "d": {}}) == [("a.b.c", 1), ("a.d", {})]
    assert flatten("a", 3) == [("a", 3)]
    assert flatten("a", {"b.c": 1, "d": 2}) == [("a", {"b.c": 1, "d": 2})]  # names read back to one place
    assert flatten("a", {"b": {1: 2}, "e f": 3}) == [("a", {"b": {1: 2}, "e f": 3})]
    assert flatten("a", {"b": {"x y": 1}}) == [("a.b", {"x y": 1})]


# the magic -------------------------------------------------------------------------------------------


def last_run():
    return nbtrack.get_run(nbtrack.runs().run_id.iloc[0])


def test_magic_records_call_config_input_params_with_sources(ip):
    ip.run_cell("from sklearn.linear_model import LogisticRegression\nfrom sklearn.datasets import make_classification")
    ip.run_cell("X, y = make_classification(60, random_state=0)\nmax_iter = 200")
    result = ip.run_cell(
        "%%track -q -m acc\n"
        "clf = LogisticRegression(C=0.5, max_iter=max_iter)\n"
        "config = dict(lr=0.1, depth=3)\n"
        "clf.fit(X, y)\n"
        "acc = 0.5\n"
    )
    assert result.success
    run = last_run()
    assert run.params["C"] == 0.5 and run.param_sources["C"] == "call"
    assert run.params["LogisticRegression.C"] == 0.5
    assert run.params["max_iter"] == 200 and run.param_sources["max_iter"] == "input"
    assert run.params["config.lr"] == 0.1 and run.param_sources["config.depth"] == "config"
    assert run.params["clf"] == "LogisticRegression" and run.param_sources["clf.C"] == "framework"
    assert run.param_sources["clf.tol"] == "framework-default"
    assert "acc" not in run.params and run.metrics["acc"] == 0.5
    assert set(run.param_sources) == set(run.params)


def test_explicit_params_win_whatever_the_order(ip):
    ip.run_cell("lr = 0.1\nimport nbtrack\nfrom sklearn.linear_model import LogisticRegression")
    ip.run_cell("%%track -q -p lr -p C=9\nlr = 0.2\nm = LogisticRegression(C=0.5)\nnbtrack.log_param('C', 7)\n")
    run = last_run()
    assert run.params["lr"] == 0.2  # read after the cell, which assigned it
    assert run.param_sources["lr"] == "explicit"
    assert run.params["C"] == 7 and run.param_sources["C"] == "explicit"  # the cell's own log_param, last
    assert run.params["LogisticRegression.C"] == 0.5


def test_p_of_a_name_the_cell_does_not_bind_reads_it_before(ip):
    ip.run_cell("batch = 64")
    ip.run_cell("%%track -q -p batch\nbatch_used = batch\n")
    assert last_run().params["batch"] == 64 and last_run().param_sources["batch"] == "explicit"


@pytest.mark.parametrize("source", ["%%track -q\nlr = 0.1\n"])
def test_plain_assignment_keeps_its_name(ip, source):
    ip.run_cell(source)
    run = last_run()
    assert run.params == {"lr": 0.1} and run.param_sources == {"lr": "assigned"}


def test_runs_of_an_inline_estimator_compare_by_the_inline_param(ip):
    ip.run_cell("from sklearn.linear_model import LogisticRegression\nfrom sklearn.datasets import make_classification")
    ip.run_cell("X, y = make_classification(80, random_state=0)\nimport nbtrack")
    for c in (0.01, 1.0):
        for seed in range(3):
            source = (
                f"%%track -q -e inline\nclf = LogisticRegression(C={c}, random_state={seed}, max_iter=300)\n"
                "clf.fit(X, y)\nnbtrack.log_metric('acc', clf.score(X, y))\n"
            )
            assert ip.run_cell(source).success
    result = nbtrack.compare("inline", metric="acc")
    assert sorted(result.groups.group) == ["C=0.01", "C=1.0"]  # not C, clf.C, LogisticRegression.C


def test_a_failure_reading_the_code_is_one_warning_and_the_run_goes_on(store_dir):
    from nbtrack.capture.hyperparams import record_cell
    from nbtrack.capture.lifecycle import ActiveRun
    from nbtrack.store.local import get_store

    class Broken(dict):
        def get(self, key, default=None):
            raise RuntimeError("namespace on fire")

    run = ActiveRun(get_store(), name="t")
    with pytest.warns(nbtrack.NbtrackWarning, match="params written in the cell's code were not read"):
        record_cell(run, parse("m = Model(alpha=1)\n"), Broken(), LiteralMemory(), ())
    run.log_param("lr", 0.1)
    assert run.params == {"lr": 0.1}
