"""How a run record maps onto an MLflow run and back (nbtrack.remote.mapping): pure functions, no server.

The rich record with every artifact is tested in test_push.py (``test_payload_of_a_rich_run``), next to the
server that reads it back; here are the names, values, statuses and times each field goes through.
"""

from __future__ import annotations

import json
import math
import sys

import pytest

import nbtrack
from nbtrack import ids
from nbtrack.remote.mapping import (
    MAX_KEY_LENGTH,
    TAG_ERROR,
    TAG_RENAMED,
    TAG_SOURCE,
    TAG_STATUS,
    build_payload,
    derived_run_id,
    final_value,
    history_text,
    metric_value,
    mlflow_key,
    parse_param,
    parse_requirements,
    record_signature,
    requirements_text,
    safe_file_name,
    series_value,
    to_ms,
    value_text,
)


def test_mlflow_keys_are_valid_names():
    assert mlflow_key("lr") == "lr"
    assert mlflow_key("train/loss") == "train/loss"
    assert mlflow_key("acc@top[1]") == "acc_top_1_"
    assert mlflow_key("a//b") == "a__b"
    assert mlflow_key("../x") == "_.._x"
    assert mlflow_key("/abs") == "_abs"
    assert mlflow_key("x" * 300) == "x" * 250


def test_params_parse_back_to_python_values():
    assert parse_param("0.1") == 0.1 and isinstance(parse_param("3"), int)
    assert parse_param("True") is True and parse_param("None") is None
    assert parse_param("[1, 2]") == [1, 2] and parse_param("(3, 4)") == (3, 4)
    assert parse_param("{'a': 1}") == {"a": 1}
    assert math.isnan(parse_param("nan")) and parse_param("-inf") == -math.inf
    assert parse_param("adam") == "adam" and parse_param("007") == "007" and parse_param(" 3") == " 3"
    assert parse_param("os.system('x')") == "os.system('x')"


@pytest.mark.parametrize("value", [0.01, 3, True, None, [1, 2], (3, 4), {"a": 1}, "adam", -2.5, "007"])
def test_a_param_survives_the_trip_through_mlflow_text(value):
    assert parse_param(value_text(value)) == value
    assert type(parse_param(value_text(value))) is type(value)


def test_value_text_is_str_and_never_raises():
    class Broken:
        def __str__(self):
            raise RuntimeError("no")

    assert value_text("x") == "x" and value_text(1.5) == "1.5" and value_text(None) == "None"
    assert "Broken" in value_text(Broken())


def test_metric_values_and_the_non_finite_round_trip():
    assert metric_value(0.5) == 0.5 and metric_value(2) == 2.0
    assert math.isnan(metric_value("nan")) and metric_value("inf") == math.inf and metric_value("-inf") == -math.inf
    # MLflow's SQL stores keep +-inf as +-max float: pulled points come back as nbtrack stores them
    assert series_value(float("nan")) == "nan"
    assert series_value(sys.float_info.max) == "inf" and series_value(-sys.float_info.max) == "-inf"
    assert series_value(0.25) == 0.25
    assert final_value(sys.float_info.max) == math.inf and final_value(-sys.float_info.max) == -math.inf
    assert final_value(1.0) == 1.0


def test_times_are_milliseconds():
    assert to_ms(None) is None
    assert to_ms(1_700_000_000.1234) == 1_700_000_000_123
    assert to_ms(0.0005) == 0 and to_ms(0.0015) == 2


def test_mlflow_native_runs_get_stable_time_ordered_ids():
    a = derived_run_id("abc123", 1_700_000_000_000)
    assert a == derived_run_id("abc123", 1_700_000_000_000)  # pulling twice gives the same id
    assert ids.is_run_id(a) and len(a) == ids.ID_LENGTH
    assert a != derived_run_id("abc124", 1_700_000_000_000)
    assert derived_run_id("zzz", 1_700_000_000_000) < derived_run_id("aaa", 1_700_000_000_001)  # time first
    assert abs(ids.id_time(a) - 1_700_000_000.0) < 0.001
    assert ids.is_run_id(derived_run_id("x", None))


def test_safe_file_names_are_plain_and_distinct():
    name = safe_file_name("../etc/passwd <prompt>")
    assert "/" not in name and " " not in name and name.endswith(".txt") and not name.startswith(".")
    assert safe_file_name("a b") != safe_file_name("a_b")  # same stem, different hash
    assert len(safe_file_name("x" * 500)) < 100


def test_history_and_requirements_texts():
    assert history_text(["a = 1", "print(a)"]) == "# In[1]:\na = 1\n\n# In[2]:\nprint(a)\n"
    env = {"python": "3.11.4", "platform": "Linux"}
    text = requirements_text(env, {"numpy": "2.0.1", "pandas": "2.2.2"})
    assert text.splitlines()[0].startswith("# packages the run ran with (Python 3.11.4, Linux)")
    assert parse_requirements(text) == {"numpy": "2.0.1", "pandas": "2.2.2"}


