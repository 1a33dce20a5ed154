"""``Run``: typed fields, ``to_doc``/``from_doc``, and a store written by nbtrack 0.1.0 opening with nothing lost.

``fixtures/store-0.1.0`` was written by release 0.1.0 (``make_store.py`` beside it): ``track()`` runs with
params, metrics, series, tags and data, a failed and an interrupted run, two ``%%track`` runs in a real
kernel (history, snapshot, parent, data change), a script exported from one of them, a record pulled from
MLflow without a format key, and a deleted run. ``expected.json`` is what 0.1.0 read back.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nbtrack
from nbtrack import values
from nbtrack.run import STATUSES, Run, Status, effective_status
from nbtrack.run_migrations import SCHEMA, migrate, schema_of
from nbtrack.store.local import Store

FIXTURE = Path(__file__).parent / "fixtures" / "store-0.1.0"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))


def same(a: object, b: object) -> bool:
    """Equal as JSON (so NaN equals NaN, and tuples equal the lists they were read from)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.fixture
def old_store(tmp_path):
    shutil.copytree(FIXTURE / "store", tmp_path / "store")
    return Store(tmp_path / "store")


def as_written_now(old_doc: dict) -> dict:
    """What schema 2 keeps of a 0.1.0 document: the same keys, ``schema`` for ``format``, unset fields left out."""
    doc = {k: v for k, v in old_doc.items() if k != "format"}
    doc["schema"] = SCHEMA
    optional_empty = {k for k, v in doc.items() if v is None and k not in ("name", "end_time", "duration", "error")}
    return {k: v for k, v in doc.items() if k not in optional_empty or k == "source"}


def assert_reads_as_recorded(run: Run, expected: dict) -> None:
    doc = expected["doc"]
    assert run.id == doc["id"] and run.experiment == doc["experiment"] and run.name == doc["name"]
    assert isinstance(run.status, Status) and run.status == expected["status"] == doc["status"]
    assert (run.start_time, run.end_time, run.duration) == (doc["start_time"], doc["end_time"], doc["duration"])
    assert same(values.encode(run.params)[0], doc["params"])
    assert same(values.encode(run.tags)[0], doc["tags"])
    assert same(run.to_doc()["metrics"], doc["metrics"])
    assert same(run.series.to_dict("list"), expected["series"])
    assert run.history == expected["history"]
    assert same(run.env, expected["env"])
    assert same(run.data, expected["data"])
    assert run.error == doc["error"]
    assert run.code == expected["code"]
    snapshot = run.snapshot
    assert same(None if snapshot is None else json.loads(nbtrack_writes(snapshot)), expected["snapshot"])
    for field, key in (("cell_id", "cell_id"), ("cell_key", "cell_key"), ("parent", "parent"), ("origin", "origin")):
        assert getattr(run, field) == doc.get(key)
    for field in ("execution_count", "history_len", "code_location", "code_blob", "data_change", "data_notes"):
        assert getattr(run, field) == doc.get(field)
    assert (run.source, run.owner, run.snapshot_info) == (doc.get("source"), doc.get("owner"), doc.get("snapshot"))
    assert run.schema == SCHEMA
    assert same(run.to_doc(), as_written_now(doc))  # nothing dropped, unknown keys included


def nbtrack_writes(node: object) -> str:
    import nbformat

    return nbformat.writes(node)


def test_the_fixture_covers_every_kind_of_record():
    docs = [e["doc"] for e in EXPECTED.values()]
    assert {d.get("source") for d in docs} == {"api", "magic", "export", "mlflow"}
    assert {d["status"] for d in docs} == {"finished", "failed", "interrupted"}
    assert any(d.get("history") and d.get("snapshot") and d.get("parent") for d in docs)
    assert any("format" not in d for d in docs) and all(schema_of(d) == 1 for d in docs)
    assert not any(d["name"] == "to delete" for d in docs)


