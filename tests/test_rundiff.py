"""nbtrack.diff (module nbtrack.analysis.rundiff): params, metrics, data, environment and cell-aware code changes."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

import nbtrack
from nbtrack.analysis.rundiff import RunDiff


def _run(params, metric, data=None, environment=False):
    with nbtrack.track(name="fit", experiment="d", params=params, data=data, environment=environment) as run:
        nbtrack.log_metric("acc", metric)
    return run.id


def test_params_metrics_and_data(store_dir):
    a = _run({"lr": 0.1, "epochs": 5, "opt": "sgd"}, 0.80, data={"train": np.arange(10)})
    b = _run({"lr": 0.01, "epochs": 5, "wd": 1e-4}, 0.85, data={"train": np.arange(10) + 1})
    d = nbtrack.diff(a, b)
    assert isinstance(d, RunDiff) and not d.identical
    params = {r["name"]: (r["change"], r["a"], r["b"]) for r in d.params}
    assert params == {"lr": ("changed", 0.1, 0.01), "opt": ("removed", "sgd", None), "wd": ("added", None, 1e-4)}
    assert d.same_params == 1  # epochs
    (acc,) = d.metrics
    assert acc["name"] == "acc" and acc["delta"] == pytest.approx(0.05)
    (train,) = d.data
    assert train["change"] == "changed" and train["a"] != train["b"]
    text = d.to_text()
    assert "~ lr: 0.1 -> 0.01" in text and "+ wd" in text and "- opt" in text and "(+0.05)" in text
    assert nbtrack.diff(a, a).identical and "no differences" in nbtrack.diff(a, a).to_text()


def test_environment_changes(store_dir):
    a = _run({"lr": 0.1}, 0.8, environment=True)
    b = _run({"lr": 0.1}, 0.8, environment=True)
    assert nbtrack.diff(a, b).env == []  # same process, same environment
    st = nbtrack.get_store()
    doc = dict(st.get_doc(b))
    env = dict(doc["env"])
    packages = dict(st.get_json(env["packages"]))
    name = next(iter(packages))
    packages[name] = "999.0"
    packages["brand-new-pkg"] = "1.0"
    removed = sorted(packages)[-1] if sorted(packages)[-1] != "brand-new-pkg" else sorted(packages)[-2]
    del packages[removed]
    env["packages"] = st.put_json(packages)
    env["python"] = "3.99.0"
    env["git"] = {"commit": "f" * 40, "branch": "feature", "dirty": True}
    doc["env"] = env
    st.put_run(doc)
    changes = {r["what"]: (r["change"], r["b"]) for r in nbtrack.diff(a, b).env}
    assert changes["python"] == ("changed", "3.99.0")
    assert changes[f"package {name}"] == ("changed", "999.0")
    assert changes["package brand-new-pkg"] == ("added", "1.0")
    assert changes[f"package {removed}"][0] == "removed"
    assert changes["git commit"][1] == "f" * 40
    assert "environment:" in nbtrack.diff(a, b).to_text()


def _cell(ip, source):
    return ip.run_cell(source, store_history=True)


def test_code_diff_from_execution_history(ip):
    ip.run_cell("import nbtrack", store_history=False)
    _cell(ip, "a = 1")
    _cell(ip, "%%track -q -n h\nb = a + 1\nnbtrack.log_metric('b', b)")
    first = nbtrack.runs().run_id.iloc[0]
    ip.history_manager.reset(new_session=True)  # as after a kernel restart
    ip.run_cell("import nbtrack", store_history=False)
    _cell(ip, "a = 2\nscale = 10")
    _cell(ip, "%%track -q -n h\nb = a + 1\nnbtrack.log_metric('b', b)")
    second = nbtrack.runs().run_id.iloc[0]
    d = nbtrack.diff(first, second)
    assert d.code_source == "history" and d.code_changed
    changed = [c for c in d.code if c.kind == "changed"]
    assert changed and "-a = 1" in changed[-1].lines and "+a = 2" in changed[-1].lines
    assert "+scale = 10" in changed[-1].lines
    assert d.metrics[0]["delta"] == pytest.approx(1.0)
    assert "cell A[" in d.to_text()
    only_cell = nbtrack.diff(first, second, code="cell")
    assert only_cell.code_source == "cell" and not only_cell.code_changed  # the tracked cell itself is the same


def test_snapshot_outputs_ignored_unless_asked(store_dir):
    a = _run({"lr": 0.1}, 0.8)
    b = _run({"lr": 0.1}, 0.8)
    st = nbtrack.get_store()
    for run_id, (count, output) in ((a, (1, "0.8")), (b, (7, "0.9"))):
        nb = nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(
                    "print(acc)",
                    execution_count=count,
                    outputs=[nbformat.v4.new_output("stream", name="stdout", text=output)],
                )
            ]
        )
        doc = dict(st.get_doc(run_id))
        doc["snapshot"] = {"blob": st.put_blob(nbformat.writes(nb).encode())}
        st.put_run(doc)
    assert not nbtrack.diff(a, b, code="snapshot").code_changed
    with_outputs = nbtrack.diff(a, b, code="snapshot", outputs=True)
    assert with_outputs.code_changed
    lines = with_outputs.code[0].lines
    assert "-# [output] 0.8" in lines and "+# [output] 0.9" in lines and "+# [execution_count: 7]" in lines


def test_html_is_escaped(store_dir):
    a = _run({"name": "<b>bold</b>"}, 0.8)
    b = _run({"name": "<script>x</script>"}, 0.8)
    page = nbtrack.diff(a, b)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>bold" not in page


def test_params_by_source_models_and_outputs(store_dir):
    from tests.contents_helpers import record_run

    store = nbtrack.get_store()
    a = record_run(store, name="a", c=0.5)
    b = record_run(store, name="b", c=1.0, output=b"id,pred\n1,1\n")
    doc = b.to_doc()  # B also has a new explicit param, logs no `lr`, and keeps `huge` the same
    doc["params"] = {**doc["params"], "seed": 3}
    doc["param_sources"] = {**doc["param_sources"], "seed": "explicit"}
    doc["outputs"]["extra.json"] = {"hash": "9" * 32, "size": 10, "kept": None}
    store.put_run(doc)
    d = nbtrack.diff(a.id, b.id)
    params = {r["name"]: (r["change"], r["source"]) for r in d.params}
    assert params == {"C": ("changed", "inline"), "seed": ("added", "explicit")}
    (model,) = d.models
    assert model["name"] == "clf" and model["change"] == "changed" and d.same_models == 1  # huge: same
    assert model["a"] == a.models["clf"]["hash"] and model["b"] == b.models["clf"]["hash"]
    outputs = {r["name"]: r["change"] for r in d.outputs}
    assert outputs == {"results/preds.csv": "changed", "extra.json": "added"}
    text = d.to_text()
    assert "params (3 unchanged):\n  explicit:\n    + seed: (none) -> 3\n  inline:\n    ~ C: 0.5 -> 1.0\n" in text
    short_a, short_b = a.models["clf"]["hash"][:12], b.models["clf"]["hash"][:12]
    assert f"models (1 unchanged):\n  ~ clf: LogisticRegression {short_a} -> LogisticRegression {short_b}" in text
    assert "outputs:\n  ~ results/preds.csv: " in text and "  + extra.json: (none) -> 999999999999 (10 B)" in text
    page = d._repr_html_()
    assert '<th style="padding:1px 8px;text-align:left">source</th>' in page and ">inline<" in page
    assert "<h4 style='margin:6px 0 2px'>models</h4>" in page and "<h4 style='margin:6px 0 2px'>outputs</h4>" in page
    as_dict = d.to_dict()
    assert as_dict["models"][0]["b_class"].endswith("LogisticRegression") and len(as_dict["outputs"]) == 2
    same = nbtrack.diff(a.id, a.id)
    assert same.identical and same.same_models == 2 and same.same_outputs == 1


def test_a_model_of_another_class_shows_both_classes(store_dir):
    from tests.contents_helpers import record_run

    store = nbtrack.get_store()
    a = record_run(store, name="a")
    doc = record_run(store, name="b").to_doc()
    doc["models"]["clf"] = {**doc["models"]["clf"], "class": "sklearn.svm.SVC"}
    doc["models"]["huge"] = {**a.models["clf"]}  # kept this time
    store.put_run(doc)
    d = nbtrack.diff(a.id, doc["id"])
    text = d.to_text()
    assert "~ clf: sklearn.linear_model._logistic.LogisticRegression " in text and "-> sklearn.svm.SVC " in text
    assert "~ huge: LogisticRegression" not in text and "~ huge: big.Model not kept: over the 500 MB limit ->" in text


def test_data_rows_carry_the_change_note_and_metrics_the_relative_delta(store_dir):
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"debt_ratio": rng.normal(0.3, 0.1, 500), "age": rng.integers(20, 70, 500)})
    shifted = frame.assign(debt_ratio=frame["debt_ratio"] + 0.09)
    a = _run({"lr": 0.1}, 0.80, data={"train": frame})
    b = _run({"lr": 0.1}, 0.88, data={"train": shifted})
    d = nbtrack.diff(a, b)
    (train,) = d.data
    assert "debt_ratio" in train["note"] and "sd" in train["note"]  # e.g. "debt_ratio mean +0.9 sd"
    assert "debt_ratio" in d.to_text() and "debt_ratio" in d.to_json()
    (acc,) = d.metrics
    assert acc["relative"] == pytest.approx(0.08 / 0.80)
