"""capture/file_reads.py: the files a tracked cell opened for reading, hashed at its end."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from nbtrack.capture import file_reads
from nbtrack.data.fingerprint import fingerprint
from nbtrack.run import Run


def test_reads_under_the_working_directory_are_hashed_and_the_rest_is_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "sub" / "in.csv", index=False)
    np.save(tmp_path / "arr.npy", np.arange(3))
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "runs.jsonl").write_text("{}\n")
    outside = tmp_path.parent / f"outside-{os.getpid()}.txt"
    outside.write_text("x")
    (tmp_path / "scratch.txt").write_text("old")
    try:
        file_reads.begin(skip=(str(tmp_path / "store"),))
        pd.read_csv(os.path.join("sub", "in.csv"))  # relative: resolved against the cwd
        np.load("arr.npy")
        open(tmp_path / "store" / "runs.jsonl").close()
        outside.read_text()
        (tmp_path / "scratch.txt").write_text("new")  # written by the cell, then read back: not an input
        (tmp_path / "scratch.txt").read_text()
        found = file_reads.end()
    finally:
        outside.unlink()
    assert found == {
        "sub/in.csv": fingerprint(tmp_path / "sub" / "in.csv").hash,
        "arr.npy": fingerprint(tmp_path / "arr.npy").hash,
    }
    open(tmp_path / "arr.npy", "rb").close()  # outside a tracked cell: nothing noted
    assert file_reads.end() == {}


def test_the_list_is_bounded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(file_reads.MAX_FILES + 20):
        (tmp_path / f"f{i}.txt").write_text(str(i))
    file_reads.begin()
    for i in range(file_reads.MAX_FILES + 20):
        (tmp_path / f"f{i}.txt").read_text()
    assert len(file_reads.end()) == file_reads.MAX_FILES


def test_the_run_field_round_trips_and_is_absent_when_empty():
    run = Run(id="r1", files_read={"data/x.csv": "ab" * 16})
    assert Run.from_doc(run.to_doc()).files_read == {"data/x.csv": "ab" * 16}
    assert "files_read" not in Run(id="r2").to_doc()