def test_signature_follows_the_record_but_not_pull_bookkeeping():
    doc = {"id": "r", "status": "finished", "metrics": {"acc": 0.5}}
    assert record_signature(doc) == record_signature({**doc, "origin": {"server": "http://h"}})
    assert record_signature(doc) != record_signature({**doc, "metrics": {"acc": 0.6}})
    assert record_signature(doc) != record_signature({**doc, "status": "failed"})


def test_payload_of_a_finished_run(store_dir):
    with nbtrack.track(
        name="plain", experiment="maps", params={"lr": 0.1, "layers": [2, 3], "a b": 1}, environment=False
    ) as run:
        for step in range(3):
            nbtrack.log_metric("loss", 1.0 / (step + 1), step=step)
        nbtrack.log_metric("acc", 0.9)
        nbtrack.set_tag("owner", "ana")
    store = nbtrack.get_store()
    doc = store.get_doc(run.id)
    payload = build_payload(doc, store)
    assert payload.run_id == run.id and payload.experiment == "maps" and payload.name == "plain"
    assert payload.status == "finished" and payload.mlflow_status == "FINISHED"
    assert payload.start_ms == to_ms(doc["start_time"]) and payload.end_ms == to_ms(doc["end_time"])
    assert payload.signature == record_signature(doc)
    assert dict(payload.params) == {"lr": "0.1", "layers": "[2, 3]", "a b": "1"}
    assert {key: parse_param(text) for key, text in payload.params} == {"lr": 0.1, "layers": [2, 3], "a b": 1}
    loss = sorted((m for m in payload.metrics if m[0] == "loss"), key=lambda m: m[3])
    assert [(m[1], m[3]) for m in loss] == [(1.0, 0), (0.5, 1), (pytest.approx(1 / 3), 2)]
    assert all(payload.start_ms <= m[2] <= payload.end_ms for m in payload.metrics)
    assert [m[1] for m in payload.metrics if m[0] == "acc"] == [0.9]
    tags = dict(payload.tags)
    assert tags["owner"] == "ana" and tags[TAG_STATUS] == "finished" and tags[TAG_SOURCE] == "api"
    assert TAG_RENAMED not in tags and TAG_ERROR not in tags
    assert json.loads(payload.artifacts["nbtrack/run.json"])["id"] == run.id
    assert payload.estimated_bytes() > len(payload.artifacts["nbtrack/run.json"])


def test_payload_statuses_errors_and_renamed_names(store_dir):
    with pytest.raises(ZeroDivisionError), nbtrack.track(name="bad", params={"a@b": 1, "a_b": 2}, environment=False):
        1 / 0  # noqa: B018
    with pytest.raises(KeyboardInterrupt), nbtrack.track(name="stopped", environment=False):
        raise KeyboardInterrupt
    store = nbtrack.get_store()
    docs = {doc["name"]: doc for doc in store.run_docs().values()}
    failed = build_payload(docs["bad"], store)
    assert failed.status == "failed" and failed.mlflow_status == "FAILED"
    assert dict(failed.tags)[TAG_ERROR].startswith("ZeroDivisionError: division by zero")
    keys = [key for key, _ in failed.params]
    assert keys == ["a_b", "a_b_2"] and all(len(k) <= MAX_KEY_LENGTH for k in keys)  # both map to a_b
    renamed = json.loads(dict(failed.tags)[TAG_RENAMED])
    assert renamed == {"a_b": "a@b", "a_b_2": "a_b"}  # the originals, to restore them on pull
    interrupted = build_payload(docs["stopped"], store)
    assert interrupted.status == "interrupted" and interrupted.mlflow_status == "KILLED"
    assert dict(interrupted.tags)[TAG_STATUS] == "interrupted"  # nbtrack's own status survives MLflow's KILLED


def test_payload_lists_models_artifacts_and_kept_outputs_without_reading_their_bytes(store_dir):
    with nbtrack.track(name="m", experiment="e", environment=False) as run:
        run.log_model({"weights": [1, 2, 3]}, "table")  # no framework: pickled, a plain file on the server
    st = nbtrack.get_store()
    doc = dict(st.get_doc(run.id))
    figure = st.put_blob(b"\x89PNG fake")
    doc["artifacts"] = {"figure-1.png": {"blob": figure, "size": 9, "media_type": "image/png", "kind": "figure"}}
    doc["outputs"] = {"out.csv": {"hash": "h", "size": 4, "kept": st.put_blob(b"a,b\n")}, "big": {"size": 10**9}}
    plain = build_payload(dict(st.get_doc(run.id)), st)
    payload = build_payload(doc, st)
    [model] = payload.models
    assert (model.name, model.flavor, model.file) == ("table", None, "models/table/table.pkl")
    assert payload.files == {"artifacts/figure-1.png": figure, "outputs/out.csv": doc["outputs"]["out.csv"]["kept"]}
    assert payload.models_trusted  # recorded in this store, by this user
    assert payload.estimated_bytes() - plain.estimated_bytes() >= 9 + 4  # the 1 GB output is not sent
    assert payload.estimated_bytes() < 10**6
    assert not any(path.startswith(("models/", "artifacts/", "outputs/")) for path in payload.artifacts)
    pulled = {**doc, "origin": {"server": "http://elsewhere"}}
    assert not build_payload(pulled, st).models_trusted  # a pulled pickle is not loaded to make a flavor
