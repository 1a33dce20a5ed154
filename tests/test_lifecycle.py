"""The one run lifecycle (``ActiveRun``): start and final records, code, environment, the active-run stack,
and its two thin callers outside ``track()``: the exported scripts' runtime (here) and the magic
(tests/test_magic.py, tests/test_kernel.py)."""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd
import pytest

import nbtrack
from nbtrack import NbtrackWarning, ids
from nbtrack.capture.lifecycle import ActiveRun, active_run
from nbtrack.exporting import runtime
from nbtrack.run import Run, Status
from nbtrack.store.local import Store, get_store


def test_start_writes_a_running_record_and_finish_the_final_one(store_dir):
    run = ActiveRun(get_store(), name="fit", experiment="e", params={"lr": 0.1}, source="api")
    run.start()
    first = Store(store_dir).get_doc(run.id)
    assert first["status"] == "running" and first["owner"]["pid"] and first["params"] == {"lr": 0.1}
    assert active_run() is run
    run.log_metric("acc", 0.5)
    run.finish()
    assert active_run() is None
    final = Store(store_dir).get_doc(run.id)
    assert final == run.doc == run.record.to_doc() and final["status"] == "finished" and final["schema"] == 2
    assert "env" not in final  # environment=False (the default for a bare ActiveRun)
    run.finish(Status.FAILED)  # a run finishes once
    assert Store(store_dir).get_doc(run.id)["status"] == "finished"


def test_the_status_comes_from_the_error(store_dir):
    ended = {}
    for error in (None, ValueError("x"), KeyboardInterrupt()):
        run = ActiveRun(get_store()).start()
        run.finish(error=error)
        ended[type(error).__name__] = Run.from_doc(Store(store_dir).get_doc(run.id))
    assert ended["NoneType"].status is Status.FINISHED and ended["NoneType"].error is None
    assert ended["ValueError"].status is Status.FAILED and ended["ValueError"].error["type"] == "ValueError"
    assert ended["KeyboardInterrupt"].status is Status.INTERRUPTED


def test_environment_is_captured_once_when_the_run_finishes(store_dir):
    run = ActiveRun(get_store()).start(environment=True)
    run.finish()
    env = nbtrack.get_run(run.id).env
    assert env["python"] and "pandas" in env["packages"] and "git" in env and env["cwd"]


