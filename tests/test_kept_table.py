"""``runs()`` filters a runs table kept between calls (query/table.py ``current_table``): each call must still
show exactly what the store holds now, whoever wrote it, and what a caller does to a result stays its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

import nbtrack
from nbtrack.query.table import build_frame
from nbtrack.store.local import get_store


def record(name: str, lr: float) -> str:
    with nbtrack.track(name=name, experiment="kept", params={"lr": lr}, environment=False) as run:
        nbtrack.log_metric("acc", lr / 2)
    return run.id


def from_scratch() -> pd.DataFrame:
    """The table built again from every record, newest first: what the kept one must equal."""
    docs = get_store().run_docs()
    return build_frame(docs[k] for k in sorted(docs, reverse=True)).reset_index(drop=True)


def test_the_kept_table_follows_writes_of_this_process(store_dir):
    first = record("a", 0.1)
    assert nbtrack.runs()["run_id"].tolist() == [first]
    second = record("b", 0.2)
    frame = nbtrack.runs()
    assert frame["run_id"].tolist() == [second, first]
    pd.testing.assert_frame_equal(frame, from_scratch())
    nbtrack.set_tag("stage", "final", run=first)
    assert nbtrack.runs(where="tags.stage == 'final'")["run_id"].tolist() == [first]
    nbtrack.delete_run(second)
    assert nbtrack.runs()["run_id"].tolist() == [first]
    pd.testing.assert_frame_equal(nbtrack.runs(), from_scratch())


def test_the_kept_table_sees_what_another_process_wrote(store_dir):
    mine = record("mine", 0.1)
    assert len(nbtrack.runs()) == 1
    code = (
        "import nbtrack\n"
        "with nbtrack.track(name='theirs', experiment='kept', params={'lr': 0.3, 'extra': 'x'}, environment=False):\n"
        "    nbtrack.log_metric('acc', 0.9)\n"
    )
    env = {**os.environ, "NBTRACK_DIR": str(store_dir)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    frame = nbtrack.runs()
    assert frame["name"].tolist() == ["theirs", "mine"] and frame["run_id"].iloc[1] == mine
    assert frame["params.extra"].tolist()[0] == "x"  # a column only the other process's run has
    pd.testing.assert_frame_equal(frame, from_scratch())


def test_what_a_caller_does_to_a_result_does_not_reach_the_next_call(store_dir):
    record("a", 0.1)
    record("b", 0.2)
    frame = nbtrack.runs()
    frame.loc[0, "params.lr"] = 99.0
    frame["mine"] = 1
    frame.iloc[1, 0] = "changed"
    again = nbtrack.runs()
    assert sorted(again["params.lr"]) == [0.1, 0.2] and "mine" not in again.columns and len(again) == 2


def test_a_running_run_reads_as_abandoned_once_its_process_is_gone_with_no_write_between(store_dir):
    code = (
        "import sys, nbtrack\n"
        "run = nbtrack.ActiveRun(nbtrack.get_store()).start()\n"
        "print(run.id, flush=True)\n"
        "sys.stdin.readline()\n"
    )
    env = {**os.environ, "NBTRACK_DIR": str(store_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert nbtrack.runs().set_index("run_id").loc[run_id, "status"] == "running"
        size = os.path.getsize(store_dir / "runs.jsonl")
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert os.path.getsize(store_dir / "runs.jsonl") == size  # killed: it wrote nothing more
    assert nbtrack.runs().set_index("run_id").loc[run_id, "status"] == "abandoned"
