"""``nbtrack demo``: the bundled quickstart runs headless in a real kernel and its runs are listed."""

from __future__ import annotations

import json

import nbformat
import pytest

import nbtrack
from nbtrack import demo
from nbtrack.cli import main


def test_the_quickstart_notebook_ships_with_the_package():
    path = demo.quickstart_path()
    assert path.name == "quickstart.ipynb" and path.is_file()
    assert any("%%track" in cell.source for cell in nbformat.read(path, as_version=4).cells)


def test_progress_is_one_plain_line_per_cell_off_a_terminal(capsys):
    show = demo._progress(2)
    show(0, "import nbtrack")
    show(1, "%%track --name baseline " + "x" * 100)
    show(2, "done")
    err = capsys.readouterr().err.splitlines()
    assert err == ["  cell 1/2: import nbtrack", "  cell 2/2: " + ("%%track --name baseline " + "x" * 100)[:60]]


@pytest.mark.kernel
def test_demo_runs_the_quickstart_and_lists_its_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    out_dir = tmp_path / "demo"
    assert main(["demo", "--output", str(out_dir)]) == 0
    out = capsys.readouterr().out
    store = out_dir / ".nbtrack"
    frame = nbtrack.runs(store=store)
    assert len(frame) >= 2 and set(frame["status"]) == {"finished", "failed"}  # one cell fails on purpose
    assert f"{len(frame)} runs recorded in {store}" in out and frame["run_id"].iloc[0] in out
    executed = json.loads((out_dir / "quickstart.ipynb").read_text())
    code_cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code_cells)  # every cell ran, and the notebook was saved