def test_a_script_is_stored_once_however_many_runs_it_opens(store_dir, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("print('hello')\n")
    a, b = ActiveRun(get_store()), ActiveRun(get_store())
    a.attach_script(str(script), location=f"{script}:1")
    b.attach_script(str(script))
    assert a.record.code_blob == b.record.code_blob and a.record.code_location == f"{script}:1"
    for run in (a, b):
        run.start()
        run.finish()
    assert nbtrack.get_run(b.id).code == "print('hello')\n" and nbtrack.get_run(b.id).code_location == str(script)
    stdin = ActiveRun(get_store())
    stdin.attach_script("<stdin>", location="<stdin>:3")
    assert stdin.record.code_blob is None and stdin.record.code_location == "<stdin>:3"


def test_a_cell_keeps_its_code_inline_and_its_history_in_blobs(store_dir):
    run = ActiveRun(get_store(), source="magic")
    run.attach_cell("y = x + 1", history=["x = 1", "%%track\ny = x + 1"], execution_count=2, cell_id="c1")
    run.start()
    run.finish()
    got = nbtrack.get_run(run.id)
    assert got.code == "y = x + 1" and got.code_text == "y = x + 1" and got.code_blob is None
    assert got.history == ["x = 1", "%%track\ny = x + 1"] and got.history_len == 2
    assert (got.execution_count, got.cell_id, got.source) == (2, "c1", "magic")


def test_data_profiles_go_to_blobs_and_read_back(store_dir):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    run = ActiveRun(get_store())
    run.log_data("train", frame)
    assert "profile" not in run.data["train"] and run.profiles["train"]["profile"]
    run.start()
    run.finish()
    got = nbtrack.get_run(run.id)
    assert (
        got.data_records["train"]["profile_blob"] and got.data["train"]["profile"] == run.profiles["train"]["profile"]
    )


def test_an_exported_script_records_its_run_through_the_lifecycle(store_dir, capsys, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    namespace = {"train_df": pd.DataFrame({"a": [1, 2]})}
    runtime.begin_other_run()  # code of an earlier tracked cell: its logging goes nowhere
    nbtrack.log_metric("ignored", 1)
    runtime.end_other_run()
    run = runtime.start_run(namespace, source_run="01source", params={"lr": 0.1}, name="exported", experiment="x")
    namespace["acc"] = 0.75
    final = runtime.finish_run(namespace, metrics=["acc"])
    assert final == {"acc": 0.75} and json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == final
    got = nbtrack.get_run(run.id)
    assert got.source == "export" and got.tags == {"exported_from": "01source"} and got.params == {"lr": 0.1}
    assert got.status is Status.FINISHED and got.env["python"] and got.code_location == sys.argv[0]
    assert [r for r in get_store().run_docs().values() if r.get("name") == "(discarded)"] == []


# issue 18: no value loses a run, no value breaks a query -----------------------------------------------


def test_lone_surrogates_anywhere_never_lose_the_run(store_dir):
    odd = "caf\udce9.csv"  # what os.listdir returns for a latin-1 file name
    run = ActiveRun(get_store(), name=odd, experiment=f"exp {odd}", params={odd: odd}, tags={"t": odd})
    run.attach_cell(f"open({odd!r})\n# {odd}", history=[odd])
    run.log_metric(odd, 1.0, step=0)
    run.log_data(odd, pd.Series([1, 2, 3]))
    run.start()
    run.finish()
    assert run.saved
    line = (store_dir / "runs.jsonl").read_bytes()
    line.decode("utf-8")  # strict UTF-8 on disk
    got = nbtrack.get_run(run.id)
    assert (got.name, got.experiment, got.params, got.tags) == (odd, f"exp {odd}", {odd: odd}, {"t": odd})
    assert got.code == f"open({odd!r})\n# {odd}" and got.history == [odd]
    assert got.metrics == {odd: 1.0} and list(got.data) == [odd]
    shown = "caf\\udce9.csv"  # frames hold UTF-8 only (pandas' Arrow strings): the surrogate is shown escaped
    assert list(got.series.name) == [shown]
    frame = nbtrack.runs()
    assert frame.loc[0, "name"] == shown and frame.loc[0, f"params.{shown}"] == shown and f"metrics.{shown}" in frame


def test_a_param_named_like_the_tag_marker_is_a_param(store_dir):
    with nbtrack.track(params={"__nbtrack__": "float", "v": "nan", "lr": 0.1}, tags={"__nbtrack__": 1}) as run:
        pass
    got = nbtrack.get_run(run.id)
    assert got.params == {"__nbtrack__": "float", "v": "nan", "lr": 0.1} and got.tags == {"__nbtrack__": 1}
    assert nbtrack.runs().loc[0, "params.lr"] == 0.1


def test_a_record_written_by_the_old_encoder_never_breaks_a_query(store_dir, capsys):
    """Reproduction 7: {frozenset({1}): 'x'} as the encoder before issue 18 stored it, and a damaged value."""
    from nbtrack.cli import main
    from nbtrack.views.panel_model import PanelModel

    with nbtrack.track(experiment="e", params={"lr": 0.1}) as good:
        nbtrack.log_metric("acc", 0.5)
    store = get_store()
    doc = dict(store.get_doc(good.id))
    old_id, bad_id = ids.new_run_id(), ids.new_run_id()
    old_set_key = {"__nbtrack__": "dict", "v": [[{"__nbtrack__": "set", "v": [1]}, "x"]]}
    store.put_run({**doc, "id": old_id, "params": {"d": old_set_key, "lr": 0.2}})
    store.put_run({**doc, "id": bad_id, "params": {"d": {"__nbtrack__": "ndarray", "v": "?"}, "lr": 0.3}})
    with pytest.warns(NbtrackWarning, match=f"run {bad_id}, params.d: .* shown as text"):
        frame = nbtrack.runs()
    assert frame.set_index("run_id").loc[old_id, "params.d"] == {frozenset({1}): "x"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NbtrackWarning)
        assert "acc" in str(nbtrack.compare("e", metric="acc"))
        assert PanelModel().n_matching == 3
        assert nbtrack.get_run(old_id).params["d"] == {frozenset({1}): "x"}
        for argv in (["runs"], ["show", old_id], ["compare", "--experiment", "e", "-m", "acc"]):
            assert main(["--store", str(store_dir), *argv]) == 0, argv
    assert "Traceback" not in capsys.readouterr().err


def test_a_metric_name_is_checked_at_every_call_until_it_holds_a_series(store_dir):
    with nbtrack.track() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nbtrack.log_metric("   ", 1.0)  # refused each time, never remembered as a name
        nbtrack.log_metric("   ", 2.0)
        nbtrack.log_metric("a\x00", 1.0)  # cleaned to "a" each time: one series with the plain name's points
        nbtrack.log_metric("a", 2.0)
        nbtrack.log_metric("a\x00", 3.0)
        nbtrack.log_metric(7, 1.0)  # a number as a name is its text
        nbtrack.log_metric("7", 2.0, step=5)
        nbtrack.log_metric("b", "not a number")  # a refused first value starts no series
        nbtrack.log_metric("b", 0.5)
    said = [str(w.message) for w in caught]
    assert sum("must not be empty" in m for m in said) == 2
    assert run.series["a"]["value"] == [1.0, 2.0, 3.0] and run.series["a"]["step"] == [0, 1, 2]
    assert run.series["7"]["step"] == [0, 5] and run.series["b"]["value"] == [0.5]
    assert set(nbtrack.get_run(run.id).metrics) == {"a", "7", "b"}


def test_metrics_that_cannot_be_kept_are_refused_with_a_warning(store_dir, monkeypatch):
    monkeypatch.setenv("NBTRACK_MAX_METRICS", "3")
    with nbtrack.track() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nbtrack.log_metric("huge", 10**400)  # OverflowError before issue 18
        nbtrack.log_metric("s", 1.0, step=10**30)
        nbtrack.log_metric("s", 2.0, step=2.5)
        nbtrack.log_metric("s", 3.0, step=7.0)
        for i in range(10):
            nbtrack.log_metric(f"m{i}", float(i))
    said = [str(w.message) for w in caught]
    assert any("beyond the float range" in m for m in said)
    assert any("64-bit range" in m for m in said) and any("not a whole number" in m for m in said)
    assert sum("the most a run keeps" in m for m in said) == 1
    got = nbtrack.get_run(run.id)
    assert "huge" not in got.metrics and set(got.metrics) == {"s", "m0", "m1"}
    assert list(got.series[got.series.name == "s"].step) == [0, 1, 7]  # refused steps take the next one
