import math
import secrets
import threading

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack import NbtrackWarning, NoActiveRunError
from nbtrack.capture.environment import RECORDED_ENV_VARS


def test_track_records_everything(store_dir):
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    with nbtrack.track(
        name="fit", experiment="exp", params={"lr": 0.1}, tags={"stage": "dev"}, data={"train": df}
    ) as run:
        nbtrack.log_param("epochs", 3)
        for step in range(3):
            nbtrack.log_metric("loss", 1.0 / (step + 1), step=step)
        nbtrack.log_metrics({"acc": 0.9, "f1": np.float32(0.5)})
        nbtrack.set_tags({"owner": "me"})
    got = nbtrack.get_run(run.id)
    assert got.status == "finished" and got.experiment == "exp" and got.name == "fit"
    assert got.params == {"lr": 0.1, "epochs": 3}
    assert got.metrics == {"loss": pytest.approx(1 / 3), "acc": 0.9, "f1": 0.5}
    assert got.tags == {"stage": "dev", "owner": "me"}
    assert got.data["train"]["shape"] == [3, 2] and len(got.data["train"]["hash"]) == 32
    assert got.series[got.series.name == "loss"][["step", "value"]].values.tolist() == [
        [0, 1.0],
        [1, 0.5],
        [2, pytest.approx(1 / 3)],
    ]
    assert got.duration >= 0 and got.end_time >= got.start_time
    assert "test_api.py" in got.doc["code_location"] and "def test_track_records_everything" in got.code
    assert got.env["python"] and isinstance(got.env["packages"], dict) and "pandas" in got.env["packages"]


def test_final_metric_is_last_logged_not_max(store_dir):
    with nbtrack.track() as run:
        nbtrack.log_metric("acc", 0.9, step=5)
        nbtrack.log_metric("acc", 0.7, step=6)
        nbtrack.log_metric("auto", 1)
        nbtrack.log_metric("auto", 2)
    got = nbtrack.get_run(run.id)
    assert got.metrics["acc"] == 0.7
    assert got.series[got.series.name == "auto"].step.tolist() == [0, 1]


def test_failed_and_interrupted_runs_are_recorded_and_propagate(store_dir):
    with pytest.raises(ZeroDivisionError), nbtrack.track(name="bad") as run:
        _ = 1 / 0
    got = nbtrack.get_run(run.id)
    assert got.status == "failed"
    assert got.error["type"] == "ZeroDivisionError" and "division by zero" in got.error["message"]
    assert "_ = 1 / 0" in got.error["traceback"]
    with pytest.raises(KeyboardInterrupt), nbtrack.track() as run2:
        raise KeyboardInterrupt
    assert nbtrack.get_run(run2.id).status == "interrupted"


def test_log_outside_a_run_raises_clear_error(store_dir):
    for call, args in [
        (nbtrack.log_metric, ("a", 1)),
        (nbtrack.log_param, ("a", 1)),
        (nbtrack.log_metrics, ({"a": 1},)),
        (nbtrack.set_tags, ({"a": 1},)),
    ]:
        with pytest.raises(NoActiveRunError, match="needs an active run"):
            call(*args)


def test_nested_runs_attach_to_innermost(store_dir):
    with nbtrack.track(name="outer") as outer:
        nbtrack.log_metric("m", 1)
        with nbtrack.track(name="inner") as inner:
            nbtrack.log_metric("m", 2)
        nbtrack.log_metric("n", 3)
    assert nbtrack.get_run(outer.id).metrics == {"m": 1, "n": 3}
    assert nbtrack.get_run(inner.id).metrics == {"m": 2}


def test_two_threads_track_at_once(store_dir):
    barrier = threading.Barrier(2)
    made = {}

    def work(tag):
        with nbtrack.track(name=tag) as run:
            barrier.wait()
            for step in range(50):
                nbtrack.log_metric("v", step if tag == "a" else -step, step=step)
            barrier.wait()
        made[tag] = run.id

    threads = [threading.Thread(target=work, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert nbtrack.get_run(made["a"]).metrics["v"] == 49
    assert nbtrack.get_run(made["b"]).metrics["v"] == -49
    assert nbtrack.active_run() is None


def test_bad_values_warn_and_never_raise(store_dir):
    class Weird:
        def __repr__(self):
            raise RuntimeError("no repr")

    with pytest.warns(NbtrackWarning) as caught, nbtrack.track() as run:
        nbtrack.log_metric("text", "not a number")
        nbtrack.log_metric("", 1.0)
        nbtrack.log_param("obj", Weird())
        nbtrack.log_param("big", "x" * 2_000_000)
    messages = " ".join(str(w.message) for w in caught)
    assert "text" in messages and "limit" in messages
    got = nbtrack.get_run(run.id)
    assert "text" not in got.metrics
    assert "repr failed" in got.params["obj"]


def test_nan_inf_roundtrip(store_dir):
    with nbtrack.track(params={"p": float("nan"), "t": (1, 2)}) as run:
        nbtrack.log_metric("loss", float("inf"))
        nbtrack.log_metric("loss", float("nan"))
    got = nbtrack.get_run(run.id)
    assert math.isnan(got.params["p"]) and got.params["t"] == (1, 2)
    assert math.isnan(got.metrics["loss"])
    assert got.series.value.iloc[0] == float("inf")


def test_unwritable_store_warns_and_keeps_user_code_running(tmp_path):
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    ran = []
    with pytest.warns(NbtrackWarning, match="could not be saved") as caught, nbtrack.track(store=target / "store"):
        ran.append(1)
    assert ran == [1]
    assert len([w for w in caught if issubclass(w.category, NbtrackWarning)]) == 1  # one warning says it all


def test_set_tag_on_recorded_run_and_delete(store_dir):
    with nbtrack.track() as run:
        pass
    nbtrack.set_tag("verdict", "keep", run=run.id[:12])
    assert nbtrack.get_run(run.id).tags["verdict"] == "keep"
    assert nbtrack.delete_run(run.id[:12]) == run.id
    with pytest.raises(LookupError):
        nbtrack.get_run(run.id)


def test_secrets_in_environment_are_not_stored(store_dir, monkeypatch):
    secret = secrets.token_hex(16)  # made at run time: the recorded script source must not contain it
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    for name in RECORDED_ENV_VARS:  # only what the test sets (another library may have set some)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with nbtrack.track() as run:
        pass
    raw = (store_dir / "runs.jsonl").read_text()
    everything = "".join(p.read_text("latin-1") for p in store_dir.rglob("*") if p.is_file())
    assert secret not in raw and secret not in everything
    assert nbtrack.get_run(run.id).env["env_vars"] == {"OMP_NUM_THREADS": "3"}


def test_store_from_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_DIR", str(tmp_path / "envstore"))
    nbtrack.set_store(None)
    with nbtrack.track() as run:
        pass
    assert (tmp_path / "envstore" / "runs.jsonl").exists()
    assert nbtrack.get_run(run.id).id == run.id
