"""Output files: what a run wrote under its working directory, hashed like file inputs, small ones kept."""

from __future__ import annotations

import os
import time
import warnings

import pytest

import nbtrack
from nbtrack.capture.outputs import fs_now, scan
from nbtrack.data.file_cache import hash_file
from nbtrack.data.fingerprint import fingerprint
from nbtrack.errors import NbtrackWarning


def touch_old(path, data="old"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    old = time.time() - 3600
    os.utime(path, (old, old))


def test_small_outputs_are_kept_and_big_ones_only_hashed(store_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_OUTPUT_KEEP_BYTES", "100")
    touch_old(tmp_path / "before.txt")
    touch_old(tmp_path / "rewritten.csv")
    with nbtrack.track(environment=False) as run:
        (tmp_path / "small.json").write_text('{"acc": 0.9}')
        (tmp_path / "out" / "deep").mkdir(parents=True)
        (tmp_path / "out" / "deep" / "big.bin").write_bytes(b"b" * 1000)
        (tmp_path / "rewritten.csv").write_text("a\n1\n")
    back = nbtrack.get_run(run.id)
    assert sorted(back.outputs) == ["out/deep/big.bin", "rewritten.csv", "small.json"]
    small = back.outputs["small.json"]
    assert small["size"] == 12 and back.store.get_blob(small["kept"]) == b'{"acc": 0.9}'
    big = back.outputs["out/deep/big.bin"]
    assert big == {"hash": hash_file(tmp_path / "out" / "deep" / "big.bin"), "size": 1000, "kept": None}
    # the hash is the one a file input gets, so a later run reading it can be linked back
    assert small["hash"] == fingerprint(tmp_path / "small.json").hash == hash_file(tmp_path / "small.json")
    assert back.outputs["rewritten.csv"]["hash"] == fingerprint(tmp_path / "rewritten.csv").hash


def test_tool_folders_the_store_links_and_excludes_are_not_outputs(store_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_OUTPUTS_EXCLUDE", "*.log, scratch/")
    with nbtrack.track(environment=False) as run:
        for rel in [".git/index", "node_modules/x/y.js", "__pycache__/m.pyc", ".ipynb_checkpoints/a.ipynb"]:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text("x")
        (tmp_path / "env" / "lib").mkdir(parents=True)
        (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr")
        (tmp_path / "env" / "lib" / "site.py").write_text("x")
        (tmp_path / "scratch").mkdir()
        (tmp_path / "scratch" / "tmp.txt").write_text("x")
        (tmp_path / "train.log").write_text("x")
        (tmp_path / "result.txt").write_text("x")
        (tmp_path / "link.txt").symlink_to(tmp_path / "result.txt")
    outputs = nbtrack.get_run(run.id).outputs
    assert list(outputs) == ["result.txt"]  # the store (tmp_path/store) was written too, and is not an output


def test_the_running_notebook_is_not_an_output(ip, tmp_path, monkeypatch):
    notebook = tmp_path / "exp.ipynb"
    notebook.write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    ip.run_cell(
        "%%track -q\nimport pathlib\npathlib.Path('exp.ipynb').write_text('{}')\npathlib.Path('o.txt').write_text('o')"
    )
    run = nbtrack.get_run(nbtrack.runs()["run_id"].iloc[0])
    assert list(run.outputs) == ["o.txt"]


def test_no_outputs_per_cell_and_globally(ip, tmp_path, monkeypatch):
    ip.run_cell("%%track -q --no-outputs\nopen('a.txt', 'w').close()")
    ip.run_cell("%%track -q\nopen('b.txt', 'w').close()")
    monkeypatch.setenv("NBTRACK_OUTPUTS", "off")
    ip.run_cell("%%track -q\nopen('c.txt', 'w').close()")
    ids = list(nbtrack.runs()["run_id"])[::-1]
    assert [list(nbtrack.get_run(i).outputs) for i in ids] == [[], ["b.txt"], []]


def test_scan_is_bounded_and_says_so(store_dir, tmp_path, monkeypatch):
    for i in range(30):
        (tmp_path / f"f{i:02}.txt").write_text("x")
    found = scan(tmp_path, 0.0)
    assert len(found.files) == 30 and found.truncated is None and found.files[0][0] == "f00.txt"
    monkeypatch.setenv("NBTRACK_OUTPUTS_MAX_ENTRIES", "10")
    assert scan(tmp_path, 0.0).truncated == "10 entries"
    told = "may be incomplete: the walk stopped after 10 entries"
    with pytest.warns(NbtrackWarning, match=told), nbtrack.track(environment=False):
        pass
    with warnings.catch_warnings(), nbtrack.track(environment=False):  # said once per folder and process
        warnings.simplefilter("error")


def test_files_older_than_the_start_are_not_outputs(tmp_path):
    touch_old(tmp_path / "a.txt")
    for i in range(200):  # a file written right after the start never looks older than it (time.time() can)
        since = fs_now()
        (tmp_path / f"b{i}.txt").write_text("new")
        assert [rel for rel, _, _ in scan(tmp_path, since).files] == [f"b{i}.txt"]
        os.utime(tmp_path / f"b{i}.txt", (since - 3600, since - 3600))


def test_a_file_stamped_around_the_start_counts_only_if_the_cell_opened_it(tmp_path):
    since, started = 1000.0, 1000.004  # the coarse clock, then time.time(): files stamped in between are ambiguous
    for name, stamp in (("before.txt", 1000.0), ("during.txt", 1000.002), ("later.txt", 1000.5), ("old.txt", 999.0)):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (stamp, stamp))
    found = [rel for rel, _, _ in scan(tmp_path, since, started=started).files]
    assert found == ["before.txt", "during.txt", "later.txt"]  # no record of the cell's opens: all kept
    written = {os.path.join(str(tmp_path), "during.txt")}  # later.txt: a subprocess wrote it, no record needed
    found = [rel for rel, _, _ in scan(tmp_path, since, written=written, started=started).files]
    assert found == ["during.txt", "later.txt"]


def test_back_to_back_cells_do_not_claim_each_others_files(ip, tmp_path, monkeypatch):
    for i in range(30):  # the second cell starts within the first one's clock tick most of the time
        ip.run_cell(f"%%track -q --no-outputs\nopen('a{i}.txt', 'w').close()")
        ip.run_cell(f"%%track -q\nopen('b{i}.txt', 'w').close()")
        assert list(nbtrack.get_run(nbtrack.runs()["run_id"].iloc[0]).outputs) == [f"b{i}.txt"]