def test_a_store_written_by_0_1_0_opens_with_every_field(old_store):
    assert set(old_store.run_docs()) == set(EXPECTED)  # the deleted run stays deleted
    for run_id, expected in EXPECTED.items():
        assert_reads_as_recorded(nbtrack.get_run(run_id, store=old_store), expected)
    pulled = next(r for r in (nbtrack.get_run(i, store=old_store) for i in EXPECTED) if r.source == "mlflow")
    assert pulled.extra == {"mystery": {"kept": [1, 2, 3]}}
    failed = next(e for e in EXPECTED.values() if e["doc"]["status"] == "failed")
    assert "diverged at step 3" in nbtrack.get_run(failed["doc"]["id"], store=old_store).error["traceback"]


def test_a_0_1_0_store_survives_being_rewritten_in_the_new_format(old_store):
    for run_id in EXPECTED:
        old_store.put_run(Run.from_doc(old_store.get_doc(run_id), old_store).to_doc())
    reopened = Store(old_store.root)
    for run_id, expected in EXPECTED.items():
        doc = reopened.get_doc(run_id)
        assert doc["schema"] == SCHEMA and "format" not in doc
        assert_reads_as_recorded(Run.from_doc(doc, reopened), expected)
    frame = nbtrack.runs(store=reopened)
    assert len(frame) == len(EXPECTED) and frame.loc[frame.name == "baseline", "params.lr"].tolist() == [0.01]


def test_to_doc_and_from_doc_are_inverse_for_a_new_record(store_dir):
    run = Run(
        id="01abc",
        experiment="e",
        status=Status.FAILED,
        start_time=1.0,
        params={"t": (1, 2), "n": float("nan"), "s": {3}},
        metrics={"inf": float("inf"), "acc": 0.5},
        tags={"k": "v"},
        links={"exported_from": "01xyz"},
        extra={"future": 1},
    )
    doc = run.to_doc()
    assert doc["status"] == "failed" and doc["schema"] == SCHEMA and doc["links"] == {"exported_from": "01xyz"}
    assert "cell_id" not in doc and "history" not in doc and doc["future"] == 1
    json.dumps(doc, allow_nan=False)
    back = Run.from_doc(doc)
    assert back.params["t"] == (1, 2) and math.isnan(back.params["n"]) and back.params["s"] == {3}
    assert back.metrics["inf"] == math.inf and back.to_doc() == doc
    assert Run(doc, None).to_doc() == doc  # the 0.1 way of reading a record still works


def test_status_is_a_string_enum():
    assert STATUSES == ("running", "finished", "failed", "interrupted", "abandoned")
    assert Status.FINISHED == "finished" and "finished" in {Status.FINISHED} and Status.FAILED in {"failed"}
    assert json.dumps({"s": Status.INTERRUPTED}) == '{"s": "interrupted"}' and f"{Status.RUNNING}" == "running"


def test_a_running_run_whose_process_is_gone_reads_as_abandoned(store_dir):
    code = "import os, nbtrack\nprint(nbtrack.ActiveRun(nbtrack.get_store()).start().id, flush=True)\nos._exit(9)"
    env = {**os.environ, "NBTRACK_DIR": str(store_dir)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60).stdout
    doc = Store(store_dir).get_doc(out.strip())
    assert doc["status"] == "running" and effective_status(doc) == "abandoned"
    assert Run.from_doc(doc).status is Status.ABANDONED


def test_records_the_release_cannot_read_are_kept_as_they_are():
    odd = {"id": "01x", "status": "paused", "params": "not a dict", "format": 1, "tags": {}}
    run = Run.from_doc(odd)
    assert run.status is Status.FINISHED and run.params == {}
    doc = run.to_doc()
    assert doc["status"] == "paused" and doc["params"] == "not a dict" and doc["schema"] == SCHEMA
    newer = {"id": "01y", "schema": SCHEMA + 1, "status": "finished", "shiny": True}
    assert migrate(newer) == newer and Run.from_doc(newer).to_doc()["schema"] == SCHEMA + 1
