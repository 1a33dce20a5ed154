"""``nbtrack rm --purge`` and ``nbtrack gc`` from the command line (issue 18, item 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import nbtrack
from nbtrack.cli import main


def grep(root: Path, needle: str) -> list[str]:
    data = needle.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def tracked(marker: str) -> str:
    """A run with the marker in a param, the script it ran from (a blob) and a metric's name."""
    with nbtrack.track(name="r", experiment="cli", params={"note": marker}) as run:
        nbtrack.log_metric(f"m_{marker}", 1.0)
    return run.id


@pytest.fixture
def runs(store_dir):
    gone = f"gone-{uuid.uuid4().hex}"
    return store_dir, tracked("kept"), tracked(gone), gone


def test_rm_alone_leaves_the_bytes_and_rm_purge_erases_them(runs, capsys):
    store, kept, deleted, gone = runs
    assert main(["--store", str(store), "rm", deleted[:10]]) == 0
    assert grep(store, gone)  # a plain rm only appends a `del` line
    assert main(["--store", str(store), "rm", "--purge", kept[:10], "0000000000"]) == 1  # all or nothing
    assert "no run" in capsys.readouterr().err and kept in nbtrack.runs(store=store)["run_id"].tolist()
    marker = f"gone2-{uuid.uuid4().hex}"
    other = tracked(marker)
    assert main(["--store", str(store), "rm", "--purge", other]) == 0
    out = capsys.readouterr().out
    assert f"purged {other}" in out and "runs.jsonl compacted" in out and "bytes freed" in out
    assert grep(store, marker) == []  # (the script's blob, this file, is kept: the other runs share it)
    # the run deleted earlier: its record is gone from runs.jsonl and .prev, its blobs wait for the grace period
    assert not [p for p in grep(store, gone) if not p.startswith(str(store / "objects"))]


def test_gc_command_erases_unreferenced_blobs(runs, capsys):
    store, kept, deleted, gone = runs
    nbtrack.delete_run(deleted, store=store)
    old = time.time() - 3600
    for path in (store / "objects").glob("??/*"):
        os.utime(path, (old, old))
    assert main(["--store", str(store), "gc"]) == 0
    out = capsys.readouterr().out
    assert "deleted" in out and "1 run(s) kept" in out
    assert grep(store, gone) == [] and nbtrack.get_run(kept, store=store).params["note"] == "kept"


def test_gc_is_listed_in_help():
    out = subprocess.run([sys.executable, "-m", "nbtrack.cli", "--help"], capture_output=True, text=True).stdout
    assert " gc " in out or "gc," in out or "\n    gc" in out
